//! The PyO3 module `stdann._native`: a thin layer that converts between NumPy
//! and the pure Rust crates and releases the GIL around their work.

use pyo3::prelude::*;

mod guard;
mod pinwheels;
mod swap;
mod video;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // The cores' log records (an index cache that cannot be written, say) go
    // to Python's logging, under the crate's name ("stdann_video.index").
    pyo3_log::init();
    video::register(m)?;
    pinwheels::register(m)?;
    swap::register(m)?;
    Ok(())
}
