"""Video data: the native clip loader, the PyAV reference decoder, sample videos, the
built-in corpus, datasets' split and annotation files."""

from stdann._native import (
    FrameIndexError,
    NoVideoStreamError,
    VideoDecodeError,
    VideoError,
    VideoOpenError,
    decode_frames,
    index_video,
)
from stdann.data.builtin import builtin_corpus, write_builtin_corpus
from stdann.data.lists import VideoList, VideoListError, read_video_list
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
    "VideoList",
    "VideoListError",
    "VideoOpenError",
    "builtin_corpus",
    "decode_frames",
    "index_video",
    "read_video_list",
    "sample_videos",
    "write_builtin_corpus",
]
