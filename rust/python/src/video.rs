//! Bindings for stdann-video: frame-exact decoding and the clip loader.

use std::path::PathBuf;

use numpy::{PyArray1, PyArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use stdann_video::VideoError as CoreError;

create_exception!(
    _native,
    VideoError,
    PyException,
    "A video could not be used; the message names the file and the reason."
);
create_exception!(
    _native,
    VideoOpenError,
    VideoError,
    "The file could not be opened as a video (missing, empty, not a video, truncated)."
);
create_exception!(
    _native,
    NoVideoStreamError,
    VideoError,
    "The file opened but holds no video stream (audio only, for example)."
);
create_exception!(
    _native,
    VideoDecodeError,
    VideoError,
    "The video opened but its frames could not be decoded."
);
create_exception!(
    _native,
    FrameIndexError,
    VideoError,
    "A frame index is outside the video."
);

pub fn to_py_err(err: CoreError) -> PyErr {
    let msg = err.to_string();
    match err {
        CoreError::Open { .. } => VideoOpenError::new_err(msg),
        CoreError::NoVideoStream { .. } => NoVideoStreamError::new_err(msg),
        CoreError::Decode { .. } => VideoDecodeError::new_err(msg),
        CoreError::IndexOutOfRange { .. } => FrameIndexError::new_err(msg),
        CoreError::Write { .. } => pyo3::exceptions::PyOSError::new_err(msg),
        CoreError::InvalidArgument(_) => pyo3::exceptions::PyValueError::new_err(msg),
    }
}

/// Run `f` without the GIL and turn a panic into a Python exception that names
/// what was being done, so no panic crosses the FFI.
pub fn guarded<T: Send>(
    py: Python<'_>,
    what: &str,
    f: impl FnOnce() -> stdann_video::Result<T> + Send,
) -> PyResult<T> {
    let out = py.allow_threads(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    match out {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(to_py_err(e)),
        Err(_) => Err(VideoError::new_err(format!("internal error while {what}"))),
    }
}

/// decode_frames(path, indices) -> numpy.ndarray of shape (N, H, W, 3), uint8 RGB,
/// frames in the order asked.
#[pyfunction]
fn decode_frames<'py>(
    py: Python<'py>,
    path: PathBuf,
    indices: Vec<i64>,
) -> PyResult<Bound<'py, PyAny>> {
    let what = format!("decoding '{}'", path.display());
    let (data, w, h) = guarded(py, &what, || stdann_video::decode_frames(&path, &indices))?;
    let n = indices.len();
    let arr = PyArray1::from_vec(py, data);
    Ok(arr.reshape([n, h as usize, w as usize, 3])?.into_any())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("VideoError", py.get_type::<VideoError>())?;
    m.add("VideoOpenError", py.get_type::<VideoOpenError>())?;
    m.add("NoVideoStreamError", py.get_type::<NoVideoStreamError>())?;
    m.add("VideoDecodeError", py.get_type::<VideoDecodeError>())?;
    m.add("FrameIndexError", py.get_type::<FrameIndexError>())?;
    m.add_function(wrap_pyfunction!(decode_frames, m)?)?;
    Ok(())
}
