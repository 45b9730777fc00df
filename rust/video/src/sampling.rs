//! Clip sampling: per video, V views of T frames at stride s, each view from a
//! random time of the same video (rho-MoCo style), deterministic for a seed.

use rand::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClipSpec {
    /// Frames per view (T).
    pub frames: usize,
    /// Distance between consecutive frames of a view, in frames (s).
    pub stride: usize,
    /// Views per video (V).
    pub views: usize,
}

impl ClipSpec {
    /// Frames spanned by one view: (T - 1) s + 1.
    pub fn span(&self) -> usize {
        (self.frames.saturating_sub(1)) * self.stride + 1
    }

    /// Frame indices of a view starting at `start`; a video shorter than the
    /// span repeats its last frame rather than failing.
    pub fn view_indices(&self, start: usize, frame_count: usize) -> Vec<usize> {
        let last = frame_count.saturating_sub(1);
        (0..self.frames)
            .map(|t| (start + t * self.stride).min(last))
            .collect()
    }

    /// Start frames of the V views: uniform over the valid starts, distinct
    /// whenever the video has room for that, so views come from different times.
    pub fn sample_starts<R: Rng>(&self, frame_count: usize, rng: &mut R) -> Vec<usize> {
        let max_start = frame_count.saturating_sub(self.span());
        let distinct_possible = max_start + 1 >= self.views;
        let mut starts: Vec<usize> = Vec::with_capacity(self.views);
        while starts.len() < self.views {
            let s = rng.gen_range(0..=max_start);
            if distinct_possible && starts.contains(&s) {
                continue;
            }
            starts.push(s);
        }
        starts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn views_cover_the_asked_span_inside_the_video() {
        let spec = ClipSpec {
            frames: 16,
            stride: 2,
            views: 2,
        };
        assert_eq!(spec.span(), 31);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..200 {
            let starts = spec.sample_starts(100, &mut rng);
            assert_eq!(starts.len(), 2);
            assert_ne!(starts[0], starts[1]);
            for s in starts {
                let idx = spec.view_indices(s, 100);
                assert_eq!(idx.len(), 16);
                assert!(idx.windows(2).all(|w| w[1] == w[0] + 2));
                assert!(*idx.last().unwrap() < 100);
            }
        }
    }

    #[test]
    fn short_videos_repeat_their_last_frame() {
        let spec = ClipSpec {
            frames: 4,
            stride: 3,
            views: 2,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let starts = spec.sample_starts(5, &mut rng);
        assert_eq!(starts, vec![0, 0]);
        assert_eq!(spec.view_indices(0, 5), vec![0, 3, 4, 4]);
    }

    #[test]
    fn sampling_is_deterministic_for_a_seed() {
        let spec = ClipSpec {
            frames: 8,
            stride: 1,
            views: 3,
        };
        let a = spec.sample_starts(500, &mut ChaCha8Rng::seed_from_u64(3));
        let b = spec.sample_starts(500, &mut ChaCha8Rng::seed_from_u64(3));
        assert_eq!(a, b);
    }
}
