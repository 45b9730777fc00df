//! The run: rounds of disjoint windows laid over the sheet at random offsets,
//! optimised in parallel and written back in a fixed order.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::grid::SlotGrid;
use super::responses::NormalisedResponses;
use super::step::{optimise_window, WindowOutcome};
use super::{Progress, SwapConfig, SwapError, SwapOutcome};

/// SplitMix64 finaliser: independent seeds for (seed, round, cell) streams.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn stream(seed: u64, round: u64, cell: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(mix(mix(seed) ^ round) ^ cell))
}

fn check_positions(positions: &[[f64; 2]], side: f64) -> Result<(), SwapError> {
    for (unit, p) in positions.iter().enumerate() {
        let inside = |v: f64| v.is_finite() && (0.0..=side).contains(&v);
        if !inside(p[0]) || !inside(p[1]) {
            return Err(SwapError::OutsideSheet {
                unit,
                x: p[0],
                y: p[1],
                side,
            });
        }
    }
    Ok(())
}

/// Swap-optimise `positions` on `responses` (stimuli x units, row-major).
///
/// `progress` is called between rounds; returning false stops the run after
/// the round in hand, with every finished swap kept.
pub fn swap_optimize(
    responses: &[f32],
    stimuli: usize,
    positions: &[[f64; 2]],
    config: &SwapConfig,
    progress: &mut dyn FnMut(&Progress) -> bool,
) -> Result<SwapOutcome, SwapError> {
    let units = positions.len();
    if stimuli == 0 || !responses.len().is_multiple_of(stimuli) {
        return Err(SwapError::ResponsesShape {
            len: responses.len(),
            stimuli,
            units,
        });
    }
    if responses.len() / stimuli != units {
        return Err(SwapError::PositionCount {
            units: responses.len() / stimuli,
            positions: units,
        });
    }
    let side = config.sheet_side_mm;
    let width = config.neighbourhood_width_mm;
    if !(side.is_finite() && side > 0.0) {
        return Err(SwapError::InvalidArgument(format!(
            "sheet side must be a positive number of mm, got {side}"
        )));
    }
    if !(width.is_finite() && width > 0.0) {
        return Err(SwapError::InvalidArgument(format!(
            "neighbourhood width must be a positive number of mm, got {width}"
        )));
    }
    if width > side {
        return Err(SwapError::WidthTooLarge { width, side });
    }
    if config.steps_per_window == 0 {
        return Err(SwapError::InvalidArgument(
            "steps per window must be at least 1".into(),
        ));
    }
    if config.max_units < 2 {
        return Err(SwapError::InvalidArgument(
            "windows need room for at least 2 units".into(),
        ));
    }
    if !(0.0..=1.0).contains(&config.min_fill) {
        return Err(SwapError::InvalidArgument(format!(
            "min_fill is a fraction in [0, 1], got {}",
            config.min_fill
        )));
    }
    // A window this narrow holds on average fewer than two units: nothing could
    // ever swap, and the bucket grid (side / width)^2 would be huge.
    let expected_per_window = units as f64 * (width / side).powi(2);
    if expected_per_window < 2.0 {
        return Err(SwapError::InvalidArgument(format!(
            "a neighbourhood of {width} mm on a {side} mm sheet holds {expected_per_window:.3} \
             of the {units} units on average: too narrow for any swap"
        )));
    }
    check_positions(positions, side)?;
    let z = NormalisedResponses::new(responses, stimuli, units, config.allow_constant_units)?;

    let grid = SlotGrid::new(positions, side, width);
    let expected = units as f64 * (width / side).powi(2);
    let min_units = ((config.min_fill * expected).ceil() as usize).max(2);
    let mut unit_at: Vec<u32> = (0..units as u32).collect();
    let mut state = Progress {
        steps_done: 0,
        steps_total: config.steps,
        swaps_accepted: 0,
    };
    let mut total_gain = 0f64;
    let mut windows = 0u64;
    let mut stopped = false;
    let mut round = 0u64;
    let mut empty_rounds = 0;
    while state.steps_done < config.steps {
        let mut rng = stream(config.seed, round, u64::MAX);
        let ox = rng.gen::<f64>() * width - width;
        let oy = rng.gen::<f64>() * width - width;
        let n = ((side - ox) / width).ceil() as usize;
        let mut cells: Vec<(usize, usize)> = (0..n)
            .flat_map(|cy| (0..n).map(move |cx| (cx, cy)))
            .collect();
        cells.shuffle(&mut rng);
        // Gather this round's windows and their step budgets.
        let mut jobs = Vec::new();
        let mut budget = config.steps - state.steps_done;
        for (cx, cy) in cells {
            if budget == 0 {
                break;
            }
            let x0 = ox + cx as f64 * width;
            let y0 = oy + cy as f64 * width;
            let mut slots = grid.query(x0, x0 + width, y0, y0 + width);
            if slots.len() < min_units {
                continue;
            }
            let cell_id = (cy * n + cx) as u64;
            let mut wrng = stream(config.seed, round, cell_id);
            if slots.len() > config.max_units {
                let (chosen, _) = slots.partial_shuffle(&mut wrng, config.max_units);
                slots = chosen.to_vec();
            }
            let steps = budget.min(config.steps_per_window as u64) as u32;
            budget -= steps as u64;
            let units_here: Vec<u32> = slots.iter().map(|&s| unit_at[s as usize]).collect();
            jobs.push((slots, units_here, steps, wrng));
        }
        if jobs.is_empty() {
            // No window is large enough at this offset; a few more offsets in a
            // row are tried before concluding the sheet is too sparse for the width.
            empty_rounds += 1;
            if empty_rounds > 100 {
                return Err(SwapError::InvalidArgument(format!(
                    "no window of {width} mm holds {min_units} units or more: the sheet is \
                     too sparse for this neighbourhood width"
                )));
            }
            round += 1;
            continue;
        }
        empty_rounds = 0;
        let outcomes: Vec<(Vec<u32>, Vec<u32>, u32, WindowOutcome)> = jobs
            .into_par_iter()
            .map(|(slots, units_here, steps, mut wrng)| {
                let out = optimise_window(&z, positions, &slots, &units_here, steps, &mut wrng);
                (slots, units_here, steps, out)
            })
            .collect();
        // Write back in window order; the windows of a round are disjoint.
        for (slots, units_here, steps, out) in outcomes {
            for (a, &s) in slots.iter().enumerate() {
                unit_at[s as usize] = units_here[out.order[a] as usize];
            }
            state.steps_done += steps as u64;
            state.swaps_accepted += out.accepted;
            total_gain += out.gain;
            windows += 1;
        }
        round += 1;
        if !progress(&state) {
            stopped = state.steps_done < config.steps;
            break;
        }
    }
    let mut slot_of_unit = vec![0u32; units];
    for (s, &u) in unit_at.iter().enumerate() {
        slot_of_unit[u as usize] = s as u32;
    }
    Ok(SwapOutcome {
        slot_of_unit,
        steps_done: state.steps_done,
        swaps_accepted: state.swaps_accepted,
        windows,
        total_gain,
        stopped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::swap::proximity;
    use crate::swap::test_sheets::smooth_map;

    fn run(
        resp: &[f32],
        stimuli: usize,
        pos: &[[f64; 2]],
        cfg: &SwapConfig,
    ) -> Result<SwapOutcome, SwapError> {
        swap_optimize(resp, stimuli, pos, cfg, &mut |_| true)
    }

    /// Mean over fixed windows of SL_rel = (1 - pearson(r, D)) / 2.
    fn spatial_cost(z: &NormalisedResponses, pos: &[[f64; 2]], slot_of_unit: &[u32]) -> f64 {
        let n = pos.len();
        let mut unit_at = vec![0u32; n];
        for (u, &s) in slot_of_unit.iter().enumerate() {
            unit_at[s as usize] = u as u32;
        }
        let mut rs = Vec::new();
        let mut ds = Vec::new();
        for s in 0..n {
            for t in 0..s {
                rs.push(z.correlation(unit_at[s] as usize, unit_at[t] as usize) as f64);
                ds.push(proximity(pos[s], pos[t]) as f64);
            }
        }
        let m = rs.len() as f64;
        let (mr, md) = (rs.iter().sum::<f64>() / m, ds.iter().sum::<f64>() / m);
        let (mut c, mut vr, mut vd) = (0.0, 0.0, 0.0);
        for (r, d) in rs.iter().zip(&ds) {
            c += (r - mr) * (d - md);
            vr += (r - mr).powi(2);
            vd += (d - md).powi(2);
        }
        (1.0 - c / (vr * vd).sqrt()) / 2.0
    }

    #[test]
    fn shuffled_smooth_map_is_restored_close_to_the_true_arrangement() {
        let n = 16;
        let side = 8.0;
        let (resp, pos) = smooth_map(n, side, 16);
        let z = NormalisedResponses::new(&resp, 16, n * n, false).unwrap();
        let identity: Vec<u32> = (0..(n * n) as u32).collect();
        let true_cost = spatial_cost(&z, &pos, &identity);
        // Shuffle which unit sits where: responses of unit u move with a permutation.
        let mut perm = identity.clone();
        perm.shuffle(&mut ChaCha8Rng::seed_from_u64(7));
        let mut shuffled = vec![0f32; resp.len()];
        for s in 0..16 {
            for u in 0..n * n {
                shuffled[s * n * n + u] = resp[s * n * n + perm[u] as usize];
            }
        }
        let zs = NormalisedResponses::new(&shuffled, 16, n * n, false).unwrap();
        let start_cost = spatial_cost(&zs, &pos, &identity);
        let mut cfg = SwapConfig::new(side, 4.0);
        cfg.steps = 400_000;
        cfg.seed = 3;
        let out = run(&shuffled, 16, &pos, &cfg).unwrap();
        let end_cost = spatial_cost(&zs, &pos, &out.slot_of_unit);
        assert!(end_cost < start_cost);
        // Bound: the optimised cost closes at least 80% of the gap between the
        // shuffled and the true arrangement.
        assert!(
            end_cost - true_cost < 0.2 * (start_cost - true_cost),
            "true {true_cost:.4}, shuffled {start_cost:.4}, optimised {end_cost:.4}"
        );
    }

    #[test]
    fn result_is_a_permutation_and_deterministic_for_any_thread_count() {
        let (resp, pos) = smooth_map(20, 10.0, 8);
        let mut cfg = SwapConfig::new(10.0, 2.5);
        cfg.steps = 50_000;
        cfg.steps_per_window = 100;
        cfg.seed = 11;
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| run(&resp, 8, &pos, &cfg).unwrap());
        let three = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap()
            .install(|| run(&resp, 8, &pos, &cfg).unwrap());
        assert_eq!(one.slot_of_unit, three.slot_of_unit);
        assert_eq!(one.steps_done, 50_000);
        let mut sorted = one.slot_of_unit.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..400).collect::<Vec<u32>>());
        cfg.seed = 12;
        let other = run(&resp, 8, &pos, &cfg).unwrap();
        assert_ne!(other.slot_of_unit, one.slot_of_unit);
    }

    #[test]
    fn progress_callback_can_stop_the_run() {
        let (resp, pos) = smooth_map(10, 5.0, 8);
        let mut cfg = SwapConfig::new(5.0, 2.0);
        cfg.steps = 1_000_000;
        let mut calls = 0;
        let out = swap_optimize(&resp, 8, &pos, &cfg, &mut |p| {
            calls += 1;
            assert!(p.steps_done <= p.steps_total);
            calls < 3
        })
        .unwrap();
        assert_eq!(calls, 3);
        assert!(out.stopped);
        assert!(out.steps_done < 1_000_000);
    }

    #[test]
    fn bad_input_is_named() {
        let (mut resp, pos) = smooth_map(4, 2.0, 4);
        let cfg = SwapConfig::new(2.0, 1.0);
        assert_eq!(
            run(&resp, 4, &pos[..15], &cfg).unwrap_err(),
            SwapError::PositionCount {
                units: 16,
                positions: 15
            }
        );
        assert!(matches!(
            run(&resp, 4, &pos, &SwapConfig::new(2.0, 2.5)).unwrap_err(),
            SwapError::WidthTooLarge { .. }
        ));
        // A width so narrow that the bucket grid would not fit in memory is
        // refused before anything is allocated.
        let err = run(&resp, 4, &pos, &SwapConfig::new(2.0, 2e-9)).unwrap_err();
        assert!(
            matches!(&err, SwapError::InvalidArgument(m) if m.contains("too narrow")),
            "{err}"
        );
        let mut outside = pos.clone();
        outside[3] = [2.5, 0.0];
        assert!(matches!(
            run(&resp, 4, &outside, &cfg).unwrap_err(),
            SwapError::OutsideSheet { unit: 3, .. }
        ));
        let mut constant = resp.clone();
        for s in 0..4 {
            constant[s * 16 + 5] = 0.25;
        }
        assert_eq!(
            run(&constant, 4, &pos, &cfg).unwrap_err(),
            SwapError::ConstantUnits { count: 1, first: 5 }
        );
        let mut allow = cfg.clone();
        allow.allow_constant_units = true;
        allow.steps = 1000;
        assert!(run(&constant, 4, &pos, &allow).is_ok());
        resp[2 * 16 + 9] = f32::NAN;
        assert!(matches!(
            run(&resp, 4, &pos, &cfg).unwrap_err(),
            SwapError::NonFinite {
                unit: 9,
                stimulus: 2,
                ..
            }
        ));
    }
}
