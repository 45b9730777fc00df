//! The steps of one window: proposed swaps of two units, each accepted when it
//! raises G, with the rows of r brought up to date lazily.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::kernels::{best_isa, window_matrices, Isa, PORTABLE};
#[cfg(target_arch = "x86_64")]
use super::kernels::{AVX2, AVX512};
use super::responses::NormalisedResponses;
use super::scratch::{aligned, Scratch, SCRATCH};

/// Swaps whose computed gain is below this are rejected, so that rounding on a
/// neutral swap can never raise the cost.
const MIN_GAIN: f32 = 1e-6;

/// The outcome of optimising one window.
#[derive(Debug, Clone)]
pub struct WindowOutcome {
    /// `order[a]` is the local index (into the window's slots) of the unit now at local slot a.
    pub order: Vec<u32>,
    pub gain: f64,
    pub accepted: u64,
}

/// Run `steps` proposed swaps among the units at `slots`: `units[a]` is the
/// unit at `slots[a]` when the window starts.
pub fn optimise_window(
    z: &NormalisedResponses,
    positions: &[[f64; 2]],
    slots: &[u32],
    units: &[u32],
    steps: u32,
    rng: &mut ChaCha8Rng,
) -> WindowOutcome {
    // The window's scratch buffers are not cleared between windows: a unit
    // list shorter than the slots would read the previous window's rows.
    assert_eq!(units.len(), slots.len(), "one unit per slot");
    match best_isa() {
        // SAFETY: the CPU supports the features the functions are compiled for.
        #[cfg(target_arch = "x86_64")]
        AVX512 => unsafe { optimise_window_avx512(z, positions, slots, units, steps, rng) },
        #[cfg(target_arch = "x86_64")]
        AVX2 => unsafe { optimise_window_avx2(z, positions, slots, units, steps, rng) },
        _ => optimise_window_impl::<PORTABLE>(z, positions, slots, units, steps, rng),
    }
}

/// The same code compiled for AVX2 and FMA, so that the correlation matrix
/// and the O(K) step run eight lanes wide with fused multiply-adds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn optimise_window_avx2(
    z: &NormalisedResponses,
    positions: &[[f64; 2]],
    slots: &[u32],
    units: &[u32],
    steps: u32,
    rng: &mut ChaCha8Rng,
) -> WindowOutcome {
    optimise_window_impl::<AVX2>(z, positions, slots, units, steps, rng)
}

/// The same again with AVX-512 enabled: the correlation and proximity
/// matrices are built in blocks of 16 x 16 (see `kernels::avx512`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn optimise_window_avx512(
    z: &NormalisedResponses,
    positions: &[[f64; 2]],
    slots: &[u32],
    units: &[u32],
    steps: u32,
    rng: &mut ChaCha8Rng,
) -> WindowOutcome {
    optimise_window_impl::<AVX512>(z, positions, slots, units, steps, rng)
}

/// sum_c (ra[c] - rb[c]) (db[c] - da[c]) over rows padded to a multiple of 8.
#[inline(always)]
pub(super) fn step_sum<const ISA: Isa>(ra: &[f32], rb: &[f32], da: &[f32], db: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if ISA >= AVX2 {
        // SAFETY: ISA is AVX2 or more only on paths taken after the CPU
        // reported AVX2 and FMA; step_sum_avx2 asserts that the four
        // rows have the same length, a multiple of 8.
        return unsafe { step_sum_avx2(ra, rb, da, db) };
    }
    let mut acc = [0f32; 8];
    for ((x, y), (p, q)) in ra
        .chunks_exact(8)
        .zip(rb.chunks_exact(8))
        .zip(da.chunks_exact(8).zip(db.chunks_exact(8)))
    {
        for l in 0..8 {
            acc[l] += (x[l] - y[l]) * (q[l] - p[l]);
        }
    }
    acc.iter().sum()
}

/// The step's sum over columns in AVX2: eight accumulators of eight lanes,
/// accumulator j taking columns 64i + 8j.. (and a last partial group of
/// columns in order), then added as a tree. Eight independent chains of
/// fused multiply-adds instead of two: a step waits on this sum before it can
/// decide, and the next step's rows depend on that decision. The AVX-512
/// path runs it too: the same chains at sixteen lanes were no faster.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn step_sum_avx2(ra: &[f32], rb: &[f32], da: &[f32], db: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = ra.len();
    assert!(n.is_multiple_of(8) && rb.len() == n && da.len() == n && db.len() == n);
    // SAFETY: every load reads 8 values from column c with c + 8 <= n, the
    // length of all four rows.
    let term = |c: usize| {
        let dr = _mm256_sub_ps(
            _mm256_loadu_ps(ra.as_ptr().add(c)),
            _mm256_loadu_ps(rb.as_ptr().add(c)),
        );
        let dd = _mm256_sub_ps(
            _mm256_loadu_ps(db.as_ptr().add(c)),
            _mm256_loadu_ps(da.as_ptr().add(c)),
        );
        (dr, dd)
    };
    let mut acc = [_mm256_setzero_ps(); 8];
    let mut c = 0;
    while c + 64 <= n {
        for (j, sum) in acc.iter_mut().enumerate() {
            let (dr, dd) = term(c + 8 * j);
            *sum = _mm256_fmadd_ps(dr, dd, *sum);
        }
        c += 64;
    }
    while c < n {
        let (dr, dd) = term(c);
        let j = (c % 64) / 8;
        acc[j] = _mm256_fmadd_ps(dr, dd, acc[j]);
        c += 8;
    }
    let low = _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[4], acc[6]));
    let high = _mm256_add_ps(_mm256_add_ps(acc[1], acc[3]), _mm256_add_ps(acc[5], acc[7]));
    let mut lanes = [0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_add_ps(low, high));
    lanes.iter().sum()
}

