//! Bindings for stdann-video: frame-exact decoding and the clip loader.

use std::path::PathBuf;

use numpy::{PyArray1, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::time::Duration;
use stdann_video::augment::AugmentConfig;
use stdann_video::clip::Work;
use stdann_video::encode::EncodeOptions;
use stdann_video::loader;
use stdann_video::sampling::ClipSpec;
use stdann_video::VideoError as CoreError;
use stdann_video::{IndexCache, IndexMode};

use crate::errors::StdannError;
use crate::guard::{guarded, IntoPyErr};

create_exception!(
    _native,
    VideoError,
    StdannError,
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

impl IntoPyErr for CoreError {
    fn into_py_err(self) -> PyErr {
        let msg = self.to_string();
        match self {
            CoreError::Open { .. } => VideoOpenError::new_err(msg),
            CoreError::NoVideoStream { .. } => NoVideoStreamError::new_err(msg),
            CoreError::Decode { .. } | CoreError::IndexMismatch { .. } => {
                VideoDecodeError::new_err(msg)
            }
            CoreError::IndexOutOfRange { .. } => FrameIndexError::new_err(msg),
            CoreError::Write { .. } => pyo3::exceptions::PyOSError::new_err(msg),
            CoreError::InvalidArgument(_) => pyo3::exceptions::PyValueError::new_err(msg),
            CoreError::NoUsableVideo(_) => VideoError::new_err(msg),
            CoreError::Internal(_) => pyo3::exceptions::PyRuntimeError::new_err(msg),
        }
    }
}

/// decode_frames(path, indices, autorotate=True) -> numpy.ndarray of shape
/// (N, H, W, 3), uint8 RGB, frames in the order asked; with `autorotate`
/// turned upright as the video's display matrix asks.
#[pyfunction]
#[pyo3(signature = (path, indices, autorotate=true))]
fn decode_frames<'py>(
    py: Python<'py>,
    path: PathBuf,
    indices: Vec<i64>,
    autorotate: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let what = format!("decoding '{}'", path.display());
    let (data, w, h) = guarded(py, &what, || {
        stdann_video::decode_frames(&path, &indices, autorotate)
    })?;
    let n = indices.len();
    let arr = PyArray1::from_vec(py, data);
    Ok(arr.reshape([n, h as usize, w as usize, 3])?.into_any())
}

/// augment_view(frames, ...) -> numpy.ndarray: one view's augmentation with
/// given parameters applied to `frames`, a (T, S, S, 3) uint8 RGB array of
/// frames already cropped and scaled; for tests against torchvision.
/// `jitter` is (brightness, contrast, saturation, hue, order), order a
/// permutation of 0..4 (0 brightness, 1 contrast, 2 saturation, 3 hue).
/// The checks are the core's (`Jitter::from_codes`, `ViewParams::validate`).
#[pyfunction]
#[pyo3(signature = (frames, flip=false, jitter=None, grayscale=false, blur_sigma=None, blur_radius=5))]
fn augment_view<'py>(
    py: Python<'py>,
    frames: numpy::PyReadonlyArray4<'py, u8>,
    flip: bool,
    jitter: Option<(f32, f32, f32, f32, [u8; 4])>,
    grayscale: bool,
    blur_sigma: Option<f32>,
    blur_radius: usize,
) -> PyResult<Bound<'py, PyAny>> {
    use stdann_video::augment::{Jitter, ViewParams};
    let shape = frames.shape().to_vec();
    if shape[1] != shape[2] || shape[3] != 3 || shape[1] == 0 {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "frames must be (T, S, S, 3) with S > 0, got {shape:?}"
        )));
    }
    let jitter = jitter
        .map(|(brightness, contrast, saturation, hue, order)| {
            Jitter::from_codes(brightness, contrast, saturation, hue, order)
        })
        .transpose()
        .map_err(pyo3::exceptions::PyValueError::new_err)?;
    let size = shape[1];
    let params = ViewParams {
        crop: stdann_video::convert::CropBox {
            x: 0,
            y: 0,
            w: size as u32,
            h: size as u32,
        },
        flip,
        jitter,
        grayscale,
        blur_sigma,
        blur_radius,
    };
    params
        .validate()
        .map_err(pyo3::exceptions::PyValueError::new_err)?;
    let mut data = frames.as_slice()?.to_vec();
    guarded(py, "augmenting a view", || {
        params.apply(&mut data, size);
        Ok::<_, CoreError>(())
    })?;
    Ok(PyArray1::from_vec(py, data).reshape(shape)?.into_any())
}

