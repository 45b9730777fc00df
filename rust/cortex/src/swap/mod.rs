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
//!
//! The rooms: `config` (settings, progress, outcome and errors), `responses`
//! (the normalised responses r is read from, and G), `kernels` (the window
//! matrices r and D, portable, AVX2 and AVX-512), `scratch` (the per-thread
//! buffers a window works in), `step` (the steps of one window), `grid` (the
//! slots sorted into buckets, to find a window's) and `driver` (rounds of
//! windows over the sheet).

mod config;
mod driver;
mod grid;
mod kernels;
mod responses;
mod scratch;
mod step;

#[cfg(test)]
mod test_sheets;
#[cfg(test)]
mod tests;

pub use config::{Progress, SwapConfig, SwapError, SwapOutcome};
pub use driver::swap_optimize;
pub use responses::{proximity, window_gain_objective, NormalisedResponses};
pub use step::{optimise_window, WindowOutcome};
