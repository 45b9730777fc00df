//! Bindings for stdann-cortex: pinwheels, column spacing, swap optimisation.

use pyo3::prelude::*;

pub fn register(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
