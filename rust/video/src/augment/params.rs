//! The random parameters of one view ([`ViewParams`], with its colour
//! jitter [`Jitter`]) and the drivers that apply them to a view's frames.

use super::blur::gaussian_kernel;
use super::colour::ColourOp;
use super::config::blur_radius;
use super::flip::{flip_horizontal, flip_planes};
use super::view::{process_view, FrameWork};
use crate::convert::CropBox;

/// ColorJitter's factors of one view and the order of its adjustments.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Jitter {
    pub brightness: f32,
    pub contrast: f32,
    pub saturation: f32,
    pub hue: f32,
    /// Order of the adjustments: a permutation of [`ColourOp::ADJUSTMENTS`].
    pub order: [ColourOp; 4],
}

impl Jitter {
    /// A checked jitter: see [`Jitter::validate`].
    pub fn new(
        brightness: f32,
        contrast: f32,
        saturation: f32,
        hue: f32,
        order: [ColourOp; 4],
    ) -> Result<Self, String> {
        let jitter = Jitter {
            brightness,
            contrast,
            saturation,
            hue,
            order,
        };
        jitter.validate()?;
        Ok(jitter)
    }

    /// [`Jitter::new`] with the order given as [`ColourOp`] codes (0
    /// brightness, 1 contrast, 2 saturation, 3 hue), as the Python binding
    /// takes it; an unknown code is refused.
    pub fn from_codes(
        brightness: f32,
        contrast: f32,
        saturation: f32,
        hue: f32,
        order: [u8; 4],
    ) -> Result<Self, String> {
        let mut ops = ColourOp::ADJUSTMENTS;
        for (op, &code) in ops.iter_mut().zip(&order) {
            *op = ColourOp::try_from(code).map_err(|e| {
                format!("jitter order must be a permutation of 0, 1, 2, 3, got {order:?}: {e}")
            })?;
        }
        Self::new(brightness, contrast, saturation, hue, ops)
    }

    /// The order is a permutation of the four adjustments (so no grayscale
    /// in it), the factors are at least 0 and the hue shift at most half a
    /// turn either way (the adjustments are defined for these).
    pub fn validate(&self) -> Result<(), String> {
        let codes = self.order.map(|op| op as u8);
        let mut sorted = codes;
        sorted.sort_unstable();
        if sorted != ColourOp::ADJUSTMENTS.map(|op| op as u8) {
            return Err(format!(
                "jitter order must be a permutation of 0, 1, 2, 3, got {codes:?}"
            ));
        }
        if !(self.brightness >= 0.0
            && self.contrast >= 0.0
            && self.saturation >= 0.0
            && self.hue.abs() <= 0.5)
        {
            return Err("jitter factors must be >= 0 and |hue| <= 0.5".into());
        }
        Ok(())
    }
}

/// The random parameters of one view, shared by all its frames.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViewParams {
    pub crop: CropBox,
    pub flip: bool,
    pub jitter: Option<Jitter>,
    pub grayscale: bool,
    pub blur_sigma: Option<f32>,
    pub blur_radius: usize,
}

impl ViewParams {
    /// Parameters that only resize the whole frame.
    pub fn identity(width: u32, height: u32, size: u32) -> Self {
        ViewParams {
            crop: CropBox {
                x: 0,
                y: 0,
                w: width,
                h: height,
            },
            flip: false,
            jitter: None,
            grayscale: false,
            blur_sigma: None,
            blur_radius: blur_radius(size),
        }
    }

