//! What a swap optimisation takes and gives: its settings, the progress it
//! reports, its outcome, and why it could not start.

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
    /// The settings of a sheet, every other one at its default: the one place
    /// the core's defaults are written (the Python binding falls back on them;
    /// stdann's configs set their own, configs/paper.yaml).
    pub fn new(sheet_side_mm: f64, neighbourhood_width_mm: f64) -> Self {
        Self {
            sheet_side_mm,
            neighbourhood_width_mm,
            // TDANN's steps, steps per window and window size.
            steps: 50_000_000,
            steps_per_window: 500,
            max_units: 500,
            // stdann: a window clipped by the sheet's edge to under a quarter
            // of an inner window's units has too few partners to swap with.
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