/// resize_plane(plane, box, size) -> numpy.ndarray: the loader's crop and
/// resize of one 8-bit plane: `box` (x, y, w, h) of `plane` (H, W) to
/// `size` (height, width), for tests against torchvision's resize. Scale
/// factors above 2 are refused (the loader gives those to swscale).
#[pyfunction]
fn resize_plane<'py>(
    py: Python<'py>,
    plane: numpy::PyReadonlyArray2<'py, u8>,
    r#box: (f64, f64, f64, f64),
    size: (usize, usize),
) -> PyResult<Bound<'py, PyAny>> {
    use stdann_video::resample::{PlaneRef, PlaneResampler, Region};
    let (h, w) = (plane.shape()[0], plane.shape()[1]);
    let (x, y, bw, bh) = r#box;
    let (out_h, out_w) = size;
    let inside = x >= 0.0 && y >= 0.0 && bw > 0.0 && bh > 0.0;
    if h == 0
        || w == 0
        || out_h == 0
        || out_w == 0
        || !inside
        || x + bw > w as f64
        || y + bh > h as f64
    {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "box {:?} must lie inside the {h}x{w} plane and size {size:?} be positive",
            r#box
        )));
    }
    let region = Region { x, y, w: bw, h: bh };
    if !PlaneResampler::handles(region, out_w, out_h) {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "scale factors above 2 are not handled by this resampler",
        ));
    }
    let data = plane.as_slice()?.to_vec();
    let mut out = vec![0u8; out_w * out_h];
    guarded(py, "resizing a plane", || {
        let plane = PlaneRef {
            data: &data,
            stride: w,
            width: w,
            height: h,
        };
        PlaneResampler::new().resize(&plane, region, out_w, out_h, &mut out, out_w);
        Ok::<_, CoreError>(())
    })?;
    Ok(PyArray1::from_vec(py, out)
        .reshape([out_h, out_w])?
        .into_any())
}

/// Scan (or load from the cache) the frame index of one video and return it as a dict.
#[pyfunction]
#[pyo3(signature = (path, full_decode=false, cache_dir=None, refresh=false))]
fn index_video<'py>(
    py: Python<'py>,
    path: PathBuf,
    full_decode: bool,
    cache_dir: Option<PathBuf>,
    refresh: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let what = format!("indexing '{}'", path.display());
    let index = guarded(py, &what, || {
        IndexCache::new(cache_dir.unwrap_or_else(stdann_video::index::default_cache_dir)).index(
            &path,
            full_decode,
            refresh,
        )
    })?;
    let d = PyDict::new(py);
    d.set_item("path", index.path.to_string_lossy().to_string())?;
    d.set_item("frame_count", index.frame_count)?;
    d.set_item("width", index.width)?;
    d.set_item("height", index.height)?;
    d.set_item("frame_rate", index.frame_rate)?;
    d.set_item("time_base", index.time_base)?;
    d.set_item("codec", index.codec.clone())?;
    d.set_item("container", index.container.clone())?;
    d.set_item(
        "mode",
        match index.mode {
            IndexMode::Timestamps => "timestamps",
            IndexMode::Sequential => "sequential",
        },
    )?;
    d.set_item("pts", index.pts.clone())?;
    d.set_item(
        "keyframes",
        index
            .seek_points
            .iter()
            .map(|s| s.frame)
            .collect::<Vec<_>>(),
    )?;
    d.set_item("full_decode", index.full_decode)?;
    // As ffprobe and PyAV report a display matrix: counterclockwise degrees.
    d.set_item("rotation", index.orientation.rotation_ccw())?;
    d.set_item("mirrored", index.orientation.mirrored())?;
    let (dw, dh) = index.orientation.display_size(index.width, index.height);
    d.set_item("display_size", (dw, dh))?;
    Ok(d)
}

/// One batch as handed to Python: the clips array and the video of each sample.
type ClipsAndVideos<'py> = (Bound<'py, PyAny>, Bound<'py, PyArray1<i64>>);

/// The native clip engine behind stdann.data.VideoClipLoader.
#[pyclass(module = "stdann._native")]
struct ClipLoader {
    inner: Option<loader::ClipLoader>,
    batch_shape: [usize; 6],
}

