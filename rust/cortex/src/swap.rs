//! Swap optimisation of unit positions on a cortical sheet.
//!
//! TDANN (Margalit et al., Neuron 2024) starts topographic training from
//! positions that were pre-optimised on the responses of an alpha = 0 network:
//! inside a square window of the neighbourhood width, random pairs of units
//! trade places when that lowers the spatial cost of the window.
//!
//! The cost of a window is SL_rel = (1 - pearson(r, D)) / 2 over its pairs,
//! with r_ij the Pearson correlation of the responses of units i and j across
//! stimuli and D_ij = 1 / (d_ij + 1), d_ij their distance in mm. A swap only
//! permutes which unit sits at which position inside the window, so the
//! multisets of r values and of D values over the window's pairs stay the same:
//! their sums and sums of squares are unchanged, and pearson(r, D) moves only
//! through sum_ij r_ij D_ij. Lowering SL_rel is therefore exactly raising
//! G = sum_{i<j} r_ij D_ij, and swapping the units at positions a and b changes
//! G by
//!
//!   dG = sum_{c != a,b} (r_{u c} - r_{v c}) (D_{b c} - D_{a c})
//!
//! (u at a, v at b before the swap), an O(K) update per step.
//!
//! Windows are laid out as the cells of a square grid of the neighbourhood
//! width with a random offset per round; cells of one round are disjoint, so
//! they hold disjoint units and run in parallel. Each window draws from its own
//! random stream, seeded from (seed, round, cell), and results are written back
//! in a fixed order: the outcome depends on the seed, not on the number of
//! threads. (It can differ between processors with and without AVX2 and FMA:
//! fused multiply-adds round differently. The AVX-512 kernels give exactly
//! what the AVX2 ones give. `STDANN_ISA=portable|avx2|avx512` narrows the
//! kernels a run uses; see `stdann_isa`.)

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Why a swap optimisation could not start.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SwapError {
    #[error("responses hold {len} values, not stimuli x units = {stimuli} x {units}")]
    ResponsesShape {
        len: usize,
        stimuli: usize,
        units: usize,
    },
    #[error("responses are for {units} units but {positions} positions were given")]
    PositionCount { units: usize, positions: usize },
    #[error("need at least 2 stimuli to correlate responses, got {0}")]
    TooFewStimuli(usize),
    #[error("response of unit {unit} to stimulus {stimulus} is {value} (not a finite number)")]
    NonFinite {
        unit: usize,
        stimulus: usize,
        value: f32,
    },
    #[error(
        "{count} units respond identically to every stimulus (zero variance; first is unit \
         {first}): their correlation with other units is undefined; allow constant units to \
         treat it as 0"
    )]
    ConstantUnits { count: usize, first: usize },
    #[error("neighbourhood width {width} mm does not fit on a sheet of side {side} mm")]
    WidthTooLarge { width: f64, side: f64 },
    #[error("unit {unit} sits at ({x}, {y}) mm, outside the sheet [0, {side}] mm")]
    OutsideSheet {
        unit: usize,
        x: f64,
        y: f64,
        side: f64,
    },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// Settings of one optimisation run.
#[derive(Debug, Clone)]
pub struct SwapConfig {
    /// Side of the square sheet in mm; positions lie in [0, side]^2.
    pub sheet_side_mm: f64,
    /// Side of the square windows in mm (the block's neighbourhood width).
    pub neighbourhood_width_mm: f64,
    /// Total number of proposed swaps (TDANN: 50 million).
    pub steps: u64,
    /// Proposed swaps per window before moving to the next (TDANN: 500).
    pub steps_per_window: u32,
    /// Windows with more units are subsampled to this many (TDANN: 500).
    pub max_units: usize,
    /// Windows holding fewer than this fraction of the units an inner window
    /// holds on average are dropped (cells clipped by the sheet edge).
    pub min_fill: f64,
    pub seed: u64,
    /// Treat zero-variance units as uncorrelated with everything instead of failing.
    pub allow_constant_units: bool,
}

