"""Typed signatures of the native module stdann._native (Rust, PyO3)."""

from collections.abc import Sequence
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
