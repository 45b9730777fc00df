//! The slots of the sheet sorted into square buckets, to find the slots
//! inside a window.

/// Slot buckets per window width along each side (see `SlotGrid`).
const BUCKETS_PER_WIDTH: usize = 4;

/// Slots (positions) sorted into square buckets of a quarter of the window
/// width (BUCKETS_PER_WIDTH), so a window touches at most 5 x 5 buckets and
/// holds the 3 x 3 or more in its middle whole: only the slots of the buckets
/// on its rim are tested against its edges.
pub(super) struct SlotGrid {
    /// Side of a bucket in mm.
    bucket: f64,
    n: usize,
    start: Vec<usize>,
    slots: Vec<u32>,
    /// `pos[i]` is the position of `slots[i]`: a bucket's positions are read in sequence.
    pos: Vec<[f64; 2]>,
}

impl SlotGrid {
    pub(super) fn new(positions: &[[f64; 2]], side: f64, width: f64) -> Self {
        let bucket = width / BUCKETS_PER_WIDTH as f64;
        let n = ((side / bucket).ceil() as usize).max(1);
        let grid = Self {
            bucket,
            n,
            start: Vec::new(),
            slots: Vec::new(),
            pos: Vec::new(),
        };
        let cell = |p: [f64; 2]| grid.index(p[1]) * n + grid.index(p[0]);
        let mut count = vec![0usize; n * n + 1];
        for &p in positions {
            count[cell(p) + 1] += 1;
        }
        for i in 0..n * n {
            count[i + 1] += count[i];
        }
        let mut fill = count.clone();
        let mut slots = vec![0u32; positions.len()];
        let mut pos = vec![[0f64; 2]; positions.len()];
        for (s, &p) in positions.iter().enumerate() {
            let c = cell(p);
            slots[fill[c]] = s as u32;
            pos[fill[c]] = p;
            fill[c] += 1;
        }
        Self {
            start: count,
            slots,
            pos,
            ..grid
        }
    }

    /// The bucket row or column of coordinate `v` (clamped to the sheet).
    ///
    /// Division by the bucket side is monotonic, so a slot in bucket i lies
    /// after (before) every coordinate whose bucket is below (above) i: a
    /// bucket strictly between the buckets of a window's edges lies inside
    /// the window, exactly, without testing its slots.
    fn index(&self, v: f64) -> usize {
        ((v.max(0.0) / self.bucket) as usize).min(self.n - 1)
    }

    /// Slots inside [x0, x1) x [y0, y1), in bucket order.
    pub(super) fn query(&self, x0: f64, x1: f64, y0: f64, y1: f64) -> Vec<u32> {
        let (bx0, bx1) = (self.index(x0), self.index(x1));
        let (by0, by1) = (self.index(y0), self.index(y1));
        let mut out = Vec::new();
        for by in by0..=by1 {
            for bx in bx0..=bx1 {
                let b = by * self.n + bx;
                let range = self.start[b]..self.start[b + 1];
                if by0 < by && by < by1 && bx0 < bx && bx < bx1 {
                    out.extend_from_slice(&self.slots[range]);
                    continue;
                }
                // Without branches: every slot is written, and the count
                // advances past it only when it lies inside.
                let mut n = out.len();
                out.resize(n + range.len(), 0);
                let (slots, pos) = (&self.slots[range.clone()], &self.pos[range]);
                #[cfg(target_arch = "x86_64")]
                {
                    use std::arch::x86_64::*;
                    // SAFETY: SSE2 is part of every x86_64 CPU; each load reads
                    // the two values of one position in `pos`.
                    unsafe {
                        let (lo, hi) = (_mm_set_pd(y0, x0), _mm_set_pd(y1, x1));
                        for (&s, p) in slots.iter().zip(pos) {
                            let v = _mm_loadu_pd(p.as_ptr());
                            let inside = _mm_and_pd(_mm_cmpge_pd(v, lo), _mm_cmplt_pd(v, hi));
                            out[n] = s;
                            n += (_mm_movemask_pd(inside) == 3) as usize;
                        }
                    }
                }
                #[cfg(not(target_arch = "x86_64"))]
                for (&s, p) in slots.iter().zip(pos) {
                    out[n] = s;
                    n += ((p[0] >= x0) & (p[0] < x1) & (p[1] >= y0) & (p[1] < y1)) as usize;
                }
                out.truncate(n);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn slot_grid_query_finds_exactly_the_slots_inside() {
        // Positions on a lattice of bucket and window edges (exactly on the
        // edges, and just either side of them) as well as at random, on the
        // sheet's border too; windows at random offsets, partly off the sheet.
        let (side, width) = (5.0, 1.3);
        let bucket = width / BUCKETS_PER_WIDTH as f64;
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        let mut positions: Vec<[f64; 2]> = (0..4000)
            .map(|_| [rng.gen::<f64>() * side, rng.gen::<f64>() * side])
            .collect();
        let edges: Vec<f64> = (0..=(side / bucket) as usize)
            .flat_map(|i| {
                let e = i as f64 * bucket;
                [e, e.next_down(), e.next_up()]
            })
            .chain([0.0, side, 1.7, 1.7 + width])
            .filter(|v| (0.0..=side).contains(v))
            .collect();
        for &x in &edges {
            for &y in edges.iter().step_by(5) {
                positions.push([x, y]);
                positions.push([y, x]);
            }
        }
        let grid = SlotGrid::new(&positions, side, width);
        let mut windows: Vec<(f64, f64)> = (0..300)
            .map(|_| {
                let o = |rng: &mut ChaCha8Rng| rng.gen::<f64>() * (side + width) - width;
                (o(&mut rng), o(&mut rng))
            })
            .collect();
        windows.extend([
            (1.7, 1.7),
            (0.0, 0.0),
            (-0.4, side - 0.5),
            (2.0 * bucket, bucket),
        ]);
        for (x0, y0) in windows {
            let (x1, y1) = (x0 + width, y0 + width);
            let mut found = grid.query(x0, x1, y0, y1);
            found.sort_unstable();
            let expected: Vec<u32> = (0..positions.len() as u32)
                .filter(|&s| {
                    let p = positions[s as usize];
                    p[0] >= x0 && p[0] < x1 && p[1] >= y0 && p[1] < y1
                })
                .collect();
            assert_eq!(found, expected, "window at ({x0}, {y0})");
        }
    }
}
