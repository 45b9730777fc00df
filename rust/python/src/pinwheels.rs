//! Bindings for stdann-cortex's map topology: pinwheels, column spacing and
//! pinwheel density. Maps arrive as 2-D NumPy arrays of float32 or float64
//! angles in degrees, or complex128 vector sums.

use numpy::{Complex64, PyArray1, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use stdann_cortex::{CortexError, DensityOptions, Map, Pinwheel};

use crate::errors::ValueErrorClass;
use crate::guard::{guarded, IntoPyErr};

pub static MAP_ERROR: ValueErrorClass = ValueErrorClass::new(
    "MapError",
    "A map could not be analysed; the message says what is wrong with it.",
);
pub static NOTHING_TO_ANALYSE_ERROR: ValueErrorClass = ValueErrorClass::new(
    "NothingToAnalyseError",
    "No 2 x 2 block of the map is free of NaN or infinite values (or the margin leaves none).",
);
pub static NO_SPECTRAL_PEAK_ERROR: ValueErrorClass = ValueErrorClass::new(
    "NoSpectralPeakError",
    "The map has no spatial structure to read a column spacing from (a constant map).",
);

impl IntoPyErr for CortexError {
    fn into_py_err(self) -> PyErr {
        let msg = self.to_string();
        match self {
            CortexError::InvalidMap(_) => MAP_ERROR.err(msg),
            CortexError::NothingToAnalyse(_) => NOTHING_TO_ANALYSE_ERROR.err(msg),
            CortexError::NoSpectralPeak(_) => NO_SPECTRAL_PEAK_ERROR.err(msg),
        }
    }
}

/// The three array types the core reads without a copy.
enum Values<'py> {
    F32(PyReadonlyArray2<'py, f32>),
    F64(PyReadonlyArray2<'py, f64>),
    Complex(PyReadonlyArray2<'py, Complex64>),
}

impl<'py> Values<'py> {
    fn extract(map: &Bound<'py, PyAny>) -> PyResult<Self> {
        if let Ok(a) = map.extract::<PyReadonlyArray2<'py, f64>>() {
            return Ok(Self::F64(a));
        }
        if let Ok(a) = map.extract::<PyReadonlyArray2<'py, f32>>() {
            return Ok(Self::F32(a));
        }
        if let Ok(a) = map.extract::<PyReadonlyArray2<'py, Complex64>>() {
            return Ok(Self::Complex(a));
        }
        let described = match (map.getattr("ndim"), map.getattr("dtype")) {
            (Ok(ndim), Ok(dtype)) => format!("a {ndim}-D array of {dtype}"),
            _ => format!("a {}", map.get_type().name()?),
        };
        Err(MAP_ERROR.err(format!(
            "a map must be a 2-D array of float32, float64 (angles in degrees) or complex128, got {described}"
        )))
    }

    fn shape(&self) -> (usize, usize) {
        let s = match self {
            Self::F32(a) => a.shape(),
            Self::F64(a) => a.shape(),
            Self::Complex(a) => a.shape(),
        };
        (s[0], s[1])
    }

    /// The core's view of the map; NumPy arrays that are not C-contiguous
    /// are refused here and made contiguous by the Python wrapper.
    fn map(&self, period: f64) -> PyResult<Map<'_>> {
        let (h, w) = self.shape();
        let not_contiguous = |_| MAP_ERROR.err("the map must be C-contiguous");
        let map = match self {
            Self::F32(a) => Map::angles_f32(a.as_slice().map_err(not_contiguous)?, h, w, period),
            Self::F64(a) => Map::angles_f64(a.as_slice().map_err(not_contiguous)?, h, w, period),
            Self::Complex(a) => Map::complex(a.as_slice().map_err(not_contiguous)?, h, w),
        };
        map.map_err(CortexError::into_py_err)
    }
}

type Columns<'py> = (
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<i8>>,
);

fn pinwheel_columns<'py>(py: Python<'py>, found: &[Pinwheel]) -> Columns<'py> {
    (
        PyArray1::from_iter(py, found.iter().map(|p| p.x)),
        PyArray1::from_iter(py, found.iter().map(|p| p.y)),
        PyArray1::from_iter(py, found.iter().map(|p| p.charge)),
    )
}

/// find_pinwheels(map, period=360.0) -> (x, y, charge)
///
/// Winding number of the phase around every 2 x 2 plaquette; x is the column
/// and y the row in pixels, charge +1 or -1 (int8).
#[pyfunction]
#[pyo3(signature = (map, period = 360.0))]
fn find_pinwheels<'py>(
    py: Python<'py>,
    map: &Bound<'py, PyAny>,
    period: f64,
) -> PyResult<Columns<'py>> {
    let values = Values::extract(map)?;
    let map = values.map(period)?;
    let found = guarded(py, "finding pinwheels", || {
        stdann_cortex::find_pinwheels(&map)
    })?;
    Ok(pinwheel_columns(py, &found))
}

