//! The augmentation recipe ([`AugmentConfig`]): its presets, its checks and
//! the drawing of one view's random parameters from it.

use rand::seq::SliceRandom;
use rand::Rng;

use super::colour::ColourOp;
use super::params::{Jitter, ViewParams};
use crate::convert::CropBox;

#[derive(Clone, Debug, PartialEq)]
pub struct AugmentConfig {
    /// Output side in pixels (square).
    pub size: u32,
    /// Crop area as a fraction of the frame area.
    pub scale: (f64, f64),
    /// Crop aspect ratio (width / height) range.
    pub ratio: (f64, f64),
    pub flip_p: f64,
    pub jitter_p: f64,
    pub brightness: f64,
    pub contrast: f64,
    pub saturation: f64,
    pub hue: f64,
    pub grayscale_p: f64,
    pub blur_p: f64,
    pub blur_sigma: (f64, f64),
}

impl Default for AugmentConfig {
    /// MoCo v2 at 112 x 112.
    fn default() -> Self {
        AugmentConfig::moco_v2(112)
    }
}

impl AugmentConfig {
    /// MoCo v2's augmentation recipe (CVRL applies it per clip, as here) at
    /// `size` x `size`: the Python loader's `MOCO_V2_AUGMENT`.
    pub fn moco_v2(size: u32) -> Self {
        AugmentConfig {
            size,
            scale: (0.2, 1.0),
            ratio: (3.0 / 4.0, 4.0 / 3.0),
            flip_p: 0.5,
            jitter_p: 0.8,
            brightness: 0.4,
            contrast: 0.4,
            saturation: 0.4,
            hue: 0.1,
            grayscale_p: 0.2,
            blur_p: 0.5,
            blur_sigma: (0.1, 2.0),
        }
    }

    /// No augmentation: the whole frame resized to `size` (the Python
    /// loader's `NO_AUGMENT`).
    pub fn none(size: u32) -> Self {
        AugmentConfig {
            size,
            scale: (1.0, 1.0),
            ratio: (0.0, f64::INFINITY),
            flip_p: 0.0,
            jitter_p: 0.0,
            brightness: 0.0,
            contrast: 0.0,
            saturation: 0.0,
            hue: 0.0,
            grayscale_p: 0.0,
            blur_p: 0.0,
            blur_sigma: (0.1, 2.0),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        let in_unit = |p: f64| (0.0..=1.0).contains(&p);
        if self.size == 0 || self.size > 4096 {
            return Err(format!("size must be in 1..=4096, got {}", self.size));
        }
        if !(self.scale.0 > 0.0 && self.scale.0 <= self.scale.1 && self.scale.1 <= 1.0) {
            return Err(format!(
                "scale must satisfy 0 < lo <= hi <= 1, got {:?}",
                self.scale
            ));
        }
        if !(self.ratio.0 >= 0.0 && self.ratio.0 <= self.ratio.1) {
            return Err(format!(
                "ratio must satisfy 0 <= lo <= hi, got {:?}",
                self.ratio
            ));
        }
        for (name, p) in [
            ("flip_p", self.flip_p),
            ("jitter_p", self.jitter_p),
            ("grayscale_p", self.grayscale_p),
            ("blur_p", self.blur_p),
        ] {
            if !in_unit(p) {
                return Err(format!("{name} must be a probability, got {p}"));
            }
        }
        for (name, v) in [
            ("brightness", self.brightness),
            ("contrast", self.contrast),
            ("saturation", self.saturation),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("{name} must be in [0, 1], got {v}"));
            }
        }
        if !(0.0..=0.5).contains(&self.hue) {
            return Err(format!("hue must be in [0, 0.5], got {}", self.hue));
        }
        if !(self.blur_sigma.0 > 0.0 && self.blur_sigma.0 <= self.blur_sigma.1) {
            return Err(format!(
                "blur_sigma must satisfy 0 < lo <= hi, got {:?}",
                self.blur_sigma
            ));
        }
        Ok(())
    }

    /// Draw the parameters of one view of a `width` x `height` video.
    pub fn sample<R: Rng>(&self, width: u32, height: u32, rng: &mut R) -> ViewParams {
        let crop = self.sample_crop(width, height, rng);
        let flip = rng.gen::<f64>() < self.flip_p;
        let jitter = if rng.gen::<f64>() < self.jitter_p {
            let mut factor = |amount: f64| {
                if amount > 0.0 {
                    rng.gen_range((1.0 - amount).max(0.0)..=1.0 + amount)
                } else {
                    1.0
                }
            };
            let brightness = factor(self.brightness);
            let contrast = factor(self.contrast);
            let saturation = factor(self.saturation);
            let hue = if self.hue > 0.0 {
                rng.gen_range(-self.hue..=self.hue)
            } else {
                0.0
            };
            let mut order = ColourOp::ADJUSTMENTS;
            order.shuffle(rng);
            Some(Jitter {
                brightness: brightness as f32,
                contrast: contrast as f32,
                saturation: saturation as f32,
                hue: hue as f32,
                order,
            })
        } else {
            None
        };
        let grayscale = rng.gen::<f64>() < self.grayscale_p;
        let blur_sigma = if rng.gen::<f64>() < self.blur_p {
            Some(rng.gen_range(self.blur_sigma.0..=self.blur_sigma.1) as f32)
        } else {
            None
        };
        ViewParams {
            crop,
            flip,
            jitter,
            grayscale,
            blur_sigma,
            blur_radius: blur_radius(self.size),
        }
    }

    /// torchvision's RandomResizedCrop.get_params: ten tries at a box of the
    /// drawn area and aspect ratio, else a central crop of clamped aspect.
    fn sample_crop<R: Rng>(&self, width: u32, height: u32, rng: &mut R) -> CropBox {
        let (w_f, h_f) = (width as f64, height as f64);
        let area = w_f * h_f;
        let (log_lo, log_hi) = (self.ratio.0.max(1e-9).ln(), self.ratio.1.min(1e9).ln());
        for _ in 0..10 {
            let target = area * rng.gen_range(self.scale.0..=self.scale.1);
            let aspect = if log_hi > log_lo {
                rng.gen_range(log_lo..=log_hi).exp()
            } else {
                log_lo.exp()
            };
            let w = (target * aspect).sqrt().round() as u32;
            let h = (target / aspect).sqrt().round() as u32;
            if w > 0 && w <= width && h > 0 && h <= height {
                let x = rng.gen_range(0..=width - w);
                let y = rng.gen_range(0..=height - h);
                return CropBox { x, y, w, h };
            }
        }
        let in_ratio = w_f / h_f;
        let (w, h) = if in_ratio < self.ratio.0 {
            (
                width,
                ((w_f / self.ratio.0).round() as u32).clamp(1, height),
            )
        } else if in_ratio > self.ratio.1 {
            (
                ((h_f * self.ratio.1).round() as u32).clamp(1, width),
                height,
            )
        } else {
            (width, height)
        };
        CropBox {
            x: (width - w) / 2,
            y: (height - h) / 2,
            w,
            h,
        }
    }
}

