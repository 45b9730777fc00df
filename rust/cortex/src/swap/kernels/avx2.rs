//! AVX2 and FMA kernels of `window_matrices`. Every function here must only
//! run on a CPU that reported both features (the intrinsics are compiled for
//! them); the raw-pointer helpers state the extents their callers guarantee.

use super::{MR, NR, PAD};
use std::arch::x86_64::*;

/// Transpose of eight rows of eight lanes: lane l of output j is lane j of row l.
#[inline(always)]
pub(super) unsafe fn transpose8(v: &[__m256; 8]) -> [__m256; 8] {
    // SAFETY: register shuffles only; the caller runs with AVX2.
    let t0 = _mm256_unpacklo_ps(v[0], v[1]);
    let t1 = _mm256_unpackhi_ps(v[0], v[1]);
    let t2 = _mm256_unpacklo_ps(v[2], v[3]);
    let t3 = _mm256_unpackhi_ps(v[2], v[3]);
    let t4 = _mm256_unpacklo_ps(v[4], v[5]);
    let t5 = _mm256_unpackhi_ps(v[4], v[5]);
    let t6 = _mm256_unpacklo_ps(v[6], v[7]);
    let t7 = _mm256_unpackhi_ps(v[6], v[7]);
    let s0 = _mm256_shuffle_ps(t0, t2, 0x44);
    let s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    let s2 = _mm256_shuffle_ps(t1, t3, 0x44);
    let s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    let s4 = _mm256_shuffle_ps(t4, t6, 0x44);
    let s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    let s6 = _mm256_shuffle_ps(t5, t7, 0x44);
    let s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    [
        _mm256_permute2f128_ps(s0, s4, 0x20),
        _mm256_permute2f128_ps(s1, s5, 0x20),
        _mm256_permute2f128_ps(s2, s6, 0x20),
        _mm256_permute2f128_ps(s3, s7, 0x20),
        _mm256_permute2f128_ps(s0, s4, 0x31),
        _mm256_permute2f128_ps(s1, s5, 0x31),
        _mm256_permute2f128_ps(s2, s6, 0x31),
        _mm256_permute2f128_ps(s3, s7, 0x31),
    ]
}

/// Write the transpose of twelve rows of eight lanes: `m[j * ld + i]` is
/// lane j of row i.
///
/// The caller guarantees that `m` has 7 * ld + MR values.
#[inline(always)]
unsafe fn store_transposed(m: *mut f32, ld: usize, v: &[__m256; MR]) {
    // SAFETY: the stores reach m[j * ld + i] for j < NR = 8 and i < MR,
    // inside the extent the caller guarantees.
    let t = transpose8(&[v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]]);
    for (j, &col) in t.iter().enumerate() {
        _mm256_storeu_ps(m.add(j * ld), col);
    }
    // Rows 8..12: four rows of eight lanes, two 4 x 4 transposes.
    let t0 = _mm256_unpacklo_ps(v[8], v[9]);
    let t1 = _mm256_unpackhi_ps(v[8], v[9]);
    let t2 = _mm256_unpacklo_ps(v[10], v[11]);
    let t3 = _mm256_unpackhi_ps(v[10], v[11]);
    let cols = [
        _mm256_shuffle_ps(t0, t2, 0x44),
        _mm256_shuffle_ps(t0, t2, 0xEE),
        _mm256_shuffle_ps(t1, t3, 0x44),
        _mm256_shuffle_ps(t1, t3, 0xEE),
    ];
    for (j, &col) in cols.iter().enumerate() {
        _mm_storeu_ps(m.add(j * ld + 8), _mm256_castps256_ps128(col));
        _mm_storeu_ps(m.add((j + 4) * ld + 8), _mm256_extractf128_ps(col, 1));
    }
}

/// Write an MR x NR block at rows a0.., columns c0.. of the `kp` x `kp`
/// matrix at `m` (rows `ld` values apart), and its transpose at rows
/// c0.., columns a0...
///
/// The caller guarantees a0 + MR <= kp, c0 + NR <= kp, kp <= ld and
/// kp * ld values at `m`.
#[inline(always)]
unsafe fn store_block(m: *mut f32, ld: usize, a0: usize, c0: usize, v: &[__m256; MR]) {
    // SAFETY: rows a0 + i < kp, columns c0 + l < kp <= ld, and the
    // transposed block at c0 * ld + a0 ends at (c0 + 7) * ld + a0 + MR <= kp * ld.
    for (i, &row) in v.iter().enumerate() {
        _mm256_storeu_ps(m.add((a0 + i) * ld + c0), row);
    }
    store_transposed(m.add(c0 * ld + a0), ld, v);
}

