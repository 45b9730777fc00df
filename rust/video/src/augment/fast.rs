//! The colour stage of a view with every value in registers, for the
//! loader's common case: planar YUV 4:4:4 frames, any of the four ColorJitter
//! adjustments in any order, grayscale, no blur (the blur needs whole planes).
//!
//! The chunked path in [`super::view`] runs each adjustment as a loop over
//! a 64-pixel chunk held in memory, dispatched per group of eight pixels, and
//! converts to and from bytes in separate passes; here a vector of pixels
//! goes from YUV bytes through every adjustment to interleaved RGB bytes
//! without leaving registers. Each value is computed with the same operations
//! in the same order as on the chunked path (multiplies and adds kept apart
//! where it keeps them apart, the contrast pivot summed in the same eight
//! partial sums), so the two agree bit for bit; the test
//! `view::tests::register_path_equals_the_chunked_path_bit_for_bit` holds
//! them to that. The operations' reference definitions are in
//! [`super::colour`], the conversion from YUV is shared with the chunked path
//! (`simd::load_chunk_yuv` calls [`Yuv`]).
//!
//! The kernel is written once over [`Lanes`] and compiled twice: eight
//! pixels per vector with AVX2, sixteen with AVX-512 (where the conversions
//! to and from bytes take half the shuffles per pixel).

use std::arch::x86_64::*;

use super::colour::ColourOp;
use super::params::Jitter;
use super::pixels::{yuv_range, CHUNK};
use super::simd;

/// Whether [`view_yuv`] handles this work: a whole number of chunks per
/// frame, and no blur.
pub(super) fn applies(npix: usize, blur: bool) -> bool {
    npix.is_multiple_of(CHUNK) && !blur
}

/// The colour stage of one view: `yuv` holds its T frames as Y, U, V planes
/// of `npix` pixels each, `out` receives T frames of interleaved RGB bytes.
/// `first` runs before the contrast pivot is known, `second` (starting with
/// contrast, if there is contrast) after it; `planes` is the float frame
/// buffer between the two passes. Runs with AVX-512 where `allow_avx512`
/// says so (the selected kernel set) and the processor has it.
///
/// # Safety
/// The processor must have AVX2 and FMA, and `applies(npix, ..)` must hold
/// (checked: a violation panics rather than reading out of bounds).
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn view_yuv(
    yuv: &[u8],
    full_range: bool,
    out: &mut [u8],
    npix: usize,
    jitter: &Jitter,
    first: &[ColourOp],
    second: Option<&[ColourOp]>,
    planes: &mut Vec<f32>,
    allow_avx512: bool,
) {
    let avx512 =
        allow_avx512 && is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw");
    // SAFETY: AVX-512F/BW were detected just above; AVX2 and FMA are the
    // caller's promise; `applies` is passed on unchanged.
    if avx512 {
        view_yuv_avx512(yuv, full_range, out, npix, jitter, first, second, planes);
    } else {
        view_yuv_avx2(yuv, full_range, out, npix, jitter, first, second, planes);
    }
}

#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn view_yuv_avx2(
    yuv: &[u8],
    full_range: bool,
    out: &mut [u8],
    npix: usize,
    jitter: &Jitter,
    first: &[ColourOp],
    second: Option<&[ColourOp]>,
    planes: &mut Vec<f32>,
) {
    view_yuv_with::<Avx2>(yuv, full_range, out, npix, jitter, first, second, planes);
}

#[target_feature(enable = "avx2,fma,avx512f,avx512bw")]
#[allow(clippy::too_many_arguments)]
unsafe fn view_yuv_avx512(
    yuv: &[u8],
    full_range: bool,
    out: &mut [u8],
    npix: usize,
    jitter: &Jitter,
    first: &[ColourOp],
    second: Option<&[ColourOp]>,
    planes: &mut Vec<f32>,
) {
    view_yuv_with::<Avx512>(yuv, full_range, out, npix, jitter, first, second, planes);
}

