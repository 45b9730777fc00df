//! Sheets with known answers for the tests of the swap optimiser.

/// Units on an n x n grid of a sheet of side `side`, each tuned to a
/// direction theta(x, y) that varies smoothly over the sheet; responses to
/// `stimuli` directions are von Mises curves. Returns (responses, positions).
pub(super) fn smooth_map(n: usize, side: f64, stimuli: usize) -> (Vec<f32>, Vec<[f64; 2]>) {
    let units = n * n;
    let mut positions = Vec::with_capacity(units);
    let mut pref = Vec::with_capacity(units);
    for i in 0..n {
        for j in 0..n {
            let x = (j as f64 + 0.5) * side / n as f64;
            let y = (i as f64 + 0.5) * side / n as f64;
            positions.push([x, y]);
            pref.push(2.0 * std::f64::consts::PI * (x + 0.5 * y) / side);
        }
    }
    let mut responses = vec![0f32; stimuli * units];
    for s in 0..stimuli {
        let th = 2.0 * std::f64::consts::PI * s as f64 / stimuli as f64;
        for u in 0..units {
            responses[s * units + u] = (2.0 * (th - pref[u]).cos()).exp() as f32;
        }
    }
    (responses, positions)
}

pub(super) fn all_slots(n: usize) -> Vec<u32> {
    (0..n as u32).collect()
}
