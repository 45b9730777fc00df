//! The colour stage of a view with every value in registers, for the
//! loader's common case: planar YUV 4:4:4 frames, any of the four ColorJitter
//! adjustments in any order, grayscale, no blur (the blur needs whole planes).
//!
//! The chunked path in the parent module runs each adjustment as a loop over
//! a 64-pixel chunk held in memory, dispatched per group of eight pixels, and
//! converts to and from bytes in separate passes; here eight pixels go from
//! YUV bytes through every adjustment to interleaved RGB bytes without
//! leaving registers. Each value is computed with the same operations in the
//! same order as on the chunked path (multiplies and adds kept apart where
//! it keeps them apart, the contrast pivot summed in the same partial sums),
//! so the two agree bit for bit; a test holds them to that.

use std::arch::x86_64::*;

use super::{simd, Jitter, CHUNK};

/// Whether [`view_yuv`] handles this work: a whole number of chunks per
/// frame, and no blur.
pub(super) fn applies(npix: usize, blur: bool) -> bool {
    npix.is_multiple_of(CHUNK) && !blur
}

/// Broadcast constants of the adjustments.
struct Ops<'a> {
    ops: &'a [u8],
    brightness: __m256,
    contrast: __m256,
    contrast_offset: __m256,
    saturation: __m256,
    saturation_rest: __m256,
    hue_s6: __m256,
}

impl<'a> Ops<'a> {
    #[target_feature(enable = "avx2,fma")]
    unsafe fn new(ops: &'a [u8], j: &Jitter, mean: f32) -> Self {
        Ops {
            ops,
            brightness: _mm256_set1_ps(j.brightness),
            contrast: _mm256_set1_ps(j.contrast),
            contrast_offset: _mm256_set1_ps((1.0 - j.contrast) * mean),
            saturation: _mm256_set1_ps(j.saturation),
            saturation_rest: _mm256_set1_ps(1.0 - j.saturation),
            hue_s6: _mm256_set1_ps(j.hue * 6.0),
        }
    }

    /// Apply the operations in order (0 brightness, 1 contrast, 2 saturation,
    /// 3 hue, 4 grayscale), as `apply_op` does.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn apply(&self, r: &mut __m256, g: &mut __m256, b: &mut __m256) {
        for &op in self.ops {
            match op {
                0 => {
                    *r = clamp01(_mm256_mul_ps(*r, self.brightness));
                    *g = clamp01(_mm256_mul_ps(*g, self.brightness));
                    *b = clamp01(_mm256_mul_ps(*b, self.brightness));
                }
                1 => {
                    let (f, o) = (self.contrast, self.contrast_offset);
                    *r = clamp01(_mm256_add_ps(_mm256_mul_ps(*r, f), o));
                    *g = clamp01(_mm256_add_ps(_mm256_mul_ps(*g, f), o));
                    *b = clamp01(_mm256_add_ps(_mm256_mul_ps(*b, f), o));
                }
                2 => {
                    let f = self.saturation;
                    let y = _mm256_mul_ps(self.saturation_rest, luma(*r, *g, *b));
                    *r = clamp01(_mm256_add_ps(_mm256_mul_ps(*r, f), y));
                    *g = clamp01(_mm256_add_ps(_mm256_mul_ps(*g, f), y));
                    *b = clamp01(_mm256_add_ps(_mm256_mul_ps(*b, f), y));
                }
                3 => hue(self.hue_s6, r, g, b),
                _ => {
                    let y = luma(*r, *g, *b);
                    (*r, *g, *b) = (y, y, y);
                }
            }
        }
    }
}

#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn clamp01(v: __m256) -> __m256 {
    _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(1.0))
}

/// `super::luma`: (0.2989 r + 0.587 g) + 0.114 b, unfused.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn luma(r: __m256, g: __m256, b: __m256) -> __m256 {
    _mm256_add_ps(
        _mm256_add_ps(
            _mm256_mul_ps(_mm256_set1_ps(0.2989), r),
            _mm256_mul_ps(_mm256_set1_ps(0.587), g),
        ),
        _mm256_mul_ps(_mm256_set1_ps(0.114), b),
    )
}