#[inline(always)]
pub(super) fn optimise_window_impl<const ISA: Isa>(
    z: &NormalisedResponses,
    positions: &[[f64; 2]],
    slots: &[u32],
    units: &[u32],
    steps: u32,
    rng: &mut ChaCha8Rng,
) -> WindowOutcome {
    let k = slots.len();
    if k < 2 {
        return WindowOutcome {
            order: (0..k as u32).collect(),
            gain: 0.0,
            accepted: 0,
        };
    }
    let mut order: Vec<u32> = (0..k as u32).collect();
    SCRATCH.with(|cell| {
        let mut scratch = cell.borrow_mut();
        let (kp, ld) = window_matrices::<ISA>(z, positions, slots, units, &mut scratch);
        let Scratch {
            r, d, log, synced, ..
        } = &mut *scratch;
        // D stays in slot order. A row of r must be in slot order when the
        // step reads it, but an accepted swap of slots a and b would move
        // entries a and b of every row (a strided pass over the whole
        // matrix). Instead each row is brought up to date when it is read,
        // by replaying the swaps accepted since it was last read: the entries
        // a step reads are exactly those the eager column swaps would give.
        // Rows never move: the unit at slot a is order[a], and row order[a]
        // holds its correlations. Padding columns never move and stay 0.
        let (r, d) = (aligned(r, kp * ld), &*aligned(d, kp * ld));
        log.clear();
        synced.clear();
        synced.resize(k, 0);
        let mut gain = 0f64;
        let mut accepted = 0u64;
        for _ in 0..steps {
            let a = rng.gen_range(0..k);
            let mut b = rng.gen_range(0..k - 1);
            if b >= a {
                b += 1;
            }
            let (u, v) = (order[a] as usize, order[b] as usize);
            bring_up_to_date(&mut r[u * ld..u * ld + kp], log, &mut synced[u]);
            bring_up_to_date(&mut r[v * ld..v * ld + kp], log, &mut synced[v]);
            let (ra, rb) = (&r[u * ld..u * ld + kp], &r[v * ld..v * ld + kp]);
            let (da, db) = (&d[a * ld..a * ld + kp], &d[b * ld..b * ld + kp]);
            let mut delta = step_sum::<ISA>(ra, rb, da, db);
            // The sum ran over every c; the pair's own terms (c = a, c = b) do
            // not change under the swap and come back out.
            delta -= (ra[a] - rb[a]) * (db[a] - da[a]) + (ra[b] - rb[b]) * (db[b] - da[b]);
            if delta > MIN_GAIN {
                order.swap(a, b);
                log.push((a as u32, b as u32));
                gain += delta as f64;
                accepted += 1;
            }
        }
        WindowOutcome {
            order,
            gain,
            accepted,
        }
    })
}