/// The vector operations the kernel needs. Every method is inlined into the
/// `target_feature` function that instantiates the kernel.
///
/// # Safety
/// Every method needs the processor features of its implementation (AVX2
/// and FMA; AVX-512F/BW as well for [`Avx512`]). `load`, `store` and `bytes`
/// read or write `N` values at the pointer, which must be valid for them;
/// `store_rgb` checks that `out` holds 3N bytes.
pub(super) trait Lanes {
    /// Pixels per vector (8 or 16).
    const N: usize;
    type F: Copy;
    unsafe fn splat(v: f32) -> Self::F;
    unsafe fn add(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn sub(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn mul(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn div(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn min(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn max(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn abs(a: Self::F) -> Self::F;
    /// a * b + c, fused.
    unsafe fn fmadd(a: Self::F, b: Self::F, c: Self::F) -> Self::F;
    /// Where x == y, then; elsewhere, otherwise.
    unsafe fn select_eq(x: Self::F, y: Self::F, then: Self::F, otherwise: Self::F) -> Self::F;
    /// Where x < y, v; elsewhere 0.
    unsafe fn where_lt(x: Self::F, y: Self::F, v: Self::F) -> Self::F;
    /// Where x >= y, v; elsewhere 0.
    unsafe fn where_ge(x: Self::F, y: Self::F, v: Self::F) -> Self::F;
    unsafe fn load(p: *const f32) -> Self::F;
    unsafe fn store(p: *mut f32, v: Self::F);
    /// N bytes to floats.
    unsafe fn bytes(p: *const u8) -> Self::F;
    /// N pixels to 3N interleaved RGB bytes at the start of `out`, as
    /// `simd::store8` rounds them.
    unsafe fn store_rgb(r: Self::F, g: Self::F, b: Self::F, out: &mut [u8]);
    /// Add the N values to eight partial sums, eight at a time in order.
    unsafe fn accumulate(acc: __m256, v: Self::F) -> __m256;
}

#[derive(Clone, Copy)]
pub(super) struct Avx2;

impl Lanes for Avx2 {
    const N: usize = 8;
    type F = __m256;
    #[inline(always)]
    unsafe fn splat(v: f32) -> __m256 {
        _mm256_set1_ps(v)
    }
    #[inline(always)]
    unsafe fn add(a: __m256, b: __m256) -> __m256 {
        _mm256_add_ps(a, b)
    }
    #[inline(always)]
    unsafe fn sub(a: __m256, b: __m256) -> __m256 {
        _mm256_sub_ps(a, b)
    }
    #[inline(always)]
    unsafe fn mul(a: __m256, b: __m256) -> __m256 {
        _mm256_mul_ps(a, b)
    }
    #[inline(always)]
    unsafe fn div(a: __m256, b: __m256) -> __m256 {
        _mm256_div_ps(a, b)
    }
    #[inline(always)]
    unsafe fn min(a: __m256, b: __m256) -> __m256 {
        _mm256_min_ps(a, b)
    }
    #[inline(always)]
    unsafe fn max(a: __m256, b: __m256) -> __m256 {
        _mm256_max_ps(a, b)
    }
    #[inline(always)]
    unsafe fn abs(a: __m256) -> __m256 {
        _mm256_andnot_ps(_mm256_set1_ps(-0.0), a)
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m256, b: __m256, c: __m256) -> __m256 {
        _mm256_fmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn select_eq(x: __m256, y: __m256, then: __m256, otherwise: __m256) -> __m256 {
        _mm256_blendv_ps(otherwise, then, _mm256_cmp_ps::<_CMP_EQ_OQ>(x, y))
    }
    #[inline(always)]
    unsafe fn where_lt(x: __m256, y: __m256, v: __m256) -> __m256 {
        _mm256_and_ps(_mm256_cmp_ps::<_CMP_LT_OQ>(x, y), v)
    }
    #[inline(always)]
    unsafe fn where_ge(x: __m256, y: __m256, v: __m256) -> __m256 {
        _mm256_and_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(x, y), v)
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m256 {
        _mm256_loadu_ps(p)
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m256) {
        _mm256_storeu_ps(p, v)
    }
    #[inline(always)]
    unsafe fn bytes(p: *const u8) -> __m256 {
        _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(p as *const __m128i)))
    }
    #[inline(always)]
    unsafe fn store_rgb(r: __m256, g: __m256, b: __m256, out: &mut [u8]) {
        simd::store8(r, g, b, out)
    }
    #[inline(always)]
    unsafe fn accumulate(acc: __m256, v: __m256) -> __m256 {
        _mm256_add_ps(acc, v)
    }
}

#[derive(Clone, Copy)]
struct Avx512;

impl Lanes for Avx512 {
    const N: usize = 16;
    type F = __m512;
    #[inline(always)]
    unsafe fn splat(v: f32) -> __m512 {
        _mm512_set1_ps(v)
    }
    #[inline(always)]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
        _mm512_add_ps(a, b)
    }
    #[inline(always)]
    unsafe fn sub(a: __m512, b: __m512) -> __m512 {
        _mm512_sub_ps(a, b)
    }
    #[inline(always)]
    unsafe fn mul(a: __m512, b: __m512) -> __m512 {
        _mm512_mul_ps(a, b)
    }
    #[inline(always)]
    unsafe fn div(a: __m512, b: __m512) -> __m512 {
        _mm512_div_ps(a, b)
    }
    #[inline(always)]
    unsafe fn min(a: __m512, b: __m512) -> __m512 {
        _mm512_min_ps(a, b)
    }
    #[inline(always)]
    unsafe fn max(a: __m512, b: __m512) -> __m512 {
        _mm512_max_ps(a, b)
    }
    #[inline(always)]
    unsafe fn abs(a: __m512) -> __m512 {
        _mm512_abs_ps(a)
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m512, b: __m512, c: __m512) -> __m512 {
        _mm512_fmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn select_eq(x: __m512, y: __m512, then: __m512, otherwise: __m512) -> __m512 {
        _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_EQ_OQ>(x, y), otherwise, then)
    }
    #[inline(always)]
    unsafe fn where_lt(x: __m512, y: __m512, v: __m512) -> __m512 {
        _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, y), v)
    }
    #[inline(always)]
    unsafe fn where_ge(x: __m512, y: __m512, v: __m512) -> __m512 {
        _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_GE_OQ>(x, y), v)
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        _mm512_loadu_ps(p)
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m512) {
        _mm512_storeu_ps(p, v)
    }
    #[inline(always)]
    unsafe fn bytes(p: *const u8) -> __m512 {
        _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(p as *const __m128i)))
    }
    #[inline(always)]
    unsafe fn store_rgb(r: __m512, g: __m512, b: __m512, out: &mut [u8]) {
        // Checked in release builds too: the stores below are raw. One
        // predictable compare per 48 bytes written.
        assert!(
            out.len() >= 48,
            "store_rgb needs 48 bytes, got {}",
            out.len()
        );
        let to_int = |v| {
            _mm512_cvttps_epi32(_mm512_fmadd_ps(
                v,
                _mm512_set1_ps(255.0),
                _mm512_set1_ps(0.5),
            ))
        };
        // Per 128-bit quarter: R G B B of four pixels (see `simd::store8`,
        // which does the same per half and says why the packs clamp).
        let rg = _mm512_packus_epi32(to_int(r), to_int(g));
        let bb = _mm512_packus_epi32(to_int(b), to_int(b));
        let bytes = _mm512_packus_epi16(rg, bb);
        let quarter: [i8; 16] = [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, -1, -1, -1, -1];
        let order = _mm512_broadcast_i32x4(_mm_loadu_si128(quarter.as_ptr() as *const __m128i));
        let rgb = _mm512_permutexvar_epi32(
            _mm512_setr_epi32(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 15, 15, 15, 15),
            _mm512_shuffle_epi8(bytes, order),
        );
        if out.len() >= 64 {
            _mm512_storeu_si512(out.as_mut_ptr() as *mut __m512i, rgb);
        } else {
            _mm512_mask_storeu_epi32(out.as_mut_ptr() as *mut i32, 0x0fff, rgb);
        }
    }
    #[inline(always)]
    unsafe fn accumulate(acc: __m256, v: __m512) -> __m256 {
        let acc = _mm256_add_ps(acc, _mm512_castps512_ps256(v));
        _mm256_add_ps(
            acc,
            _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v))),
        )
    }
}

