//! The one way the bindings run a core's work: without the GIL, with the
//! core's errors raised as Python exceptions and a panic caught before it
//! can cross the FFI.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// How the errors of a core crate are raised in Python.
pub trait IntoPyErr: Send {
    /// The exception for this error.
    fn into_py_err(self) -> PyErr;
}

/// Run `f` without the GIL and turn a panic into a RuntimeError that names
/// what was being done (a bug in the core, not bad input), so no panic
/// crosses the FFI.
pub fn guarded<T: Send, E: IntoPyErr>(
    py: Python<'_>,
    what: &str,
    f: impl FnOnce() -> Result<T, E> + Send,
) -> PyResult<T> {
    let out = py.allow_threads(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    crate::logs::hand_over(py);
    match out {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.into_py_err()),
        Err(_) => Err(PyRuntimeError::new_err(format!(
            "internal error while {what}"
        ))),
    }
}