/// `super::adjust_hue` on eight pixels (`s6` is the shift in sixths of a
/// turn; a zero shift is filtered out before).
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn hue(s6: __m256, r: &mut __m256, g: &mut __m256, b: &mut __m256) {
    let (rv, gv, bv) = (*r, *g, *b);
    let abs = |v: __m256| _mm256_andnot_ps(_mm256_set1_ps(-0.0), v);
    let maxc = _mm256_max_ps(_mm256_max_ps(rv, gv), bv);
    let minc = _mm256_min_ps(_mm256_min_ps(rv, gv), bv);
    let delta = _mm256_sub_ps(maxc, minc);
    let inv = _mm256_div_ps(
        _mm256_set1_ps(1.0),
        _mm256_max_ps(delta, _mm256_set1_ps(1e-12)),
    );
    let h_r = _mm256_mul_ps(_mm256_sub_ps(gv, bv), inv);
    let h_g = _mm256_add_ps(
        _mm256_mul_ps(_mm256_sub_ps(bv, rv), inv),
        _mm256_set1_ps(2.0),
    );
    let h_b = _mm256_add_ps(
        _mm256_mul_ps(_mm256_sub_ps(rv, gv), inv),
        _mm256_set1_ps(4.0),
    );
    let is_r = _mm256_cmp_ps::<_CMP_EQ_OQ>(maxc, rv);
    let is_g = _mm256_cmp_ps::<_CMP_EQ_OQ>(maxc, gv);
    let h = _mm256_blendv_ps(_mm256_blendv_ps(h_b, h_g, is_g), h_r, is_r);
    let h = _mm256_add_ps(h, s6);
    let six = _mm256_set1_ps(6.0);
    let below = _mm256_and_ps(_mm256_cmp_ps::<_CMP_LT_OQ>(h, _mm256_setzero_ps()), six);
    let above = _mm256_and_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(h, six), six);
    let h = _mm256_sub_ps(_mm256_add_ps(h, below), above);
    let (one, two) = (_mm256_set1_ps(1.0), _mm256_set1_ps(2.0));
    let red = clamp01(_mm256_sub_ps(
        abs(_mm256_sub_ps(h, _mm256_set1_ps(3.0))),
        one,
    ));
    let green = clamp01(_mm256_sub_ps(two, abs(_mm256_sub_ps(h, two))));
    let blue = clamp01(_mm256_sub_ps(
        two,
        abs(_mm256_sub_ps(h, _mm256_set1_ps(4.0))),
    ));
    *r = _mm256_add_ps(minc, _mm256_mul_ps(delta, red));
    *g = _mm256_add_ps(minc, _mm256_mul_ps(delta, green));
    *b = _mm256_add_ps(minc, _mm256_mul_ps(delta, blue));
}

/// The colour stage of one view: `yuv` holds its T frames as Y, U, V planes
/// of `npix` pixels each, `out` receives T frames of interleaved RGB bytes.
/// `first` runs before the contrast pivot is known, `second` (starting with
/// contrast, if there is contrast) after it; `planes` is the float frame
/// buffer between the two passes.
///
/// # Safety
/// The processor must have AVX2 and FMA, and `applies(npix, ..)` must hold.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn view_yuv(
    yuv: &[u8],
    full_range: bool,
    out: &mut [u8],
    npix: usize,
    jitter: &Jitter,
    first: &[u8],
    second: Option<&[u8]>,
    planes: &mut Vec<f32>,
) {
    debug_assert!(npix.is_multiple_of(CHUNK));
    debug_assert_eq!(yuv.len(), out.len());
    let k = simd::YuvConstants::new(full_range);
    let first = Ops::new(first, jitter, 0.0);
    if second.is_some() {
        planes.resize(3 * npix, 0.0);
    }
    for (frame, px) in yuv
        .chunks_exact(3 * npix)
        .zip(out.chunks_exact_mut(3 * npix))
    {
        let (y, u, v) = (
            frame.as_ptr(),
            frame.as_ptr().add(npix),
            frame.as_ptr().add(2 * npix),
        );
        let Some(second) = second else {
            for i in (0..npix).step_by(8) {
                let (mut r, mut g, mut b) = k.rgb8(y.add(i), u.add(i), v.add(i));
                first.apply(&mut r, &mut g, &mut b);
                simd::store8(r, g, b, &mut px[3 * i..]);
            }
            continue;
        };
        // First pass: to the float planes, summing the luma for the pivot in
        // the chunked path's partial sums (eight lanes, one chunk at a time).
        let (pr, pg, pb) = (
            planes.as_mut_ptr(),
            planes.as_mut_ptr().add(npix),
            planes.as_mut_ptr().add(2 * npix),
        );
        let mut sum = 0f64;
        for start in (0..npix).step_by(CHUNK) {
            let mut acc = _mm256_setzero_ps();
            for i in (start..start + CHUNK).step_by(8) {
                let (mut r, mut g, mut b) = k.rgb8(y.add(i), u.add(i), v.add(i));
                first.apply(&mut r, &mut g, &mut b);
                acc = _mm256_add_ps(acc, luma(r, g, b));
                _mm256_storeu_ps(pr.add(i), r);
                _mm256_storeu_ps(pg.add(i), g);
                _mm256_storeu_ps(pb.add(i), b);
            }
            let mut lanes = [0f32; 8];
            _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
            sum += lanes.iter().sum::<f32>() as f64;
        }
        let rest = Ops::new(second, jitter, (sum / npix as f64) as f32);
        for i in (0..npix).step_by(8) {
            let mut r = _mm256_loadu_ps(pr.add(i));
            let mut g = _mm256_loadu_ps(pg.add(i));
            let mut b = _mm256_loadu_ps(pb.add(i));
            rest.apply(&mut r, &mut g, &mut b);
            simd::store8(r, g, b, &mut px[3 * i..]);
        }
    }
}