/// The AVX2 body of `window_matrices`.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn window_matrices(
    zw: &[f32],
    zt: &mut [f32],
    za: &mut [f32],
    xs: &[f32],
    ys: &[f32],
    stride: usize,
    kp: usize,
    ld: usize,
    r: &mut [f32],
    d: &mut [f32],
) {
    assert!(kp.is_multiple_of(PAD) && stride.is_multiple_of(8) && ld >= kp);
    assert!(zw.len() == kp * stride && zt.len() == kp * stride && za.len() == kp * stride);
    assert!(xs.len() == kp && ys.len() == kp && r.len() == kp * ld && d.len() == kp * ld);
    // SAFETY: with the lengths asserted above, every offset below stays
    // inside its buffer: units (rows of zw) c0 + l < kp and a0 + i < kp,
    // stimuli s0 + 7 < stride; panel c0 / NR of zt and block a0 / MR of za
    // span stride * NR and stride * MR values from c0 * stride and
    // a0 * stride; blocks of r and D are those of `store_block`, with
    // a0 + MR <= kp and c0 + NR <= kp since kp is a multiple of both;
    // prefetched addresses are entries (row, column) with both below kp
    // (and a prefetch never faults).
    // Panels of Z^T by 8 x 8 transposes: panel p, row s is the responses
    // of units p*NR.. to stimulus s.
    let (src, dst) = (zw.as_ptr(), zt.as_mut_ptr());
    for c0 in (0..kp).step_by(NR) {
        for s0 in (0..stride).step_by(8) {
            let mut rows = [_mm256_setzero_ps(); 8];
            for (l, row) in rows.iter_mut().enumerate() {
                *row = _mm256_loadu_ps(src.add((c0 + l) * stride + s0));
            }
            for (j, &col) in transpose8(&rows).iter().enumerate() {
                _mm256_storeu_ps(dst.add(c0 * stride + (s0 + j) * NR), col);
            }
        }
    }
    // Blocks of MR units: block b, row s is the responses of units
    // b*MR.. to stimulus s, so that the kernel broadcasts consecutive values.
    for a0 in (0..kp).step_by(MR) {
        for s0 in (0..stride).step_by(8) {
            let mut rows = [_mm256_setzero_ps(); MR];
            for (i, row) in rows.iter_mut().enumerate() {
                *row = _mm256_loadu_ps(src.add((a0 + i) * stride + s0));
            }
            store_transposed(za.as_mut_ptr().add(a0 * stride + s0 * MR), MR, &rows);
        }
    }
    let (za, zt, rp, dp) = (za.as_ptr(), zt.as_ptr(), r.as_mut_ptr(), d.as_mut_ptr());
    let one = _mm256_set1_ps(1.0);
    // Blocks are visited in bands of TILE rows, column by column inside
    // a band, so that the lines a block stores to where it lies are
    // still in the first-level cache when the next column completes them.
    // Stores that miss that cache are what the set-up waits on most.
    const TILE: usize = 4 * MR;
    for t0 in (0..kp).step_by(TILE) {
        let t1 = (t0 + TILE).min(kp);
        for c0 in ((t0 / NR) * NR..kp).step_by(NR) {
            let panel = zt.add(c0 * stride);
            for a0 in (t0..t1).step_by(MR) {
                if c0 < (a0 / NR) * NR {
                    continue;
                }
                let block = za.add(a0 * stride);
                // The lines the next block of this row band stores to
                // (where it lies and transposed) are asked for now, so
                // that its stores do not wait on them.
                if c0 + NR < kp {
                    let next = c0 + NR;
                    for i in 0..MR {
                        let at = (a0 + i) * ld + next;
                        _mm_prefetch::<_MM_HINT_T0>(rp.add(at) as *const i8);
                        _mm_prefetch::<_MM_HINT_T0>(dp.add(at) as *const i8);
                    }
                    for j in 0..NR {
                        for at in [(next + j) * ld + a0, (next + j) * ld + a0 + MR - 1] {
                            _mm_prefetch::<_MM_HINT_T0>(rp.add(at) as *const i8);
                            _mm_prefetch::<_MM_HINT_T0>(dp.add(at) as *const i8);
                        }
                    }
                }
                let mut acc = [_mm256_setzero_ps(); MR];
                for s in 0..stride {
                    let y = _mm256_loadu_ps(panel.add(s * NR));
                    for (i, sum) in acc.iter_mut().enumerate() {
                        let x = _mm256_set1_ps(*block.add(s * MR + i));
                        *sum = _mm256_fmadd_ps(x, y, *sum);
                    }
                }
                // D of the same block, from the coordinates; the divider
                // (square root and division) runs while the out-of-order
                // core goes on to the next block's multiply-adds.
                let mut prox = [_mm256_setzero_ps(); MR];
                let (xc, yc) = (
                    _mm256_loadu_ps(xs.as_ptr().add(c0)),
                    _mm256_loadu_ps(ys.as_ptr().add(c0)),
                );
                for (i, out) in prox.iter_mut().enumerate() {
                    let dx = _mm256_sub_ps(xc, _mm256_set1_ps(*xs.get_unchecked(a0 + i)));
                    let dy = _mm256_sub_ps(yc, _mm256_set1_ps(*ys.get_unchecked(a0 + i)));
                    let q = _mm256_add_ps(_mm256_mul_ps(dx, dx), _mm256_mul_ps(dy, dy));
                    *out = _mm256_div_ps(one, _mm256_add_ps(_mm256_sqrt_ps(q), one));
                }
                store_block(rp, ld, a0, c0, &acc);
                store_block(dp, ld, a0, c0, &prox);
            }
        }
    }
}
