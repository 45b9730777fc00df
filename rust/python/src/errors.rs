//! The exception classes the bindings share: `StdannError`, the base of every
//! error stdann raises for a user to act on (the Python package's and the
//! native module's alike; `stdann.errors` re-exports it), and the classes
//! that are also ValueErrors. It is declared here, at the bottom of the
//! package, because the native errors derive from it. A class declared with
//! `create_exception!` has one base, so the ValueErrors, which have two, are
//! made when the module is imported.

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyDict, PyTuple, PyType};

create_exception!(
    _native,
    StdannError,
    PyException,
    "An error a user can act on: bad input, a diverged run, a file that could not be written. \
     The message says what is wrong and where; `stdann` reports it on one line."
);

/// An exception class made at import whose bases are `StdannError` and
/// ValueError, or another class made so.
pub struct ValueErrorClass {
    name: &'static str,
    doc: &'static str,
    class: GILOnceCell<Py<PyType>>,
}

impl ValueErrorClass {
    pub const fn new(name: &'static str, doc: &'static str) -> Self {
        Self {
            name,
            doc,
            class: GILOnceCell::new(),
        }
    }

    /// Make the class, a subclass of `parent` (None: of StdannError and
    /// ValueError), and add it to the module.
    pub fn register(
        &self,
        m: &Bound<'_, PyModule>,
        parent: Option<&ValueErrorClass>,
    ) -> PyResult<()> {
        let py = m.py();
        let bases = match parent {
            Some(p) => PyTuple::new(py, [p.class(py)?])?,
            None => PyTuple::new(
                py,
                [py.get_type::<StdannError>(), py.get_type::<PyValueError>()],
            )?,
        };
        let namespace = PyDict::new(py);
        namespace.set_item("__doc__", self.doc)?;
        namespace.set_item("__module__", "_native")?;
        let class = py
            .get_type::<PyType>()
            .call1((self.name, bases, namespace))?
            .downcast_into::<PyType>()?;
        m.add(self.name, &class)?;
        // A second import of the module (a subinterpreter) keeps the first class.
        let _ = self.class.set(py, class.unbind());
        Ok(())
    }

    fn class<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyType>> {
        self.class
            .get(py)
            .map(|c| c.bind(py).clone())
            .ok_or_else(|| PyRuntimeError::new_err(format!("{} is not registered", self.name)))
    }

    /// The exception, with `message`.
    pub fn err(&self, message: impl Into<String>) -> PyErr {
        let message = message.into();
        Python::with_gil(|py| match self.class(py) {
            Ok(class) => PyErr::from_type(class, message),
            Err(e) => e,
        })
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("StdannError", m.py().get_type::<StdannError>())
}