    /// The jitter is valid ([`Jitter::validate`]), the blur's sigma positive
    /// and finite, and its radius at least 1.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(jitter) = &self.jitter {
            jitter.validate()?;
        }
        if self.blur_sigma.is_some_and(|s| !(s > 0.0 && s.is_finite())) || self.blur_radius == 0 {
            return Err("blur_sigma must be positive and blur_radius at least 1".into());
        }
        Ok(())
    }

    /// MoCo v2's kernel spans a tenth of the image; taps beyond 3 sigma (under
    /// 0.3% of the weight) are dropped, which matters for small sigma.
    pub(super) fn blur_kernel(&self, size: usize) -> Option<Vec<f32>> {
        self.blur_sigma.map(|sigma| {
            let radius = self
                .blur_radius
                .min((3.0 * sigma).ceil() as usize)
                .min(size.saturating_sub(1))
                .max(1);
            gaussian_kernel(sigma, radius)
        })
    }

    /// Apply flip, colour jitter, grayscale and blur to a view: `frames` holds
    /// T frames of `size` x `size` RGB24, already cropped and scaled.
    pub fn apply(&self, frames: &mut [u8], size: usize) {
        let frame_len = size * size * 3;
        debug_assert_eq!(frames.len() % frame_len, 0);
        if self.flip {
            for frame in frames.chunks_exact_mut(frame_len) {
                flip_horizontal(frame, size);
            }
        }
        if self.jitter.is_none() && !self.grayscale && self.blur_sigma.is_none() {
            return;
        }
        let kernel = self.blur_kernel(size);
        let work = FrameWork {
            jitter: self.jitter,
            grayscale: self.grayscale,
            kernel: kernel.as_deref(),
            size,
        };
        process_view(&work, frames, None);
    }

    /// Apply the view's augmentation to frames given as planar YUV 4:4:4
    /// (`yuv`: T frames of Y, U, V planes of size x size, BT.601, full or
    /// limited range), writing T RGB24 frames to `out`. The conversion to RGB
    /// happens in the float stage, fused with the colour operations. The flip
    /// is done on the YUV planes: `mirrored` says they already are
    /// (`RgbConverter::crop_scale_yuv444` mirrors as it copies), otherwise
    /// `yuv` is flipped here, in place.
    pub fn apply_yuv(
        &self,
        yuv: &mut [u8],
        mirrored: bool,
        full_range: bool,
        out: &mut [u8],
        size: usize,
    ) {
        debug_assert_eq!(yuv.len(), out.len());
        if self.flip && !mirrored {
            flip_planes(yuv, size);
        }
        let kernel = self.blur_kernel(size);
        let work = FrameWork {
            jitter: self.jitter,
            grayscale: self.grayscale,
            kernel: kernel.as_deref(),
            size,
        };
        process_view(&work, out, Some((&*yuv, full_range)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ColourOp::*;

    #[test]
    fn contrast_pivots_on_the_mean_grey_of_each_frame() {
        // Two frames, dark and bright, each half black and half at its level;
        // contrast 0 maps every pixel of a frame to that frame's mean grey.
        let size = 2;
        let mut frames = [[0u8; 6], [80u8; 6], [0u8; 6], [255u8; 6]].concat();
        let mut p = ViewParams::identity(2, 2, 2);
        p.jitter = Some(Jitter {
            brightness: 1.0,
            contrast: 0.0,
            saturation: 1.0,
            hue: 0.0,
            order: [Contrast, Brightness, Saturation, Hue],
        });
        p.apply(&mut frames, size);
        assert!(frames[..12].iter().all(|&v| v == 40), "{frames:?}");
        // torchvision's luma weights sum to 0.9999: half of 255 is 127.49.
        assert!(frames[12..].iter().all(|&v| v == 127), "{frames:?}");
    }

    #[test]
    fn flip_mirrors_every_frame() {
        let size = 4;
        let mut frames: Vec<u8> = (0..2 * size * size * 3).map(|i| i as u8).collect();
        let orig = frames.clone();
        let mut p = ViewParams::identity(4, 4, 4);
        p.flip = true;
        p.apply(&mut frames, size);
        for t in 0..2 {
            for y in 0..size {
                for x in 0..size {
                    for c in 0..3 {
                        let a = ((t * size + y) * size + x) * 3 + c;
                        let b = ((t * size + y) * size + (size - 1 - x)) * 3 + c;
                        assert_eq!(frames[a], orig[b]);
                    }
                }
            }
        }
    }

    #[test]
    fn jitter_refuses_unknown_codes_repeats_grayscale_and_bad_factors() {
        let ok = Jitter::from_codes(1.2, 0.8, 1.0, -0.1, [3, 1, 0, 2]).unwrap();
        assert_eq!(ok.order, [Hue, Contrast, Brightness, Saturation]);
        for order in [[0, 1, 2, 7], [0, 1, 2, 255], [0, 0, 1, 2], [0, 1, 2, 4]] {
            let err = Jitter::from_codes(1.0, 1.0, 1.0, 0.0, order).unwrap_err();
            assert!(
                err.starts_with(&format!(
                    "jitter order must be a permutation of 0, 1, 2, 3, got {order:?}"
                )),
                "{err}"
            );
        }
        let err = Jitter::from_codes(1.0, 1.0, 1.0, 0.0, [0, 1, 2, 7]).unwrap_err();
        assert!(err.contains("7 is no colour operation"), "{err}");
        let adjustments = ColourOp::ADJUSTMENTS;
        for (b, c, s, h) in [
            (-0.1, 1.0, 1.0, 0.0),
            (1.0, -0.1, 1.0, 0.0),
            (1.0, 1.0, -0.1, 0.0),
            (1.0, 1.0, 1.0, 0.6),
            (1.0, 1.0, 1.0, -0.6),
            (f32::NAN, 1.0, 1.0, 0.0),
            (1.0, 1.0, 1.0, f32::NAN),
        ] {
            assert_eq!(
                Jitter::new(b, c, s, h, adjustments),
                Err("jitter factors must be >= 0 and |hue| <= 0.5".into())
            );
        }
        assert!(Jitter::new(0.0, 0.0, 0.0, 0.5, adjustments).is_ok());
    }

    #[test]
    fn view_params_refuse_a_bad_blur_or_jitter() {
        let ok = ViewParams::identity(8, 8, 8);
        assert_eq!(ok.validate(), Ok(()));
        let blur_error = Err("blur_sigma must be positive and blur_radius at least 1".into());
        for sigma in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            let p = ViewParams {
                blur_sigma: Some(sigma),
                ..ok
            };
            assert_eq!(p.validate(), blur_error);
        }
        let p = ViewParams {
            blur_radius: 0,
            ..ok
        };
        assert_eq!(p.validate(), blur_error);
        let p = ViewParams {
            jitter: Some(Jitter {
                brightness: 1.0,
                contrast: 1.0,
                saturation: 1.0,
                hue: 0.0,
                order: [Brightness, Contrast, Saturation, Grayscale],
            }),
            ..ok
        };
        assert!(p.validate().unwrap_err().contains("permutation"));
    }
}