/// MoCo v2 blurs with a kernel of about a tenth of the image side (23 at 224).
pub(super) fn blur_radius(size: u32) -> usize {
    let k = ((size as f64 * 0.1) as usize) | 1;
    (k / 2).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn crops_lie_inside_the_frame_with_configured_area_and_ratio() {
        let cfg = AugmentConfig::default();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let (w, h) = (320u32, 240u32);
        let mut in_range = 0;
        for _ in 0..2000 {
            let c = cfg.sample_crop(w, h, &mut rng);
            assert!(c.w >= 1 && c.h >= 1 && c.x + c.w <= w && c.y + c.h <= h);
            let frac = (c.w * c.h) as f64 / (w * h) as f64;
            let ratio = c.w as f64 / c.h as f64;
            if (0.18..=1.01).contains(&frac) && (0.72..=1.36).contains(&ratio) {
                in_range += 1;
            }
        }
        assert!(in_range > 1980, "{in_range}");
    }

    #[test]
    fn probabilities_match_the_configuration() {
        let cfg = AugmentConfig::default();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let n = 20000;
        let (mut flips, mut jit, mut gray, mut blur) = (0, 0, 0, 0);
        for _ in 0..n {
            let p = cfg.sample(320, 240, &mut rng);
            flips += p.flip as usize;
            jit += p.jitter.is_some() as usize;
            gray += p.grayscale as usize;
            blur += p.blur_sigma.is_some() as usize;
            if let Some(j) = p.jitter {
                assert!((0.6..=1.4).contains(&j.brightness));
                assert!((-0.1..=0.1).contains(&j.hue));
                let mut o = j.order.map(|op| op as u8);
                o.sort();
                assert_eq!(o, [0, 1, 2, 3]);
            }
        }
        let frac = |k: usize| k as f64 / n as f64;
        assert!((frac(flips) - 0.5).abs() < 0.02);
        assert!((frac(jit) - 0.8).abs() < 0.02);
        assert!((frac(gray) - 0.2).abs() < 0.02);
        assert!((frac(blur) - 0.5).abs() < 0.02);
    }

    #[test]
    fn presets_are_valid_and_default_is_moco_v2_at_112() {
        assert_eq!(AugmentConfig::default(), AugmentConfig::moco_v2(112));
        for size in [1, 112, 224] {
            assert_eq!(AugmentConfig::moco_v2(size).validate(), Ok(()));
            assert_eq!(AugmentConfig::none(size).validate(), Ok(()));
        }
        // No augmentation draws the whole frame and nothing else.
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let p = AugmentConfig::none(112).sample(320, 240, &mut rng);
        assert_eq!(p, ViewParams::identity(320, 240, 112));
    }
}