#[pymethods]
impl ClipLoader {
    #[new]
    #[pyo3(signature = (paths, frames, stride, size, views, batch_size, threads, seed, rank, world_size,
                        prefetch, augment=None, decode_only=false, cache_dir=None, autorotate=true))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        paths: Vec<PathBuf>,
        frames: usize,
        stride: usize,
        size: u32,
        views: usize,
        batch_size: usize,
        threads: usize,
        seed: u64,
        rank: usize,
        world_size: usize,
        prefetch: usize,
        augment: Option<&Bound<'_, PyDict>>,
        decode_only: bool,
        cache_dir: Option<PathBuf>,
        autorotate: bool,
    ) -> PyResult<Self> {
        let augment = augment_config(size, augment)?;
        let config = loader::LoaderConfig {
            spec: ClipSpec {
                frames,
                stride,
                views,
            },
            augment,
            batch_size,
            threads,
            prefetch,
            seed,
            rank,
            world_size,
            work: if decode_only {
                Work::DecodeOnly
            } else {
                Work::Full
            },
            cache_dir,
            autorotate,
        };
        let inner = guarded(py, "starting the clip loader", || {
            loader::ClipLoader::new(paths, config)
        })?;
        let s = size as usize;
        Ok(ClipLoader {
            inner: Some(inner),
            batch_shape: [batch_size, views, frames, s, s, 3],
        })
    }

    /// Batches in one epoch.
    fn __len__(&self) -> usize {
        self.inner.as_ref().map_or(0, |l| l.batches_per_epoch())
    }

    /// Start producing the batches of `epoch` from batch `start` on.
    #[pyo3(signature = (epoch, start=0))]
    fn start_epoch(&self, epoch: u64, start: usize) -> PyResult<()> {
        self.loader()?.start_epoch(epoch, start);
        Ok(())
    }

    /// The next batch as (clips, videos): clips a (B, V, T, S, S, 3) uint8
    /// array, videos the (B,) int64 index into `paths` of each sample's video;
    /// None at the end of the epoch. Waits without the GIL and answers Ctrl-C
    /// promptly.
    fn next_batch<'py>(&self, py: Python<'py>) -> PyResult<Option<ClipsAndVideos<'py>>> {
        let l = self.loader()?;
        loop {
            let got = guarded(py, "waiting for a batch", || {
                Ok::<_, CoreError>(l.next_batch(Duration::from_millis(50)))
            })?;
            match got {
                Ok(Some(batch)) => {
                    let videos = PyArray1::from_iter(py, batch.videos.iter().map(|&v| v as i64));
                    if batch.data.is_empty() {
                        // decode_only: nothing to hand over but the count.
                        let clips = PyArray1::<u8>::zeros(py, [0], false).into_any();
                        return Ok(Some((clips, videos)));
                    }
                    let owner = Bound::new(
                        py,
                        BatchBuffer {
                            data: batch.data,
                            pool: l.pool(),
                        },
                    )?;
                    let held = owner.borrow();
                    let view = numpy::ndarray::ArrayView1::from(&held.data[..]);
                    // SAFETY: the array's memory is `owner.data`, which is never
                    // resized or moved while `owner` lives, and `owner` is the
                    // array's base object, so it lives as long as the array.
                    let arr =
                        unsafe { PyArray1::borrow_from_array(&view, owner.clone().into_any()) };
                    drop(held);
                    let clips = arr.reshape(self.batch_shape)?.into_any();
                    return Ok(Some((clips, videos)));
                }
                Ok(None) => return Ok(None),
                Err(loader::NextError::Timeout) => py.check_signals()?,
                Err(loader::NextError::Failed(e)) => return Err(e.into_py_err()),
            }
        }
    }

    /// (path, reason) for every video skipped so far, from the `start`-th on.
    #[pyo3(signature = (start=0))]
    fn skipped(&self, start: usize) -> Vec<(String, String)> {
        self.inner.as_ref().map_or_else(Vec::new, |l| {
            l.skipped_since(start)
                .into_iter()
                .map(|(p, r)| (p.to_string_lossy().to_string(), r))
                .collect()
        })
    }

    /// Stop the worker threads; the loader cannot be used afterwards.
    fn close(&mut self, py: Python<'_>) {
        if let Some(mut l) = self.inner.take() {
            // A panic while stopping the workers cannot be acted on here.
            let _ = guarded(py, "closing the clip loader", move || {
                l.close();
                Ok::<_, CoreError>(())
            });
        }
    }
}