/// Broadcast constants of the adjustments.
struct Ops<'a, L: Lanes> {
    ops: &'a [ColourOp],
    brightness: L::F,
    contrast: L::F,
    contrast_offset: L::F,
    saturation: L::F,
    saturation_rest: L::F,
    hue_s6: L::F,
}

impl<'a, L: Lanes> Ops<'a, L> {
    #[inline(always)]
    unsafe fn new(ops: &'a [ColourOp], j: &Jitter, mean: f32) -> Self {
        Ops {
            ops,
            brightness: L::splat(j.brightness),
            contrast: L::splat(j.contrast),
            contrast_offset: L::splat((1.0 - j.contrast) * mean),
            saturation: L::splat(j.saturation),
            saturation_rest: L::splat(1.0 - j.saturation),
            hue_s6: L::splat(j.hue * 6.0),
        }
    }

    /// Apply the operations in order, as `colour::apply_op` does, each with
    /// the same arithmetic as its definition in [`super::colour`].
    #[inline(always)]
    unsafe fn apply(&self, r: &mut L::F, g: &mut L::F, b: &mut L::F) {
        for &op in self.ops {
            match op {
                ColourOp::Brightness => {
                    let f = self.brightness;
                    *r = clamp01::<L>(L::mul(*r, f));
                    *g = clamp01::<L>(L::mul(*g, f));
                    *b = clamp01::<L>(L::mul(*b, f));
                }
                ColourOp::Contrast => {
                    let (f, o) = (self.contrast, self.contrast_offset);
                    *r = clamp01::<L>(L::add(L::mul(*r, f), o));
                    *g = clamp01::<L>(L::add(L::mul(*g, f), o));
                    *b = clamp01::<L>(L::add(L::mul(*b, f), o));
                }
                ColourOp::Saturation => {
                    let f = self.saturation;
                    let y = L::mul(self.saturation_rest, luma::<L>(*r, *g, *b));
                    *r = clamp01::<L>(L::add(L::mul(*r, f), y));
                    *g = clamp01::<L>(L::add(L::mul(*g, f), y));
                    *b = clamp01::<L>(L::add(L::mul(*b, f), y));
                }
                ColourOp::Hue => hue::<L>(self.hue_s6, r, g, b),
                ColourOp::Grayscale => {
                    let y = luma::<L>(*r, *g, *b);
                    (*r, *g, *b) = (y, y, y);
                }
            }
        }
    }
}

