"""Typed signatures of the native module stdann._native (Rust, PyO3)."""

from collections.abc import Callable, Sequence
from os import PathLike
from typing import Any, final

import numpy as np
import numpy.typing as npt

__version__: str

class StdannError(Exception):
    """An error a user can act on: bad input, a diverged run, a file that could not be
    written (stdann.errors re-exports it)."""

# ---- video (stdann-video) -------------------------------------------------

class VideoError(StdannError): ...
class VideoOpenError(VideoError): ...
class NoVideoStreamError(VideoError): ...
class VideoDecodeError(VideoError): ...
class FrameIndexError(VideoError): ...

def decode_frames(
    path: str | PathLike[str], indices: Sequence[int], autorotate: bool = True
) -> npt.NDArray[np.uint8]:
    """Frames `indices` of `path` as (N, H, W, 3) uint8 RGB, in the order asked; with
    `autorotate` turned upright as the video's display matrix asks (phone videos)."""

def augment_view(
    frames: npt.NDArray[np.uint8],
    flip: bool = False,
    jitter: tuple[float, float, float, float, tuple[int, int, int, int]] | None = None,
    grayscale: bool = False,
    blur_sigma: float | None = None,
    blur_radius: int = 5,
) -> npt.NDArray[np.uint8]:
    """One view's augmentation with the given parameters on (T, S, S, 3) uint8 RGB frames:
    flip, then colour jitter (brightness, contrast, saturation, hue, order), grayscale,
    Gaussian blur (taps beyond 3 sigma or `blur_radius` dropped)."""

def augment_presets() -> dict[str, dict[str, Any]]:
    """The augmentation presets of the Rust core as clip loader options (`augment=`):
    {"moco_v2": MoCo v2's recipe, "none": the whole frame resized}, each a dict of scale,
    ratio, flip_p, jitter_p, brightness, contrast, saturation, hue, grayscale_p, blur_p and
    blur_sigma."""

def resize_plane(
    plane: npt.NDArray[np.uint8], box: tuple[float, float, float, float], size: tuple[int, int]
) -> npt.NDArray[np.uint8]:
    """The clip loader's crop and resize of one 8-bit (H, W) plane: `box` (x, y, w, h) to
    `size` (height, width) with an antialiased bilinear filter; scale factors up to 2."""

def index_video(
    path: str | PathLike[str],
    full_decode: bool = False,
    cache_dir: str | PathLike[str] | None = None,
    refresh: bool = False,
) -> dict[str, Any]:
    """The frame index of `path` (frame_count, width, height, frame_rate, time_base, codec,
    container, mode, pts, keyframes, full_decode, rotation, mirrored, display_size), from
    the cache when still fresh; with `full_decode` or `refresh` it is scanned again and the
    cache updated. width and height are the decoded size; rotation (counterclockwise
    degrees, as ffprobe reports it) and mirrored describe the display matrix, and
    display_size is (width, height) once turned upright."""

def prepare_defaults() -> dict[str, Any]:
    """The training format's settings that prepare_video and write_video take where they are
    left out (None): short_side, keyframe_interval, crf and autorotate."""

def prepare_video(
    src: str | PathLike[str],
    dst: str | PathLike[str],
    short_side: int | None = None,
    keyframe_interval: int | None = None,
    crf: int | None = None,
    autorotate: bool | None = None,
) -> int:
    """Transcode `src` into the training format at `dst` (atomically), turned upright as its
    display matrix asks unless `autorotate` is off; returns the frame count. A setting left
    out is the training format's (prepare_defaults)."""

def write_video(
    path: str | PathLike[str],
    frames: npt.NDArray[np.uint8],
    fps: float = 25.0,
    keyframe_interval: int | None = None,
    crf: int | None = None,
) -> int:
    """Write (T, H, W, 3) uint8 RGB frames (H and W even) to `path` as H.264 in MP4, the
    training format (BT.601, limited range), atomically; returns the frame count. An
    encoder setting left out is the training format's (prepare_defaults). Bad arguments
    raise ValueError naming the file."""

@final
class ClipLoader:
    """The native clip engine behind stdann.data.VideoClipLoader."""

    def __new__(
        cls,
        paths: Sequence[str],
        frames: int,
        stride: int,
        size: int,
        views: int,
        batch_size: int,
        threads: int,
        seed: int,
        rank: int,
        world_size: int,
        prefetch: int,
        augment: dict[str, Any] | None = None,
        decode_only: bool = False,
        cache_dir: str | None = None,
        autorotate: bool = True,
    ) -> ClipLoader: ...
    def __len__(self) -> int: ...
    def start_epoch(self, epoch: int, start: int = 0) -> None:
        """Produce the batches of `epoch` from batch number `start` on."""
    def next_batch(self) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]] | None:
        """(clips (B, V, T, S, S, 3) uint8, videos (B,) int64 indices into `paths`),
        or None at the end of the epoch."""
    def skipped(self, start: int = 0) -> list[tuple[str, str]]:
        """(path, reason) of the skipped videos, from the `start`-th on."""
    def close(self) -> None: ...

# ---- cortex (stdann-cortex) -----------------------------------------------

# ---- topo (stdann-cortex swap) ----------------------------------------------

class SwapError(StdannError, ValueError): ...

def swap_optimize(
    responses: npt.NDArray[np.float32],
    positions: npt.NDArray[np.float64],
    sheet_side_mm: float,
    neighbourhood_width_mm: float,
    steps: int | None = None,
    steps_per_window: int | None = None,
    max_units: int | None = None,
    min_fill: float | None = None,
    seed: int | None = None,
    allow_constant_units: bool | None = None,
    progress: Callable[[int, int, int], object] | None = None,
    progress_every: int = 1_000_000,
) -> tuple[npt.NDArray[np.uint32], dict[str, float]]:
    """Swap-optimise positions (units, 2) mm on responses (stimuli, units). A setting left
    out (None) is the Rust core's default (SwapConfig::new: TDANN's values).

    Returns slot_of_unit (the original position each unit now occupies) and
    statistics (steps_done, swaps_accepted, windows, total_gain). `progress`
    gets (steps_done, steps_total, swaps_accepted) with the GIL held; Ctrl-C or
    an exception in it stops the run and propagates.
    """

class MapError(StdannError, ValueError): ...
class NothingToAnalyseError(MapError): ...
class NoSpectralPeakError(MapError): ...

def find_pinwheels(
    map: npt.NDArray[np.float32] | npt.NDArray[np.float64] | npt.NDArray[np.complex128],
    period: float = 360.0,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int8]]:
    """(x, y, charge) of every plaquette around which the phase winds once."""

def column_spacing(
    map: npt.NDArray[np.float32] | npt.NDArray[np.float64] | npt.NDArray[np.complex128],
    period: float = 360.0,
) -> tuple[float, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(Lambda in pixels, frequencies in cycles per pixel, radially averaged power)."""

def pinwheel_density(
    map: npt.NDArray[np.float32] | npt.NDArray[np.float64] | npt.NDArray[np.complex128],
    period: float = 360.0,
    margin_px: int = 0,
    pixel_mm: float | None = None,
) -> dict[str, Any]:
    """Counts, Lambda, area, density, positions and nearest-neighbour distances."""

def local_pinwheel_density(
    map: npt.NDArray[np.float32] | npt.NDArray[np.float64] | npt.NDArray[np.complex128],
    period: float = 360.0,
    window_columns: float = 1.0,
    margin_px: int = 0,
) -> npt.NDArray[np.float64]:
    """Pinwheels per Lambda^2 in a Gaussian window around each pixel (NaN off the sheet)."""
