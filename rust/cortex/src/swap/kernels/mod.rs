//! The window matrices: the correlations r and proximities D among the units
//! of one window, built by the portable, AVX2 or AVX-512 kernel.

use super::responses::NormalisedResponses;
use super::scratch::{aligned, leading_dimension, sized, Scratch};

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
pub(super) mod avx512;
mod portable;

/// Which kernels a window runs: plain Rust, AVX2 with FMA, or AVX-512 for the
/// correlation and proximity matrices (with the AVX2 step). The AVX2 and
/// AVX-512 kernels compute every entry with the same operations in the same
/// order, so their results are identical; the plain kernels round differently.
pub(super) type Isa = u8;
pub(super) const PORTABLE: Isa = 0;
pub(super) const AVX2: Isa = 1;
pub(super) const AVX512: Isa = 2;

/// The kernels windows run: the widest this CPU runs, or the narrower set
/// `STDANN_ISA` names (see `stdann_isa`).
pub(super) fn best_isa() -> Isa {
    isa_of(stdann_isa::Isa::selected())
}

pub(super) fn isa_of(isa: stdann_isa::Isa) -> Isa {
    match isa {
        stdann_isa::Isa::Portable => PORTABLE,
        stdann_isa::Isa::Avx2 => AVX2,
        stdann_isa::Isa::Avx512 => AVX512,
    }
}

/// Rows of a block of the window matrices computed at once (twelve
/// accumulators of eight lanes: enough independent sums to keep both FMA
/// ports busy, with registers left for the loads).
const MR: usize = 12;
/// Columns of a block: one eight-lane vector.
const NR: usize = 8;
/// The window matrices are square with a side padded to a multiple of this,
/// so that blocks of MR rows and NR columns tile them without remainder.
pub(super) const PAD: usize = 24;
/// The side of a block of the AVX-512 kernel, and what its matrices are padded to.
const SIDE_512: usize = 16;

/// Fill the scratch buffers with the window's correlation matrix r (local
/// unit order) and proximity matrix D (slot order), both padded to a side
/// `kp`, a multiple of PAD, or of 16 on the AVX-512 path, in rows `ld` values
/// apart (`leading_dimension`); returns (kp, ld).
///
/// r and D are symmetric: only the blocks that reach the diagonal or lie above
/// it are computed, and each block is written both where it lies and
/// transposed. Entries are computed as the dot product over stimuli in order
/// (one fused multiply-add per stimulus in the SIMD path) and
/// 1 / (sqrt(dx dx + dy dy) + 1), so an entry and its mirror are bit-for-bit
/// equal. The padding rows of responses and coordinates are zeros, so padding
/// entries of r are 0 and those of D are finite.
pub(super) fn window_matrices<const ISA: Isa>(
    z: &NormalisedResponses,
    positions: &[[f64; 2]],
    slots: &[u32],
    units: &[u32],
    scratch: &mut Scratch,
) -> (usize, usize) {
    let k = slots.len();
    let pad = if ISA == AVX512 { SIDE_512 } else { PAD };
    let kp = k.div_ceil(pad) * pad;
    let stride = z.stride;
    let Scratch {
        zw,
        zt,
        za,
        r,
        d,
        xs,
        ys,
        ..
    } = scratch;
    let zw = sized(zw, kp * stride);
    // Window coordinates are relative to its first slot, so the differences of
    // millimetre values keep full precision in float32.
    let origin = positions[slots[0] as usize];
    xs.clear();
    ys.clear();
    // The units' rows and the slots' positions are scattered over the whole
    // block (mostly out of the cache): ask for those a few units ahead so
    // that their fetches overlap.
    for (a, (&u, &s)) in units.iter().zip(slots).enumerate() {
        if let (Some(&u_ahead), Some(&s_ahead)) = (units.get(a + 16), slots.get(a + 16)) {
            prefetch(z.row(u_ahead as usize));
            prefetch(std::slice::from_ref(&positions[s_ahead as usize]));
        }
        zw[a * stride..(a + 1) * stride].copy_from_slice(z.row(u as usize));
        xs.push((positions[s as usize][0] - origin[0]) as f32);
        ys.push((positions[s as usize][1] - origin[1]) as f32);
    }
    zw[k * stride..].fill(0.0);
    xs.resize(kp, 0.0);
    ys.resize(kp, 0.0);
    let zt = sized(zt, kp * stride);
    let ld = leading_dimension(kp);
    let r = aligned(r, kp * ld);
    let d = aligned(d, kp * ld);
    #[cfg(target_arch = "x86_64")]
    if ISA == AVX512 {
        debug_assert!(stdann_isa::Isa::Avx512.available());
        // SAFETY: ISA is AVX512 only on the path `optimise_window` takes
        // after the CPU reported AVX-512F, AVX2 and FMA (checked again in
        // debug builds); the buffers have the sizes the function checks.
        unsafe { avx512::window_matrices(zw, zt, xs, ys, stride, kp, ld, r, d) };
        return (kp, ld);
    }
    #[cfg(target_arch = "x86_64")]
    if ISA == AVX2 {
        debug_assert!(
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        );
        let za = sized(za, kp * stride);
        // SAFETY: ISA is AVX2 only on paths taken after the CPU reported
        // AVX2 and FMA (checked again in debug builds); the buffers have the
        // sizes the function checks.
        unsafe { avx2::window_matrices(zw, zt, za, xs, ys, stride, kp, ld, r, d) };
        return (kp, ld);
    }
    portable::window_matrices(zw, zt, xs, ys, stride, kp, ld, r, d);
    (kp, ld)
}