#[inline(always)]
unsafe fn clamp01<L: Lanes>(v: L::F) -> L::F {
    L::min(L::max(v, L::splat(0.0)), L::splat(1.0))
}

/// `colour::luma`: (0.2989 r + 0.587 g) + 0.114 b, unfused.
#[inline(always)]
unsafe fn luma<L: Lanes>(r: L::F, g: L::F, b: L::F) -> L::F {
    L::add(
        L::add(L::mul(L::splat(0.2989), r), L::mul(L::splat(0.587), g)),
        L::mul(L::splat(0.114), b),
    )
}

/// `colour::adjust_hue` (`s6` is the shift in sixths of a turn; a zero shift
/// is filtered out before).
#[inline(always)]
unsafe fn hue<L: Lanes>(s6: L::F, r: &mut L::F, g: &mut L::F, b: &mut L::F) {
    let (rv, gv, bv) = (*r, *g, *b);
    let maxc = L::max(L::max(rv, gv), bv);
    let minc = L::min(L::min(rv, gv), bv);
    let delta = L::sub(maxc, minc);
    let inv = L::div(L::splat(1.0), L::max(delta, L::splat(1e-12)));
    let h_r = L::mul(L::sub(gv, bv), inv);
    let h_g = L::add(L::mul(L::sub(bv, rv), inv), L::splat(2.0));
    let h_b = L::add(L::mul(L::sub(rv, gv), inv), L::splat(4.0));
    let h = L::select_eq(maxc, rv, h_r, L::select_eq(maxc, gv, h_g, h_b));
    let h = L::add(h, s6);
    let six = L::splat(6.0);
    let below = L::where_lt(h, L::splat(0.0), six);
    let above = L::where_ge(h, six, six);
    let h = L::sub(L::add(h, below), above);
    let (one, two) = (L::splat(1.0), L::splat(2.0));
    let red = clamp01::<L>(L::sub(L::abs(L::sub(h, L::splat(3.0))), one));
    let green = clamp01::<L>(L::sub(two, L::abs(L::sub(h, two))));
    let blue = clamp01::<L>(L::sub(two, L::abs(L::sub(h, L::splat(4.0)))));
    *r = L::add(minc, L::mul(delta, red));
    *g = L::add(minc, L::mul(delta, green));
    *b = L::add(minc, L::mul(delta, blue));
}