/// A loader Python drops without closing it (garbage collection, interpreter
/// exit) stops its workers with the GIL released, so that nothing a worker
/// might wait for is held while it is joined.
impl Drop for ClipLoader {
    fn drop(&mut self) {
        if let Some(mut l) = self.inner.take() {
            Python::with_gil(|py| py.allow_threads(move || l.close()));
        }
    }
}

/// Owns the memory of one batch array; when Python frees the array, the
/// buffer goes back to the loader's pool for a later batch.
#[pyclass(module = "stdann._native")]
struct BatchBuffer {
    data: Vec<u8>,
    pool: std::sync::Arc<loader::BufferPool>,
}

impl Drop for BatchBuffer {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.data));
    }
}

impl ClipLoader {
    fn loader(&self) -> PyResult<&loader::ClipLoader> {
        self.inner
            .as_ref()
            .ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("the loader is closed"))
    }
}

fn augment_config(size: u32, d: Option<&Bound<'_, PyDict>>) -> PyResult<AugmentConfig> {
    let mut cfg = AugmentConfig::moco_v2(size);
    let Some(d) = d else { return Ok(cfg) };
    for (k, v) in d.iter() {
        let key: String = k.extract()?;
        match key.as_str() {
            "scale" => cfg.scale = v.extract()?,
            "ratio" => cfg.ratio = v.extract()?,
            "flip_p" => cfg.flip_p = v.extract()?,
            "jitter_p" => cfg.jitter_p = v.extract()?,
            "brightness" => cfg.brightness = v.extract()?,
            "contrast" => cfg.contrast = v.extract()?,
            "saturation" => cfg.saturation = v.extract()?,
            "hue" => cfg.hue = v.extract()?,
            "grayscale_p" => cfg.grayscale_p = v.extract()?,
            "blur_p" => cfg.blur_p = v.extract()?,
            "blur_sigma" => cfg.blur_sigma = v.extract()?,
            other => {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "unknown augmentation option '{other}'"
                )))
            }
        }
    }
    cfg.validate()
        .map_err(pyo3::exceptions::PyValueError::new_err)?;
    Ok(cfg)
}

/// The options of `cfg` as `augment_config` reads them (all but the size).
fn augment_options<'py>(py: Python<'py>, cfg: &AugmentConfig) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("scale", cfg.scale)?;
    d.set_item("ratio", cfg.ratio)?;
    d.set_item("flip_p", cfg.flip_p)?;
    d.set_item("jitter_p", cfg.jitter_p)?;
    d.set_item("brightness", cfg.brightness)?;
    d.set_item("contrast", cfg.contrast)?;
    d.set_item("saturation", cfg.saturation)?;
    d.set_item("hue", cfg.hue)?;
    d.set_item("grayscale_p", cfg.grayscale_p)?;
    d.set_item("blur_p", cfg.blur_p)?;
    d.set_item("blur_sigma", cfg.blur_sigma)?;
    Ok(d)
}

/// augment_presets() -> dict: the augmentation presets of the core crate as
/// loader options, {"moco_v2": {...}, "none": {...}} (`AugmentConfig::moco_v2`
/// and `AugmentConfig::none`; the size is the loader's own argument).
#[pyfunction]
fn augment_presets(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let size = AugmentConfig::default().size;
    let presets = PyDict::new(py);
    presets.set_item(
        "moco_v2",
        augment_options(py, &AugmentConfig::moco_v2(size))?,
    )?;
    presets.set_item("none", augment_options(py, &AugmentConfig::none(size))?)?;
    Ok(presets)
}

/// prepare_defaults() -> dict: the training format's settings that
/// `prepare_video` and `write_video` take when left out (`PrepareOptions` and
/// `EncodeOptions` of the core): short_side, keyframe_interval, crf, autorotate.
#[pyfunction]
fn prepare_defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let defaults = stdann_video::prepare::PrepareOptions::default();
    let d = PyDict::new(py);
    d.set_item("short_side", defaults.short_side)?;
    d.set_item("keyframe_interval", defaults.encode.keyframe_interval)?;
    d.set_item("crf", defaults.encode.crf)?;
    d.set_item("autorotate", defaults.autorotate)?;
    Ok(d)
}

/// The encoder settings given, the core's defaults for those left out.
fn encode_options(keyframe_interval: Option<u32>, crf: Option<u32>) -> EncodeOptions {
    let defaults = EncodeOptions::default();
    EncodeOptions {
        keyframe_interval: keyframe_interval.unwrap_or(defaults.keyframe_interval),
        crf: crf.unwrap_or(defaults.crf),
    }
}

