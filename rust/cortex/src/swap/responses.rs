//! The responses correlations are read from, normalised once per run, and the
//! objective G that a swap raises.

use rayon::prelude::*;

use super::SwapError;

/// Unit responses normalised so that a dot product is a Pearson correlation:
/// each row is (x - mean) / ||x - mean||, padded with zeros to a multiple of 8
/// so dot products vectorise.
pub struct NormalisedResponses {
    rows: Vec<f32>,
    pub(super) stride: usize,
    units: usize,
}

impl NormalisedResponses {
    /// `responses` is stimuli x units, row-major.
    pub fn new(
        responses: &[f32],
        stimuli: usize,
        units: usize,
        allow_constant_units: bool,
    ) -> Result<Self, SwapError> {
        if responses.len() != stimuli.saturating_mul(units) {
            return Err(SwapError::ResponsesShape {
                len: responses.len(),
                stimuli,
                units,
            });
        }
        if stimuli < 2 {
            return Err(SwapError::TooFewStimuli(stimuli));
        }
        if let Some(i) = responses.iter().position(|v| !v.is_finite()) {
            return Err(SwapError::NonFinite {
                unit: i % units,
                stimulus: i / units,
                value: responses[i],
            });
        }
        let stride = stimuli.div_ceil(8) * 8;
        let mut rows = vec![0f32; units * stride];
        // Units are taken in blocks of UNIT_BLOCK, and the sums of a block
        // run along rows of `responses` (one stimulus at a time), so that
        // reads are sequential; each unit's sums still add its values in
        // stimulus order.
        const UNIT_BLOCK: usize = 256;
        let constant: Vec<bool> = rows
            .par_chunks_mut(stride * UNIT_BLOCK)
            .enumerate()
            .flat_map_iter(|(block, out)| {
                let u0 = block * UNIT_BLOCK;
                let n = out.len() / stride;
                let column = |s: usize| &responses[s * units + u0..s * units + u0 + n];
                let mut mean = vec![0f64; n];
                for s in 0..stimuli {
                    for (sum, &x) in mean.iter_mut().zip(column(s)) {
                        *sum += x as f64;
                    }
                }
                for m in mean.iter_mut() {
                    *m /= stimuli as f64;
                }
                let mut ss = vec![0f64; n];
                for s in 0..stimuli {
                    for ((sum, &x), &m) in ss.iter_mut().zip(column(s)).zip(&mean) {
                        *sum += (x as f64 - m).powi(2);
                    }
                }
                let mut norm = vec![0f64; n];
                let mut constant = vec![false; n];
                for i in 0..n {
                    norm[i] = ss[i].sqrt();
                    // A constant float32 column can leave rounding residue around its
                    // mean; anything within 1e-7 of the mean's magnitude is constant.
                    constant[i] =
                        norm[i] == 0.0 || norm[i] <= 1e-7 * mean[i].abs() * (stimuli as f64).sqrt();
                }
                for s in 0..stimuli {
                    for (i, &x) in column(s).iter().enumerate() {
                        if !constant[i] {
                            out[i * stride + s] = ((x as f64 - mean[i]) / norm[i]) as f32;
                        }
                    }
                }
                constant
            })
            .collect();
        let count = constant.iter().filter(|&&c| c).count();
        if count > 0 && !allow_constant_units {
            let first = constant.iter().position(|&c| c).unwrap_or(0);
            return Err(SwapError::ConstantUnits { count, first });
        }
        Ok(Self {
            rows,
            stride,
            units,
        })
    }

    pub fn units(&self) -> usize {
        self.units
    }

    pub(super) fn row(&self, u: usize) -> &[f32] {
        &self.rows[u * self.stride..(u + 1) * self.stride]
    }

    /// Pearson correlation of units `u` and `v` (0 when either is constant).
    pub fn correlation(&self, u: usize, v: usize) -> f32 {
        dot(self.row(u), self.row(v))
    }
}

/// Dot product with eight independent partial sums, which the compiler turns
/// into SIMD; both slices have a length that is a multiple of 8.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum()
}

/// D = 1 / (d + 1), the proximity of two positions d mm apart (TDANN's SL_rel).
#[inline]
pub fn proximity(p: [f64; 2], q: [f64; 2]) -> f32 {
    let d = ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt();
    (1.0 / (d + 1.0)) as f32
}

/// G = sum_{i<j} r_ij D_ij over the units at `slots`, with `unit_at` saying
/// which unit sits at each slot: the quantity a swap raises. The spatial cost
/// SL_rel of the window falls exactly when G rises (see the docs of `swap`).
pub fn window_gain_objective(
    z: &NormalisedResponses,
    positions: &[[f64; 2]],
    unit_at: &[u32],
    slots: &[u32],
) -> f64 {
    let mut g = 0f64;
    for (i, &a) in slots.iter().enumerate() {
        for &b in &slots[..i] {
            let r = z.correlation(unit_at[a as usize] as usize, unit_at[b as usize] as usize);
            g += r as f64 * proximity(positions[a as usize], positions[b as usize]) as f64;
        }
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_responses_give_pearson_correlation() {
        // Unit 0: 1,2,3,4; unit 1: 2,4,6,8 (r = 1); unit 2: 4,3,2,1 (r = -1);
        // unit 3: 1,0,0,1 (r with unit 0 = 0).
        let resp = [
            1.0, 2.0, 4.0, 1.0, //
            2.0, 4.0, 3.0, 0.0, //
            3.0, 6.0, 2.0, 0.0, //
            4.0, 8.0, 1.0, 1.0,
        ];
        let z = NormalisedResponses::new(&resp, 4, 4, false).unwrap();
        assert!((z.correlation(0, 1) - 1.0).abs() < 1e-6);
        assert!((z.correlation(0, 2) + 1.0).abs() < 1e-6);
        assert!(z.correlation(0, 3).abs() < 1e-6);
    }

    #[test]
    fn proximity_is_one_over_distance_plus_one() {
        assert_eq!(proximity([0.0, 0.0], [0.0, 0.0]), 1.0);
        assert!((proximity([0.0, 0.0], [3.0, 4.0]) - 1.0 / 6.0).abs() < 1e-7);
    }
}