impl SwapConfig {
    pub fn new(sheet_side_mm: f64, neighbourhood_width_mm: f64) -> Self {
        Self {
            sheet_side_mm,
            neighbourhood_width_mm,
            steps: 50_000_000,
            steps_per_window: 500,
            max_units: 500,
            min_fill: 0.25,
            seed: 0,
            allow_constant_units: false,
        }
    }
}

/// Where a run stands, handed to the progress callback between rounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub steps_done: u64,
    pub steps_total: u64,
    pub swaps_accepted: u64,
}

/// The result: a permutation of the positions.
#[derive(Debug, Clone)]
pub struct SwapOutcome {
    /// `slot_of_unit[u]` is the index of the original position unit u now occupies.
    pub slot_of_unit: Vec<u32>,
    pub steps_done: u64,
    pub swaps_accepted: u64,
    pub windows: u64,
    /// Sum over windows of the rise of G = sum r_ij D_ij; never negative.
    pub total_gain: f64,
    /// True when the progress callback asked to stop before all steps ran.
    pub stopped: bool,
}

/// Which kernels a window runs: plain Rust, AVX2 with FMA, or AVX-512 for the
/// correlation and proximity matrices (with the AVX2 step). The AVX2 and
/// AVX-512 kernels compute every entry with the same operations in the same
/// order, so their results are identical; the plain kernels round differently.
type Isa = u8;
const PORTABLE: Isa = 0;
const AVX2: Isa = 1;
const AVX512: Isa = 2;

/// Slot buckets per window width along each side (see `SlotGrid`).
const BUCKETS_PER_WIDTH: usize = 4;

/// Swaps whose computed gain is below this are rejected, so that rounding on a
/// neutral swap can never raise the cost.
const MIN_GAIN: f32 = 1e-6;

/// Unit responses normalised so that a dot product is a Pearson correlation:
/// each row is (x - mean) / ||x - mean||, padded with zeros to a multiple of 8
/// so dot products vectorise.
pub struct NormalisedResponses {
    rows: Vec<f32>,
    stride: usize,
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