/// Transcode one video into the training format, turned upright unless
/// `autorotate` is off; returns its frame count. A setting left out (None)
/// is the core's (`prepare_defaults`).
#[pyfunction]
#[pyo3(signature = (src, dst, short_side=None, keyframe_interval=None, crf=None, autorotate=None))]
fn prepare_video(
    py: Python<'_>,
    src: PathBuf,
    dst: PathBuf,
    short_side: Option<u32>,
    keyframe_interval: Option<u32>,
    crf: Option<u32>,
    autorotate: Option<bool>,
) -> PyResult<usize> {
    let defaults = stdann_video::prepare::PrepareOptions::default();
    let opts = stdann_video::prepare::PrepareOptions {
        short_side: short_side.unwrap_or(defaults.short_side),
        encode: encode_options(keyframe_interval, crf),
        autorotate: autorotate.unwrap_or(defaults.autorotate),
    };
    let what = format!("preparing '{}'", src.display());
    guarded(py, &what, || {
        stdann_video::prepare::prepare_video(&src, &dst, &opts)
    })
}

/// Write (T, H, W, 3) uint8 RGB frames to `path` as H.264 in the training
/// format (atomically); returns the frame count. An encoder setting left out
/// (None) is the core's (`prepare_defaults`).
#[pyfunction]
#[pyo3(signature = (path, frames, fps=25.0, keyframe_interval=None, crf=None))]
fn write_video(
    py: Python<'_>,
    path: PathBuf,
    frames: &Bound<'_, PyAny>,
    fps: f64,
    keyframe_interval: Option<u32>,
    crf: Option<u32>,
) -> PyResult<usize> {
    let shape_error = |got: String| {
        pyo3::exceptions::PyValueError::new_err(format!(
            "cannot write '{}': frames must be a uint8 array of shape (T, H, W, 3), got {got}",
            path.display()
        ))
    };
    let Ok(array) = frames.downcast::<numpy::PyArray4<u8>>() else {
        let got = match frames.downcast::<numpy::PyUntypedArray>() {
            Ok(a) => format!("{} of shape {:?}", a.dtype(), a.shape()),
            Err(_) => frames.get_type().name()?.to_string(),
        };
        return Err(shape_error(got));
    };
    let shape = array.shape().to_vec();
    if shape[3] != 3 {
        return Err(shape_error(format!("shape {shape:?}")));
    }
    let (Ok(height), Ok(width)) = (u32::try_from(shape[1]), u32::try_from(shape[2])) else {
        return Err(shape_error(format!("shape {shape:?}")));
    };
    // A copy, so that no Python thread can change the frames while they are encoded.
    let frames = array
        .try_readonly()
        .map_err(|e| shape_error(format!("an array that cannot be read ({e})")))?;
    let data = match frames.as_slice() {
        Ok(contiguous) => contiguous.to_vec(),
        Err(_) => frames.as_array().iter().copied().collect(),
    };
    let opts = encode_options(keyframe_interval, crf);
    let what = format!("writing '{}'", path.display());
    guarded(py, &what, || {
        stdann_video::encode::write_video(&path, &data, shape[0], height, width, fps, &opts)
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("VideoError", py.get_type::<VideoError>())?;
    m.add("VideoOpenError", py.get_type::<VideoOpenError>())?;
    m.add("NoVideoStreamError", py.get_type::<NoVideoStreamError>())?;
    m.add("VideoDecodeError", py.get_type::<VideoDecodeError>())?;
    m.add("FrameIndexError", py.get_type::<FrameIndexError>())?;
    m.add_function(wrap_pyfunction!(decode_frames, m)?)?;
    m.add_function(wrap_pyfunction!(augment_view, m)?)?;
    m.add_function(wrap_pyfunction!(augment_presets, m)?)?;
    m.add_function(wrap_pyfunction!(resize_plane, m)?)?;
    m.add_function(wrap_pyfunction!(index_video, m)?)?;
    m.add_function(wrap_pyfunction!(prepare_defaults, m)?)?;
    m.add_function(wrap_pyfunction!(prepare_video, m)?)?;
    m.add_function(wrap_pyfunction!(write_video, m)?)?;
    m.add_class::<ClipLoader>()?;
    Ok(())
}
