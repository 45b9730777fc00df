//! The PyO3 module `stdann._native`: a thin layer that converts between NumPy
//! and the pure Rust crates and releases the GIL around their work.

use pyo3::prelude::*;

mod errors;
mod guard;
mod logs;
mod pinwheels;
mod swap;
mod video;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    logs::init();
    errors::register(m)?;
    video::register(m)?;
    pinwheels::register(m)?;
    swap::register(m)?;
    Ok(())
}