/// YUV bytes to RGB floats in [0, 1]: Y' = Y ys - y0 ys, C' = C cs - 128 cs,
/// then the BT.601 matrix (the chunked path converts with this too, through
/// `simd::load_chunk_yuv`; `pixels::load_chunk_yuv` has the scalar version
/// for the baseline kernel set, held to it within a level by the test
/// `view::tests::portable_and_simd_passes_agree`).
pub(super) struct Yuv<L: Lanes> {
    ys: L::F,
    yoff: L::F,
    cs: L::F,
    coff: L::F,
}

impl<L: Lanes> Yuv<L> {
    #[inline(always)]
    pub(super) unsafe fn new(full_range: bool) -> Self {
        let (y0, ys, cs) = yuv_range(full_range);
        Yuv {
            ys: L::splat(ys),
            yoff: L::splat(-y0 * ys),
            cs: L::splat(cs),
            coff: L::splat(-128.0 * cs),
        }
    }

    #[inline(always)]
    pub(super) unsafe fn rgb(
        &self,
        y: *const u8,
        u: *const u8,
        v: *const u8,
    ) -> (L::F, L::F, L::F) {
        let yy = L::fmadd(L::bytes(y), self.ys, self.yoff);
        let uu = L::fmadd(L::bytes(u), self.cs, self.coff);
        let vv = L::fmadd(L::bytes(v), self.cs, self.coff);
        let red = clamp01::<L>(L::fmadd(L::splat(1.402), vv, yy));
        let green = clamp01::<L>(L::fmadd(
            L::splat(-0.714_136),
            vv,
            L::fmadd(L::splat(-0.344_136), uu, yy),
        ));
        let blue = clamp01::<L>(L::fmadd(L::splat(1.772), uu, yy));
        (red, green, blue)
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn view_yuv_with<L: Lanes>(
    yuv: &[u8],
    full_range: bool,
    out: &mut [u8],
    npix: usize,
    jitter: &Jitter,
    first: &[ColourOp],
    second: Option<&[ColourOp]>,
    planes: &mut Vec<f32>,
) {
    // The pointer arithmetic below steps N pixels at a time up to `npix`:
    // it stays in bounds only for whole vectors (CHUNK is a multiple of N).
    // Once per view, so checked in release builds too.
    assert!(npix.is_multiple_of(CHUNK) && CHUNK.is_multiple_of(L::N));
    debug_assert_eq!(yuv.len(), out.len());
    let k = Yuv::<L>::new(full_range);
    let first = Ops::<L>::new(first, jitter, 0.0);
    if second.is_some() {
        planes.resize(3 * npix, 0.0);
    }
    for (frame, px) in yuv
        .chunks_exact(3 * npix)
        .zip(out.chunks_exact_mut(3 * npix))
    {
        // SAFETY (all pointer arithmetic in this loop): `frame` holds the Y,
        // U and V planes of `npix` bytes each; `planes` holds 3 npix floats
        // when `second` is set; every offset `i` is a multiple of N below
        // `npix`, so each N-wide load and store stays inside its plane.
        let (y, u, v) = (
            frame.as_ptr(),
            frame.as_ptr().add(npix),
            frame.as_ptr().add(2 * npix),
        );
        let Some(second) = second else {
            for i in (0..npix).step_by(L::N) {
                let (mut r, mut g, mut b) = k.rgb(y.add(i), u.add(i), v.add(i));
                first.apply(&mut r, &mut g, &mut b);
                L::store_rgb(r, g, b, &mut px[3 * i..]);
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
            for i in (start..start + CHUNK).step_by(L::N) {
                let (mut r, mut g, mut b) = k.rgb(y.add(i), u.add(i), v.add(i));
                first.apply(&mut r, &mut g, &mut b);
                acc = L::accumulate(acc, luma::<L>(r, g, b));
                L::store(pr.add(i), r);
                L::store(pg.add(i), g);
                L::store(pb.add(i), b);
            }
            let mut lanes = [0f32; 8];
            _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
            sum += lanes.iter().sum::<f32>() as f64;
        }
        let rest = Ops::<L>::new(second, jitter, (sum / npix as f64) as f32);
        for i in (0..npix).step_by(L::N) {
            let mut r = L::load(pr.add(i));
            let mut g = L::load(pg.add(i));
            let mut b = L::load(pb.add(i));
            rest.apply(&mut r, &mut g, &mut b);
            L::store_rgb(r, g, b, &mut px[3 * i..]);
        }
    }
}
