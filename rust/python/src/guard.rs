//! The one way the bindings run a core's work: without the GIL, with the
//! core's errors raised as Python exceptions and a panic caught before it
//! can cross the FFI.

use pyo3::prelude::*;

/// How the errors of a core crate are raised in Python.
pub trait IntoPyErr: Send {
    /// The exception for this error.
    fn into_py_err(self) -> PyErr;
    /// The exception for a panic in the core (a bug there, not bad input),
    /// with `message` naming what was being done.
    fn panic_err(message: String) -> PyErr;
}

/// Run `f` without the GIL and turn a panic into a Python exception that names
/// what was being done, so no panic crosses the FFI.
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
        Err(_) => Err(E::panic_err(format!("internal error while {what}"))),
    }
}