    fn row(&self, u: usize) -> &[f32] {
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
/// SL_rel of the window falls exactly when G rises (see the module docs).
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

/// The kernels windows run: the widest this CPU runs, or the narrower set
/// `STDANN_ISA` names (see `stdann_isa`).
fn best_isa() -> Isa {
    isa_of(stdann_isa::Isa::selected())
}

fn isa_of(isa: stdann_isa::Isa) -> Isa {
    match isa {
        stdann_isa::Isa::Portable => PORTABLE,
        stdann_isa::Isa::Avx2 => AVX2,
        stdann_isa::Isa::Avx512 => AVX512,
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
/// matrices are built in blocks of 16 x 16 (see `avx512`).
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

/// Rows of a block of the window matrices computed at once (twelve
/// accumulators of eight lanes: enough independent sums to keep both FMA
/// ports busy, with registers left for the loads).
const MR: usize = 12;
/// Columns of a block: one eight-lane vector.
const NR: usize = 8;
/// The window matrices are square with a side padded to a multiple of this,
/// so that blocks of MR rows and NR columns tile them without remainder.
const PAD: usize = 24;
/// The side of a block of the AVX-512 kernel, and what its matrices are padded to.
const SIDE_512: usize = 16;

/// Buffers of one window, kept per thread: windows of 500 units need about
/// 2 MB, and fresh allocations of that size would page-fault on every window.
///
/// Every buffer is fully overwritten for each window (padding included), so
/// none is cleared between windows.
#[derive(Default)]
struct Scratch {
    /// Responses of the window's units, `kp` rows of `stride` (zero rows past k).
    zw: Vec<f32>,
    /// The same, transposed into panels of NR units: panel p holds `stride`
    /// rows of the NR responses of units p*NR.., to one stimulus per row.
    zt: Vec<f32>,
    /// The same again in blocks of MR units (SIMD path): block b holds
    /// `stride` rows of the MR responses of units b*MR.., to one stimulus per row.
    za: Vec<f32>,
    /// Correlations r, `kp` x `kp` in rows `ld` values apart (see
    /// `leading_dimension`): row u holds the correlations of local unit
    /// u with the units at each slot, as of the time given by `synced[u]`; zero
    /// past k. When the window starts, slot order is unit order.
    r: Vec<f32>,
    /// Proximities D, `kp` x `kp` in rows `ld` values apart, rows and columns
    /// in slot order.
    d: Vec<f32>,
    xs: Vec<f32>,
    ys: Vec<f32>,
    /// Accepted swaps of the window, in order: the column permutations that a
    /// row of r that was brought up to date at time t still has to undergo.
    log: Vec<(u32, u32)>,
    /// `synced[u]` is how many entries of `log` row u of r has undergone.
    synced: Vec<u32>,
}

#[cfg(test)]
impl Scratch {
    /// Copies of the window matrices r and D of side `kp`, as the steps see
    /// them, from rows `ld` values apart into rows `kp` values apart.
    fn matrices(&mut self, (kp, ld): (usize, usize)) -> (Vec<f32>, Vec<f32>) {
        let compact =
            |m: &[f32]| -> Vec<f32> { m.chunks(ld).flat_map(|row| &row[..kp]).copied().collect() };
        (
            compact(aligned(&mut self.r, kp * ld)),
            compact(aligned(&mut self.d, kp * ld)),
        )
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// The first `n` values of `buf`, growing it if needed; old contents are kept.
fn sized(buf: &mut Vec<f32>, n: usize) -> &mut [f32] {
    if buf.len() < n {
        buf.resize(n, 0.0);
    }
    &mut buf[..n]
}

/// `n` values of `buf` that start on a 64-byte boundary, growing it if
/// needed; the same buffer and `n` always give the same values. Rows of the
/// window matrices start a multiple of 64 bytes apart, so every 16-lane
/// store of the AVX-512 path fills exactly one cache line instead of two halves.
fn aligned(buf: &mut Vec<f32>, n: usize) -> &mut [f32] {
    const LANES: usize = 64 / std::mem::size_of::<f32>();
    if buf.len() < n + LANES - 1 {
        buf.resize(n + LANES - 1, 0.0);
    }
    let offset = buf.as_ptr().align_offset(64).min(LANES - 1);
    &mut buf[offset..offset + n]
}

/// The distance in values between rows of window matrices of side `kp`: kp
/// rounded up to an odd number of 64-byte lines. With rows a power of two
/// lines apart (512 values: 32 lines), the 16 rows a block of the set-up
/// writes, where it lies and transposed, fall into two of the 64 sets of the
/// first-level cache and evict each other; an odd number of lines spreads
/// them over all sets (500-unit windows: 528 instead of 512; the largest
/// of the changes that took the set-up from 244 to about 230 us, see
/// benches/README.md).
fn leading_dimension(kp: usize) -> usize {
    const LINE: usize = 64 / std::mem::size_of::<f32>();
    (kp.div_ceil(LINE) | 1) * LINE
}

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
fn window_matrices<const ISA: Isa>(
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
        unsafe { window_matrices_avx2(zw, zt, za, xs, ys, stride, kp, ld, r, d) };
        return (kp, ld);
    }
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
    (kp, ld)
}

/// AVX2 and FMA kernels of `window_matrices`. Every function here must only
/// run on a CPU that reported both features (the intrinsics are compiled for
/// them); the raw-pointer helpers state the extents their callers guarantee.
#[cfg(target_arch = "x86_64")]
mod avx2 {
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
    pub(super) unsafe fn window_matrices_avx2(
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
}

#[cfg(target_arch = "x86_64")]
use avx2::window_matrices_avx2;

/// AVX-512 kernels of `window_matrices`: blocks of 16 x 16 entries, sixteen
/// accumulators of sixteen lanes, twice the work per instruction of the AVX2
/// kernel. Every entry is the same chain of fused multiply-adds over stimuli
/// in order as there, so r and D are bit-for-bit those of the AVX2 kernel.
/// The block loop is that kernel's, written again for 16-lane vectors (the
/// intrinsics are typed by width): a change to one belongs in both, and
/// `avx512_transpose_and_kernels_equal_avx2_bit_for_bit` fails if they part.
/// Every function here must only run on a CPU that reported AVX-512F, AVX2
/// and FMA.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::avx2::transpose8;
    use std::arch::x86_64::*;

    use super::SIDE_512 as W;

    /// Transpose of sixteen rows of sixteen lanes: lane l of output j is lane j of row l.
    #[inline(always)]
    pub(super) unsafe fn transpose16(v: &[__m512; W]) -> [__m512; W] {
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
}

/// sum_c (ra[c] - rb[c]) (db[c] - da[c]) over rows padded to a multiple of 8.
#[inline(always)]
fn step_sum<const ISA: Isa>(ra: &[f32], rb: &[f32], da: &[f32], db: &[f32]) -> f32 {
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
fn optimise_window_impl<const ISA: Isa>(
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

/// Slots (positions) sorted into square buckets of a quarter of the window
/// width (BUCKETS_PER_WIDTH), so a window touches at most 5 x 5 buckets and
/// holds the 3 x 3 or more in its middle whole: only the slots of the buckets
/// on its rim are tested against its edges.
struct SlotGrid {
    /// Side of a bucket in mm.
    bucket: f64,
    n: usize,
    start: Vec<usize>,
    slots: Vec<u32>,
    /// `pos[i]` is the position of `slots[i]`: a bucket's positions are read in sequence.
    pos: Vec<[f64; 2]>,
}

impl SlotGrid {
    fn new(positions: &[[f64; 2]], side: f64, width: f64) -> Self {
        let bucket = width / BUCKETS_PER_WIDTH as f64;
        let n = ((side / bucket).ceil() as usize).max(1);
        let grid = Self {
            bucket,
            n,
            start: Vec::new(),
            slots: Vec::new(),
            pos: Vec::new(),
        };
        let cell = |p: [f64; 2]| grid.index(p[1]) * n + grid.index(p[0]);
        let mut count = vec![0usize; n * n + 1];
        for &p in positions {
            count[cell(p) + 1] += 1;
        }
        for i in 0..n * n {
            count[i + 1] += count[i];
        }
        let mut fill = count.clone();
        let mut slots = vec![0u32; positions.len()];
        let mut pos = vec![[0f64; 2]; positions.len()];
        for (s, &p) in positions.iter().enumerate() {
            let c = cell(p);
            slots[fill[c]] = s as u32;
            pos[fill[c]] = p;
            fill[c] += 1;
        }
        Self {
            start: count,
            slots,
            pos,
            ..grid
        }
    }

    /// The bucket row or column of coordinate `v` (clamped to the sheet).
    ///
    /// Division by the bucket side is monotonic, so a slot in bucket i lies
    /// after (before) every coordinate whose bucket is below (above) i: a
    /// bucket strictly between the buckets of a window's edges lies inside
    /// the window, exactly, without testing its slots.
    fn index(&self, v: f64) -> usize {
        ((v.max(0.0) / self.bucket) as usize).min(self.n - 1)
    }

    /// Slots inside [x0, x1) x [y0, y1), in bucket order.
    fn query(&self, x0: f64, x1: f64, y0: f64, y1: f64) -> Vec<u32> {
        let (bx0, bx1) = (self.index(x0), self.index(x1));
        let (by0, by1) = (self.index(y0), self.index(y1));
        let mut out = Vec::new();
        for by in by0..=by1 {
            for bx in bx0..=bx1 {
                let b = by * self.n + bx;
                let range = self.start[b]..self.start[b + 1];
                if by0 < by && by < by1 && bx0 < bx && bx < bx1 {
                    out.extend_from_slice(&self.slots[range]);
                    continue;
                }
                // Without branches: every slot is written, and the count
                // advances past it only when it lies inside.
                let mut n = out.len();
                out.resize(n + range.len(), 0);
                let (slots, pos) = (&self.slots[range.clone()], &self.pos[range]);
                #[cfg(target_arch = "x86_64")]
                {
                    use std::arch::x86_64::*;
                    // SAFETY: SSE2 is part of every x86_64 CPU; each load reads
                    // the two values of one position in `pos`.
                    unsafe {
                        let (lo, hi) = (_mm_set_pd(y0, x0), _mm_set_pd(y1, x1));
                        for (&s, p) in slots.iter().zip(pos) {
                            let v = _mm_loadu_pd(p.as_ptr());
                            let inside = _mm_and_pd(_mm_cmpge_pd(v, lo), _mm_cmplt_pd(v, hi));
                            out[n] = s;
                            n += (_mm_movemask_pd(inside) == 3) as usize;
                        }
                    }
                }
                #[cfg(not(target_arch = "x86_64"))]
                for (&s, p) in slots.iter().zip(pos) {
                    out[n] = s;
                    n += ((p[0] >= x0) & (p[0] < x1) & (p[1] >= y0) & (p[1] < y1)) as usize;
                }
                out.truncate(n);
            }
        }
        out
    }
}

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

    /// Units on an n x n grid of a sheet of side `side`, each tuned to a
    /// direction theta(x, y) that varies smoothly over the sheet; responses to
    /// `stimuli` directions are von Mises curves. Returns (responses, positions).
    fn smooth_map(n: usize, side: f64, stimuli: usize) -> (Vec<f32>, Vec<[f64; 2]>) {
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

    fn all_slots(n: usize) -> Vec<u32> {
        (0..n as u32).collect()
    }

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

    #[test]
    fn slot_grid_query_finds_exactly_the_slots_inside() {
        // Positions on a lattice of bucket and window edges (exactly on the
        // edges, and just either side of them) as well as at random, on the
        // sheet's border too; windows at random offsets, partly off the sheet.
        let (side, width) = (5.0, 1.3);
        let bucket = width / BUCKETS_PER_WIDTH as f64;
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        let mut positions: Vec<[f64; 2]> = (0..4000)
            .map(|_| [rng.gen::<f64>() * side, rng.gen::<f64>() * side])
            .collect();
        let edges: Vec<f64> = (0..=(side / bucket) as usize)
            .flat_map(|i| {
                let e = i as f64 * bucket;
                [e, e.next_down(), e.next_up()]
            })
            .chain([0.0, side, 1.7, 1.7 + width])
            .filter(|v| (0.0..=side).contains(v))
            .collect();
        for &x in &edges {
            for &y in edges.iter().step_by(5) {
                positions.push([x, y]);
                positions.push([y, x]);
            }
        }
        let grid = SlotGrid::new(&positions, side, width);
        let mut windows: Vec<(f64, f64)> = (0..300)
            .map(|_| {
                let o = |rng: &mut ChaCha8Rng| rng.gen::<f64>() * (side + width) - width;
                (o(&mut rng), o(&mut rng))
            })
            .collect();
        windows.extend([
            (1.7, 1.7),
            (0.0, 0.0),
            (-0.4, side - 0.5),
            (2.0 * bucket, bucket),
        ]);
        for (x0, y0) in windows {
            let (x1, y1) = (x0 + width, y0 + width);
            let mut found = grid.query(x0, x1, y0, y1);
            found.sort_unstable();
            let expected: Vec<u32> = (0..positions.len() as u32)
                .filter(|&s| {
                    let p = positions[s as usize];
                    p[0] >= x0 && p[0] < x1 && p[1] >= y0 && p[1] < y1
                })
                .collect();
            assert_eq!(found, expected, "window at ({x0}, {y0})");
        }
    }

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
