//! AVX-512 kernels of `window_matrices`: blocks of 16 x 16 entries, sixteen
//! accumulators of sixteen lanes, twice the work per instruction of the AVX2
//! kernel. Every entry is the same chain of fused multiply-adds over stimuli
//! in order as there, so r and D are bit-for-bit those of the AVX2 kernel.
//! The block loop is that kernel's, written again for 16-lane vectors (the
//! intrinsics are typed by width): a change to one belongs in both, and
//! `avx512_transpose_and_kernels_equal_avx2_bit_for_bit` fails if they part.
//! Every function here must only run on a CPU that reported AVX-512F, AVX2
//! and FMA.

use super::avx2::transpose8;
use std::arch::x86_64::*;

use super::SIDE_512 as W;

/// Transpose of sixteen rows of sixteen lanes: lane l of output j is lane j of row l.
#[inline(always)]
pub(in crate::swap) unsafe fn transpose16(v: &[__m512; W]) -> [__m512; W] {
    // SAFETY: register shuffles only; the caller runs with AVX-512F.
    // Pairs of rows interleaved within 128-bit lanes.
    let mut t = [_mm512_setzero_ps(); W];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
    }
    // u[4g + j], 128-bit lane L: column 4L + j of rows 4g..4g + 4.
    let mut u = [_mm512_setzero_ps(); W];
    for g in 0..4 {
        u[4 * g] = _mm512_shuffle_ps::<0x44>(t[4 * g], t[4 * g + 2]);
        u[4 * g + 1] = _mm512_shuffle_ps::<0xEE>(t[4 * g], t[4 * g + 2]);
        u[4 * g + 2] = _mm512_shuffle_ps::<0x44>(t[4 * g + 1], t[4 * g + 3]);
        u[4 * g + 3] = _mm512_shuffle_ps::<0xEE>(t[4 * g + 1], t[4 * g + 3]);
    }
    // Gather the 128-bit lanes of each column: first within each half
    // of the rows, then across the halves.
    for h in 0..2 {
        for j in 0..4 {
            let (a, b) = (u[8 * h + j], u[8 * h + 4 + j]);
            t[8 * h + j] = _mm512_shuffle_f32x4::<0x88>(a, b);
            t[8 * h + 4 + j] = _mm512_shuffle_f32x4::<0xDD>(a, b);
        }
    }
    let mut out = [_mm512_setzero_ps(); W];
    for j in 0..8 {
        out[j] = _mm512_shuffle_f32x4::<0x88>(t[j], t[8 + j]);
        out[8 + j] = _mm512_shuffle_f32x4::<0xDD>(t[j], t[8 + j]);
    }
    out
}

/// Write a W x W block at rows a0.., columns c0.. of the `kp` x `kp`
/// matrix at `m` (rows `ld` values apart), and its transpose at rows
/// c0.., columns a0...
///
/// The caller guarantees a0 + W <= kp, c0 + W <= kp, kp <= ld and kp * ld
/// values at `m`.
#[inline(always)]
unsafe fn store_block(m: *mut f32, ld: usize, a0: usize, c0: usize, v: &[__m512; W]) {
    // SAFETY: rows a0 + i < kp and c0 + j < kp, columns below kp <= ld.
    for (i, &row) in v.iter().enumerate() {
        _mm512_storeu_ps(m.add((a0 + i) * ld + c0), row);
    }
    for (j, &col) in transpose16(v).iter().enumerate() {
        _mm512_storeu_ps(m.add((c0 + j) * ld + a0), col);
    }
}

/// The AVX-512 body of `window_matrices`; `zt` is filled with panels of
/// W units: panel p, row s holds the responses of units p*W.. to stimulus s.
#[target_feature(enable = "avx512f,avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn window_matrices(
    zw: &[f32],
    zt: &mut [f32],
    xs: &[f32],
    ys: &[f32],
    stride: usize,
    kp: usize,
    ld: usize,
    r: &mut [f32],
    d: &mut [f32],
) {
    assert!(kp.is_multiple_of(W) && stride.is_multiple_of(8) && ld >= kp);
    assert!(zw.len() == kp * stride && zt.len() == kp * stride);
    assert!(xs.len() == kp && ys.len() == kp && r.len() == kp * ld && d.len() == kp * ld);
    // SAFETY: with the lengths asserted above, every offset below stays
    // inside its buffer: units c0 + l < kp, stimuli s0 + j < stride;
    // panel c0 / W of zt spans stride * W values from c0 * stride; blocks
    // of r and D are those of `store_block`, with a0 + W <= kp and
    // c0 + W <= kp since kp is a multiple of W.
    // Panels by 8 x 8 transposes of 8 units x 8 stimuli.
    let (src, dst) = (zw.as_ptr(), zt.as_mut_ptr());
    for c0 in (0..kp).step_by(8) {
        let panel = dst.add((c0 - c0 % W) * stride + c0 % W);
        for s0 in (0..stride).step_by(8) {
            let mut rows = [_mm256_setzero_ps(); 8];
            for (l, row) in rows.iter_mut().enumerate() {
                *row = _mm256_loadu_ps(src.add((c0 + l) * stride + s0));
            }
            for (j, &col) in transpose8(&rows).iter().enumerate() {
                _mm256_storeu_ps(panel.add((s0 + j) * W), col);
            }
        }
    }
    let (zt, rp, dp) = (zt.as_ptr(), r.as_mut_ptr(), d.as_mut_ptr());
    let one = _mm512_set1_ps(1.0);
    // Bands of TILE rows, column by column inside a band, as in the AVX2 kernel.
    const TILE: usize = 4 * W;
    for t0 in (0..kp).step_by(TILE) {
        let t1 = (t0 + TILE).min(kp);
        for c0 in (t0..kp).step_by(W) {
            let panel = zt.add(c0 * stride);
            for a0 in (t0..t1.min(c0 + 1)).step_by(W) {
                let block = zt.add(a0 * stride);
                let mut acc = [_mm512_setzero_ps(); W];
                for s in 0..stride {
                    let y = _mm512_loadu_ps(panel.add(s * W));
                    for (i, sum) in acc.iter_mut().enumerate() {
                        let x = _mm512_set1_ps(*block.add(s * W + i));
                        *sum = _mm512_fmadd_ps(x, y, *sum);
                    }
                }
                let mut prox = [_mm512_setzero_ps(); W];
                let (xc, yc) = (
                    _mm512_loadu_ps(xs.as_ptr().add(c0)),
                    _mm512_loadu_ps(ys.as_ptr().add(c0)),
                );
                for (i, out) in prox.iter_mut().enumerate() {
                    let dx = _mm512_sub_ps(xc, _mm512_set1_ps(*xs.get_unchecked(a0 + i)));
                    let dy = _mm512_sub_ps(yc, _mm512_set1_ps(*ys.get_unchecked(a0 + i)));
                    let q = _mm512_add_ps(_mm512_mul_ps(dx, dx), _mm512_mul_ps(dy, dy));
                    *out = _mm512_div_ps(one, _mm512_add_ps(_mm512_sqrt_ps(q), one));
                }
                store_block(rp, ld, a0, c0, &acc);
                store_block(dp, ld, a0, c0, &prox);
            }
        }
    }
}
