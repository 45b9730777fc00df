//! Tests that span rooms: the kernels compared with each other, from the
//! window matrices through whole windows of steps.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[cfg(target_arch = "x86_64")]
use super::kernels::{avx512, AVX2, AVX512};
use super::kernels::{window_matrices, PAD, PORTABLE};
use super::scratch::Scratch;
use super::step::optimise_window_impl;
#[cfg(target_arch = "x86_64")]
use super::step::step_sum;
use super::test_sheets::smooth_map;
use super::{proximity, window_gain_objective, NormalisedResponses};

#[test]
fn portable_and_simd_kernels_agree() {
    let (resp, pos) = smooth_map(7, 3.0, 12); // 49 units: k not a multiple of 4, 8 or 16
    let z = NormalisedResponses::new(&resp, 12, 49, false).unwrap();
    let k: usize = 49;
    let slots: Vec<u32> = (0..k as u32).collect();
    // A window whose units are not in slot order: r is built in unit order.
    let mut units = slots.clone();
    units.shuffle(&mut ChaCha8Rng::seed_from_u64(5));
    let mut portable = Scratch::default();
    let side = window_matrices::<PORTABLE>(&z, &pos, &slots, &units, &mut portable);
    let kp = side.0;
    assert!(kp >= k && kp.is_multiple_of(PAD));
    let (pr, pd) = portable.matrices(side);
    for a in 0..kp {
        for c in 0..kp {
            let (r, d) = (pr[a * kp + c], pd[a * kp + c]);
            if a < k && c < k {
                let expected = z.correlation(units[a] as usize, units[c] as usize);
                assert!((r - expected).abs() < 1e-5, "r[{a}][{c}]");
                let expected = proximity(pos[a], pos[c]);
                assert!((d - expected).abs() < 1e-6, "D[{a}][{c}]");
            } else {
                assert_eq!(r, 0.0, "padding r[{a}][{c}]");
                assert!(d.is_finite(), "padding D[{a}][{c}]");
            }
        }
    }
    #[cfg(target_arch = "x86_64")]
    if !stdann_isa::Isa::Avx2.available() {
        eprintln!("skipped the AVX2 comparison: this processor has no AVX2 and FMA");
    } else {
        // Stale values in reused buffers must not leak into the next window.
        let mut simd = Scratch {
            r: vec![f32::NAN; kp * side.1 + 15],
            d: vec![f32::NAN; kp * side.1 + 15],
            ..Scratch::default()
        };
        assert_eq!(
            window_matrices::<AVX2>(&z, &pos, &slots, &units, &mut simd),
            side
        );
        let (sr, sd) = simd.matrices(side);
        for (x, y) in pr.iter().zip(&sr) {
            assert!((x - y).abs() < 1e-5);
        }
        for (x, y) in pd.iter().zip(&sd) {
            assert!((x - y).abs() < 1e-7);
        }
        let rows = |i: usize| &pr[i * kp..(i + 1) * kp];
        let (p, q) = (
            step_sum::<PORTABLE>(rows(1), rows(2), rows(3), rows(4)),
            step_sum::<AVX2>(rows(1), rows(2), rows(3), rows(4)),
        );
        assert!((p - q).abs() < 1e-5);
    }
    // The portable window optimiser keeps its gain equal to the change of G.
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut shuffled = slots.clone();
    shuffled.shuffle(&mut rng);
    let before = window_gain_objective(&z, &pos, &shuffled, &slots);
    let out = optimise_window_impl::<PORTABLE>(&z, &pos, &slots, &shuffled, 3000, &mut rng);
    let after_at: Vec<u32> = (0..k).map(|a| shuffled[out.order[a] as usize]).collect();
    let after = window_gain_objective(&z, &pos, &after_at, &slots);
    assert!(out.gain > 0.0 && ((after - before) - out.gain).abs() < 1e-3 * out.gain);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn avx512_transpose_and_kernels_equal_avx2_bit_for_bit() {
    if !stdann_isa::Isa::Avx512.available() {
        eprintln!("skipped: this processor has no AVX-512F and AVX-512BW, nothing to compare");
        return;
    }
    use std::arch::x86_64::*;
    let values: Vec<f32> = (0..256).map(|i| i as f32).collect();
    let mut out = [0f32; 256];
    // SAFETY: the CPU reported AVX-512F; 16 x 16 values in and out.
    unsafe {
        let rows: [__m512; 16] =
            std::array::from_fn(|i| _mm512_loadu_ps(values.as_ptr().add(16 * i)));
        for (j, col) in avx512::transpose16(&rows).iter().enumerate() {
            _mm512_storeu_ps(out.as_mut_ptr().add(16 * j), *col);
        }
    }
    for i in 0..16 {
        for j in 0..16 {
            assert_eq!(out[16 * j + i], values[16 * i + j], "({i}, {j})");
        }
    }
    let (resp, pos) = smooth_map(23, 8.0, 20);
    let z = NormalisedResponses::new(&resp, 20, 529, false).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (mut wide, mut narrow) = (Scratch::default(), Scratch::default());
    for k in [500usize, 2, 15, 16, 17, 33, 24, 48, 100] {
        let mut slots: Vec<u32> = (0..529).collect();
        slots.shuffle(&mut rng);
        slots.truncate(k);
        let mut units = slots.clone();
        units.shuffle(&mut rng);
        let sw = window_matrices::<AVX512>(&z, &pos, &slots, &units, &mut wide);
        let sn = window_matrices::<AVX2>(&z, &pos, &slots, &units, &mut narrow);
        let (kw, kn) = (sw.0, sn.0);
        assert_eq!(kw % 16, 0);
        let ((wr, wd), (nr, nd)) = (wide.matrices(sw), narrow.matrices(sn));
        for a in 0..k {
            for c in 0..k {
                let (w, n) = (wr[a * kw + c], nr[a * kn + c]);
                assert_eq!(w.to_bits(), n.to_bits(), "k {k}: r[{a}][{c}]");
                let (w, n) = (wd[a * kw + c], nd[a * kn + c]);
                assert_eq!(w.to_bits(), n.to_bits(), "k {k}: D[{a}][{c}]");
            }
            for c in k..kw {
                assert_eq!(wr[a * kw + c], 0.0, "k {k}: padding r[{a}][{c}]");
                assert!(wd[a * kw + c].is_finite(), "k {k}: padding D[{a}][{c}]");
            }
        }
        // Whole windows: the same swaps, in the same order, with the same gain.
        let seed = k as u64;
        let w = optimise_window_impl::<AVX512>(
            &z,
            &pos,
            &slots,
            &units,
            3000,
            &mut ChaCha8Rng::seed_from_u64(seed),
        );
        let n = optimise_window_impl::<AVX2>(
            &z,
            &pos,
            &slots,
            &units,
            3000,
            &mut ChaCha8Rng::seed_from_u64(seed),
        );
        assert_eq!(w.order, n.order, "k {k}");
        assert_eq!(w.gain.to_bits(), n.gain.to_bits(), "k {k}");
        assert_eq!(w.accepted, n.accepted, "k {k}");
    }
}