/// Ask for the cache lines of `values` to be brought into the first-level cache.
#[inline(always)]
fn prefetch<T>(values: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        let (start, bytes) = (values.as_ptr() as *const i8, std::mem::size_of_val(values));
        // Every 64 bytes from the start, and the last byte.
        for offset in (0..bytes).step_by(64).chain(bytes.checked_sub(1)) {
            // SAFETY: a prefetch is only a hint: it never faults and changes
            // no memory, and the address is inside a live slice.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    start.add(offset),
                )
            };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = values;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::swap::proximity;
    use crate::swap::test_sheets::smooth_map;
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn window_matrices_are_right_for_any_size_with_reused_buffers() {
        // Sizes around the 8-, 12- and 24-wide blocks, from large windows to
        // small ones and back: no stale entry of a previous window may leak.
        let (resp, pos) = smooth_map(23, 8.0, 20);
        let z = NormalisedResponses::new(&resp, 20, 529, false).unwrap();
        let mut ran = Vec::new();
        for isa in stdann_isa::Isa::ALL {
            if !isa.available() {
                eprintln!("skipped {}: this processor cannot run it", isa.name());
                continue;
            }
            window_matrices_are_right_with(isa_of(isa), &z, &pos);
            ran.push(isa);
        }
        assert_eq!(
            ran.last(),
            Some(&stdann_isa::Isa::detected()),
            "ran {ran:?}"
        );
    }

    fn window_matrices_are_right_with(isa: Isa, z: &NormalisedResponses, pos: &[[f64; 2]]) {
        let mut scratch = Scratch::default();
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        for k in [500usize, 2, 3, 7, 8, 9, 12, 13, 23, 24, 25, 49, 500, 5] {
            let mut slots: Vec<u32> = (0..529).collect();
            slots.shuffle(&mut rng);
            slots.truncate(k);
            let mut units = slots.clone();
            units.shuffle(&mut rng);
            let side = match isa {
                AVX512 => window_matrices::<AVX512>(z, pos, &slots, &units, &mut scratch),
                AVX2 => window_matrices::<AVX2>(z, pos, &slots, &units, &mut scratch),
                _ => window_matrices::<PORTABLE>(z, pos, &slots, &units, &mut scratch),
            };
            let kp = side.0;
            let (sr, sd) = scratch.matrices(side);
            for a in 0..k {
                for c in 0..k {
                    let r = sr[a * kp + c];
                    let expected = z.correlation(units[a] as usize, units[c] as usize);
                    assert!((r - expected).abs() < 1e-5, "k {k}: r[{a}][{c}]");
                    let d = sd[a * kp + c];
                    let expected = proximity(pos[slots[a] as usize], pos[slots[c] as usize]);
                    assert!((d - expected).abs() < 1e-6, "k {k}: D[{a}][{c}]");
                }
                for c in k..kp {
                    assert_eq!(sr[a * kp + c], 0.0, "k {k}: padding r[{a}][{c}]");
                }
            }
        }
    }
}
