//! The portable kernel of `window_matrices`: plain Rust, for processors
//! without AVX2 and FMA or runs with `STDANN_ISA=portable`. Without fused
//! multiply-adds it rounds differently from the SIMD kernels.

use super::{MR, NR};

/// The portable body of `window_matrices`: panels of Z^T, then blocks of
/// MR x NR entries of r and D, each written where it lies and transposed.
#[allow(clippy::too_many_arguments)]
pub(super) fn window_matrices(
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
    // Panels of Z^T.
    for c in 0..kp {
        let panel = (c - c % NR) * stride;
        for s in 0..stride {
            zt[panel + s * NR + c % NR] = zw[c * stride + s];
        }
    }
    for a0 in (0..kp).step_by(MR) {
        for c0 in ((a0 / NR) * NR..kp).step_by(NR) {
            let panel = &zt[c0 * stride..(c0 + NR) * stride];
            let mut acc = [[0f32; NR]; MR];
            for (s, col) in panel.chunks_exact(NR).enumerate() {
                for (i, acc_row) in acc.iter_mut().enumerate() {
                    let x = zw[(a0 + i) * stride + s];
                    for l in 0..NR {
                        acc_row[l] += x * col[l];
                    }
                }
            }
            let mut prox = [[0f32; NR]; MR];
            for (i, row) in prox.iter_mut().enumerate() {
                let (xa, ya) = (xs[a0 + i], ys[a0 + i]);
                for (l, out) in row.iter_mut().enumerate() {
                    let (dx, dy) = (xs[c0 + l] - xa, ys[c0 + l] - ya);
                    *out = 1.0 / ((dx * dx + dy * dy).sqrt() + 1.0);
                }
            }
            for i in 0..MR {
                for l in 0..NR {
                    let (a, c) = (a0 + i, c0 + l);
                    r[a * ld + c] = acc[i][l];
                    r[c * ld + a] = acc[i][l];
                    d[a * ld + c] = prox[i][l];
                    d[c * ld + a] = prox[i][l];
                }
            }
        }
    }
}