/// Replay on `row` the column swaps of `log` it has not undergone yet.
///
/// Every entry of `log` is a pair of slots of the window, below `row.len()`
/// (the step loop pushes only those): the swaps go without bounds checks,
/// which were a third of this loop's instructions, and the loop is a tenth
/// of a window's time.
#[inline(always)]
fn bring_up_to_date(row: &mut [f32], log: &[(u32, u32)], synced: &mut u32) {
    let n = row.len();
    let p = row.as_mut_ptr();
    for &(a, b) in &log[*synced as usize..] {
        let (a, b) = (a as usize, b as usize);
        debug_assert!(a < n && b < n);
        // SAFETY: a, b < n, the length of `row` (see above; checked in debug builds).
        unsafe { std::ptr::swap(p.add(a), p.add(b)) };
    }
    *synced = log.len() as u32;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::swap::kernels::{isa_of, AVX2, AVX512};
    use crate::swap::test_sheets::{all_slots, smooth_map};
    use crate::swap::window_gain_objective;
    use rand::seq::SliceRandom;
    use rand::SeedableRng;

    #[test]
    fn swap_gain_equals_brute_force_change_of_objective() {
        let (resp, pos) = smooth_map(6, 3.0, 12);
        let z = NormalisedResponses::new(&resp, 12, 36, false).unwrap();
        let slots = all_slots(36);
        let mut unit_at: Vec<u32> = slots.clone();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        unit_at.shuffle(&mut rng);
        // Run one window with many steps and check the accumulated gain equals
        // the objective computed from scratch before and after.
        let before = window_gain_objective(&z, &pos, &unit_at, &slots);
        let units: Vec<u32> = slots.iter().map(|&s| unit_at[s as usize]).collect();
        let out = optimise_window(&z, &pos, &slots, &units, 2000, &mut rng);
        let mut after_at = unit_at.clone();
        for (a, &s) in slots.iter().enumerate() {
            after_at[s as usize] = units[out.order[a] as usize];
        }
        let after = window_gain_objective(&z, &pos, &after_at, &slots);
        assert!(out.accepted > 0);
        assert!(out.gain > 0.0);
        assert!(
            ((after - before) - out.gain).abs() < 1e-3 * out.gain.max(1.0),
            "gain {} but objective moved {} -> {}",
            out.gain,
            before,
            after
        );
        // Only a permutation: every local index appears once.
        let mut seen = out.order.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..36).collect::<Vec<u32>>());
    }

    #[test]
    fn every_kernel_set_here_keeps_its_gain_equal_to_the_change_of_g() {
        let (resp, pos) = smooth_map(23, 8.0, 20);
        let z = NormalisedResponses::new(&resp, 20, 529, false).unwrap();
        let k = 200;
        let slots: Vec<u32> = (0..k as u32).collect();
        let mut units = slots.clone();
        units.shuffle(&mut ChaCha8Rng::seed_from_u64(4));
        let before = window_gain_objective(&z, &pos, &units, &slots);
        let mut ran = Vec::new();
        for isa in stdann_isa::Isa::ALL {
            if !isa.available() {
                eprintln!("skipped {}: this processor cannot run it", isa.name());
                continue;
            }
            let mut rng = ChaCha8Rng::seed_from_u64(5);
            let out = match isa_of(isa) {
                AVX512 => optimise_window_impl::<AVX512>(&z, &pos, &slots, &units, 3000, &mut rng),
                AVX2 => optimise_window_impl::<AVX2>(&z, &pos, &slots, &units, 3000, &mut rng),
                _ => optimise_window_impl::<PORTABLE>(&z, &pos, &slots, &units, 3000, &mut rng),
            };
            let after_at: Vec<u32> = (0..k).map(|a| units[out.order[a] as usize]).collect();
            let after = window_gain_objective(&z, &pos, &after_at, &slots);
            assert!(out.accepted > 0, "{}", isa.name());
            assert!(
                ((after - before) - out.gain).abs() < 1e-4 * out.gain,
                "{}: gain {} but G moved {}",
                isa.name(),
                out.gain,
                after - before
            );
            ran.push(isa.name());
        }
        eprintln!("ran {ran:?}");
        assert_eq!(ran.last(), Some(&stdann_isa::Isa::detected().name()));
    }

    #[test]
    fn lazily_replayed_swaps_give_what_eager_swaps_give() {
        // The same window run with the rows and columns of r swapped eagerly
        // on every accepted step: the same proposals must be accepted, in the
        // same order, with bit-identical gains.
        let (resp, pos) = smooth_map(9, 3.0, 16);
        let z = NormalisedResponses::new(&resp, 16, 81, false).unwrap();
        let slots: Vec<u32> = (0..81).collect();
        let mut units = slots.clone();
        units.shuffle(&mut ChaCha8Rng::seed_from_u64(3));
        let k = slots.len();
        let mut scratch = Scratch::default();
        let side = window_matrices::<PORTABLE>(&z, &pos, &slots, &units, &mut scratch);
        let kp = side.0;
        let (mut e, d) = scratch.matrices(side);
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut order: Vec<u32> = (0..k as u32).collect();
        let (mut gain, mut accepted) = (0f64, 0u64);
        for _ in 0..4000 {
            let a = rng.gen_range(0..k);
            let mut b = rng.gen_range(0..k - 1);
            if b >= a {
                b += 1;
            }
            let (ra, rb) = (&e[a * kp..(a + 1) * kp], &e[b * kp..(b + 1) * kp]);
            let (da, db) = (&d[a * kp..(a + 1) * kp], &d[b * kp..(b + 1) * kp]);
            let mut delta = step_sum::<PORTABLE>(ra, rb, da, db);
            delta -= (ra[a] - rb[a]) * (db[a] - da[a]) + (ra[b] - rb[b]) * (db[b] - da[b]);
            if delta > MIN_GAIN {
                let (lo, hi) = (a.min(b), a.max(b));
                let (top, bottom) = e.split_at_mut(hi * kp);
                top[lo * kp..(lo + 1) * kp].swap_with_slice(&mut bottom[..kp]);
                for row in e.chunks_exact_mut(kp) {
                    row.swap(a, b);
                }
                order.swap(a, b);
                gain += delta as f64;
                accepted += 1;
            }
        }
        let lazy = optimise_window_impl::<PORTABLE>(
            &z,
            &pos,
            &slots,
            &units,
            4000,
            &mut ChaCha8Rng::seed_from_u64(11),
        );
        assert!(accepted > 100, "{accepted}");
        assert_eq!(lazy.accepted, accepted);
        assert_eq!(lazy.order, order);
        assert_eq!(lazy.gain.to_bits(), gain.to_bits());
    }
}
