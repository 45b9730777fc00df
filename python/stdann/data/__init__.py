"""Video data: the native clip loader, the PyAV reference decoder, sample videos."""

from stdann._native import (
    FrameIndexError,
    NoVideoStreamError,
    VideoDecodeError,
    VideoError,
    VideoOpenError,
    decode_frames,
    index_video,
)
from stdann.data.loader import MOCO_V2_AUGMENT, NO_AUGMENT, ClipBatch, VideoClipLoader
from stdann.data.samples import sample_videos

__all__ = [
    "MOCO_V2_AUGMENT",
    "NO_AUGMENT",
    "ClipBatch",
    "FrameIndexError",
    "NoVideoStreamError",
    "VideoClipLoader",
    "VideoDecodeError",
    "VideoError",
    "VideoOpenError",
    "decode_frames",
    "index_video",
    "sample_videos",
]
