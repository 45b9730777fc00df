//! Time of one swap-optimisation window: 500 units drawn from 50,176 (their
//! response rows out of the cache, as in a run), 64 stimuli, with 0, 500 and
//! 2,000 steps, so that building the window's matrices and the steps can be
//! told apart. Windows of the three kinds are timed in turns, many times, and
//! the minimum and median are printed: this machine's speed changes from
//! minute to minute, and the minimum is the least disturbed. Run:
//! `cargo bench -p stdann-cortex`.

use std::hint::black_box;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use stdann_cortex::swap::{optimise_window, NormalisedResponses};

const UNITS: usize = 50_176;
const STIMULI: usize = 64;
const WINDOW: usize = 500;

fn main() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let responses: Vec<f32> = (0..UNITS * STIMULI)
        .map(|_| rng.gen::<f32>() - 0.5)
        .collect();
    let z = NormalisedResponses::new(&responses, STIMULI, UNITS, false).unwrap();
    // A 2.1 mm window's worth of positions.
    let positions: Vec<[f64; 2]> = (0..UNITS)
        .map(|_| [rng.gen::<f64>() * 2.1, rng.gen::<f64>() * 2.1])
        .collect();
    let kinds = [0u32, 500, 2000];
    let mut times = vec![Vec::new(); kinds.len()];
    for rep in 0..300 {
        for (kind, &steps) in kinds.iter().enumerate() {
            let slots: Vec<u32> = (0..WINDOW)
                .map(|_| rng.gen_range(0..UNITS as u32))
                .collect();
            let mut window_rng = ChaCha8Rng::seed_from_u64(rep);
            let t = Instant::now();
            let out = optimise_window(&z, &positions, &slots, &slots, steps, &mut window_rng);
            times[kind].push(t.elapsed().as_secs_f64() * 1e6);
            black_box(out);
        }
    }
    println!("one window of {WINDOW} units, {STIMULI} stimuli (us, 300 windows each)");
    println!("{:>8} {:>10} {:>10}", "steps", "min", "median");
    for (kind, &steps) in kinds.iter().enumerate() {
        let t = &mut times[kind];
        t.sort_by(f64::total_cmp);
        println!("{steps:>8} {:>10.1} {:>10.1}", t[0], t[t.len() / 2]);
    }
    let min = |k: usize| times[k][0];
    println!(
        "building the matrices: {:.0} us; one step: {:.3} us (from the 2,000-step windows)",
        min(0),
        (min(2) - min(0)) / 2000.0
    );
}
