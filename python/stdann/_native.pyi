"""Typed signatures of the native module stdann._native (Rust, PyO3)."""

from collections.abc import Callable, Sequence
from os import PathLike

import numpy as np
import numpy.typing as npt

__version__: str

# ---- video (stdann-video) -------------------------------------------------

class VideoError(Exception): ...
class VideoOpenError(VideoError): ...
class NoVideoStreamError(VideoError): ...
class VideoDecodeError(VideoError): ...
class FrameIndexError(VideoError): ...

def decode_frames(path: str | PathLike[str], indices: Sequence[int]) -> npt.NDArray[np.uint8]:
    """Frames `indices` of `path` as (N, H, W, 3) uint8 RGB, in the order asked."""

# ---- cortex (stdann-cortex) -----------------------------------------------

# ---- topo (stdann-cortex swap) ----------------------------------------------

class SwapError(ValueError): ...

def swap_optimize(
    responses: npt.NDArray[np.float32],
    positions: npt.NDArray[np.float64],
    sheet_side_mm: float,
    neighbourhood_width_mm: float,
    steps: int,
    steps_per_window: int = 500,
    max_units: int = 500,
    min_fill: float = 0.25,
    seed: int = 0,
    allow_constant_units: bool = False,
    progress: Callable[[int, int, int], object] | None = None,
    progress_every: int = 1_000_000,
) -> tuple[npt.NDArray[np.uint32], dict[str, float]]:
    """Swap-optimise positions (units, 2) mm on responses (stimuli, units).

    Returns slot_of_unit (the original position each unit now occupies) and
    statistics (steps_done, swaps_accepted, windows, total_gain). `progress`
    gets (steps_done, steps_total, swaps_accepted) with the GIL held; Ctrl-C or
    an exception in it stops the run and propagates.
    """
