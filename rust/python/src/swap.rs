//! Bindings for stdann-cortex's swap optimisation of unit positions.

use numpy::{PyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use stdann_cortex::swap::{self, Progress, SwapConfig, SwapError as CoreError};

use crate::errors::ValueErrorClass;
use crate::guard::{guarded, IntoPyErr};

static SWAP_ERROR: ValueErrorClass = ValueErrorClass::new(
    "SwapError",
    "Swap optimisation could not start: the message says what is wrong with the input.",
);

/// swap_optimize(responses, positions, sheet_side_mm, neighbourhood_width_mm, steps=None, ...)
/// -> (slot_of_unit, stats)
///
/// `responses` is (stimuli, units) float32, `positions` (units, 2) float64 in mm.
/// A setting left out (None) is the core's (`SwapConfig::new`: TDANN's values).
/// `slot_of_unit[u]` is the index of the original position unit u occupies after
/// optimisation. `progress(steps_done, steps_total, swaps_accepted)` is called
/// with the GIL held about every `progress_every` steps; Ctrl-C stops the run
/// after the windows in hand and raises KeyboardInterrupt.
#[pyfunction]
#[pyo3(signature = (
    responses, positions, sheet_side_mm, neighbourhood_width_mm, steps = None,
    steps_per_window = None, max_units = None, min_fill = None, seed = None,
    allow_constant_units = None, progress = None, progress_every = 1_000_000
))]
#[allow(clippy::too_many_arguments)]
fn swap_optimize<'py>(
    py: Python<'py>,
    responses: PyReadonlyArray2<'py, f32>,
    positions: PyReadonlyArray2<'py, f64>,
    sheet_side_mm: f64,
    neighbourhood_width_mm: f64,
    steps: Option<u64>,
    steps_per_window: Option<u32>,
    max_units: Option<usize>,
    min_fill: Option<f64>,
    seed: Option<u64>,
    allow_constant_units: Option<bool>,
    progress: Option<PyObject>,
    progress_every: u64,
) -> PyResult<(Bound<'py, PyArray1<u32>>, Bound<'py, PyDict>)> {
    let shape = positions.shape();
    if shape[1] != 2 {
        return Err(SWAP_ERROR.err(format!(
            "positions must have shape (units, 2), got ({}, {})",
            shape[0], shape[1]
        )));
    }
    let stimuli = responses.shape()[0];
    let resp = responses
        .as_slice()
        .map_err(|_| SWAP_ERROR.err("responses must be a C-contiguous float32 array"))?;
    let pos: Vec<[f64; 2]> = positions
        .as_array()
        .rows()
        .into_iter()
        .map(|r| [r[0], r[1]])
        .collect();
    let defaults = SwapConfig::new(sheet_side_mm, neighbourhood_width_mm);
    let config = SwapConfig {
        steps: steps.unwrap_or(defaults.steps),
        steps_per_window: steps_per_window.unwrap_or(defaults.steps_per_window),
        max_units: max_units.unwrap_or(defaults.max_units),
        min_fill: min_fill.unwrap_or(defaults.min_fill),
        seed: seed.unwrap_or(defaults.seed),
        allow_constant_units: allow_constant_units.unwrap_or(defaults.allow_constant_units),
        ..defaults
    };
    let every = progress_every.max(1);
    let mut interrupted: Option<PyErr> = None;
    let outcome = guarded(py, "running the swap optimisation", || {
        let mut next = every;
        let mut report = |p: &Progress| -> bool {
            if p.steps_done < next && p.steps_done < p.steps_total {
                return true;
            }
            next = (p.steps_done / every + 1) * every;
            Python::with_gil(|py| {
                let result = py.check_signals().and_then(|_| match &progress {
                    Some(cb) => cb
                        .call1(py, (p.steps_done, p.steps_total, p.swaps_accepted))
                        .map(|_| ()),
                    None => Ok(()),
                });
                match result {
                    Ok(()) => true,
                    Err(e) => {
                        interrupted = Some(e);
                        false
                    }
                }
            })
        };
        swap::swap_optimize(resp, stimuli, &pos, &config, &mut report)
    })?;
    if let Some(e) = interrupted {
        return Err(e);
    }
    let stats = PyDict::new(py);
    stats.set_item("steps_done", outcome.steps_done)?;
    stats.set_item("swaps_accepted", outcome.swaps_accepted)?;
    stats.set_item("windows", outcome.windows)?;
    stats.set_item("total_gain", outcome.total_gain)?;
    Ok((PyArray1::from_vec(py, outcome.slot_of_unit), stats))
}

impl IntoPyErr for CoreError {
    fn into_py_err(self) -> PyErr {
        SWAP_ERROR.err(self.to_string())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    SWAP_ERROR.register(m, None)?;
    m.add_function(wrap_pyfunction!(swap_optimize, m)?)?;
    Ok(())
}