/// Lambda in pixels, then the frequencies (cycles per pixel) and power of the radial spectrum.
type Spectrum<'py> = (f64, Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>);

/// column_spacing(map, period=360.0) -> (wavelength_px, frequencies, power)
#[pyfunction]
#[pyo3(signature = (map, period = 360.0))]
fn column_spacing<'py>(
    py: Python<'py>,
    map: &Bound<'py, PyAny>,
    period: f64,
) -> PyResult<Spectrum<'py>> {
    let values = Values::extract(map)?;
    let map = values.map(period)?;
    let s = guarded(py, "measuring the column spacing", || {
        stdann_cortex::column_spacing(&map)
    })?;
    Ok((
        s.wavelength_px,
        PyArray1::from_vec(py, s.frequencies),
        PyArray1::from_vec(py, s.power),
    ))
}

/// pinwheel_density(map, period=360.0, margin_px=0, pixel_mm=None) -> dict
#[pyfunction]
#[pyo3(signature = (map, period = 360.0, margin_px = 0, pixel_mm = None))]
fn pinwheel_density<'py>(
    py: Python<'py>,
    map: &Bound<'py, PyAny>,
    period: f64,
    margin_px: usize,
    pixel_mm: Option<f64>,
) -> PyResult<Bound<'py, PyDict>> {
    let values = Values::extract(map)?;
    let map = values.map(period)?;
    let options = DensityOptions {
        margin_px,
        pixel_mm,
    };
    let d = guarded(py, "measuring the pinwheel density", || {
        stdann_cortex::pinwheel_density(&map, &options)
    })?;
    let out = PyDict::new(py);
    let (x, y, charge) = pinwheel_columns(py, &d.pinwheels);
    out.set_item("x", x)?;
    out.set_item("y", y)?;
    out.set_item("charge", charge)?;
    out.set_item("n_plus", d.n_plus)?;
    out.set_item("n_minus", d.n_minus)?;
    out.set_item("area_px", d.area_px)?;
    out.set_item("wavelength_px", d.spacing.wavelength_px)?;
    out.set_item("density", d.density)?;
    out.set_item("density_plus", d.density_plus)?;
    out.set_item("density_minus", d.density_minus)?;
    out.set_item("nn_any_sign", PyArray1::from_vec(py, d.nearest.any_sign))?;
    out.set_item("nn_same_sign", PyArray1::from_vec(py, d.nearest.same_sign))?;
    out.set_item(
        "nn_opposite_sign",
        PyArray1::from_vec(py, d.nearest.opposite_sign),
    )?;
    out.set_item("frequencies", PyArray1::from_vec(py, d.spacing.frequencies))?;
    out.set_item("power", PyArray1::from_vec(py, d.spacing.power))?;
    Ok(out)
}

/// local_pinwheel_density(map, period=360.0, window_columns=1.0, margin_px=0)
/// -> 2-D float64 array of pinwheels per Lambda^2, NaN off the analysed area.
#[pyfunction]
#[pyo3(signature = (map, period = 360.0, window_columns = 1.0, margin_px = 0))]
fn local_pinwheel_density<'py>(
    py: Python<'py>,
    map: &Bound<'py, PyAny>,
    period: f64,
    window_columns: f64,
    margin_px: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let values = Values::extract(map)?;
    let map = values.map(period)?;
    let options = DensityOptions {
        margin_px,
        pixel_mm: None,
    };
    let local = guarded(py, "measuring the local pinwheel density", || {
        stdann_cortex::local_pinwheel_density(&map, &options, window_columns)
    })?;
    let arr = PyArray1::from_vec(py, local.values);
    Ok(arr.reshape([local.height, local.width])?.into_any())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    MAP_ERROR.register(m, None)?;
    NOTHING_TO_ANALYSE_ERROR.register(m, Some(&MAP_ERROR))?;
    NO_SPECTRAL_PEAK_ERROR.register(m, Some(&MAP_ERROR))?;
    m.add_function(wrap_pyfunction!(find_pinwheels, m)?)?;
    m.add_function(wrap_pyfunction!(column_spacing, m)?)?;
    m.add_function(wrap_pyfunction!(pinwheel_density, m)?)?;
    m.add_function(wrap_pyfunction!(local_pinwheel_density, m)?)?;
    Ok(())
}
