"""Videos the tests encode themselves with PyAV, in several codecs and containers.

Every frame draws its own index as a pattern of bars plus a moving gradient, so
neighbouring frames differ clearly and a frame can be identified by content.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def synthetic_frame(i: int, width: int, height: int) -> np.ndarray:
    """Frame `i`: a gradient that moves 3 px per frame, with i written as 8 bars."""
    yy, xx = np.mgrid[0:height, 0:width]
    r = (xx * 4 + i * 12) % 256
    g = (yy * 4 + i * 7) % 256
    b = ((xx + yy) * 2 + i * 20) % 256
    img = np.stack([r, g, b], axis=-1).astype(np.uint8)
    bar_w = max(width // 8, 1)
    for bit in range(8):
        if (i >> bit) & 1:
            img[: height // 4, bit * bar_w : (bit + 1) * bar_w] = 255
        else:
            img[: height // 4, bit * bar_w : (bit + 1) * bar_w] = 0
    return img


def encode(
    path: Path,
    codec: str,
    frames: int = 60,
    width: int = 128,
    height: int = 96,
    rate: int = 25,
    gop: int = 12,
    b_frames: int = 0,
    pix_fmt: str = "yuv420p",
    options: dict[str, str] | None = None,
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    static: np.ndarray | None = None,
) -> Path:
    """Encode a synthetic video; `pts` (in `time_base`) makes a variable frame rate."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate, options=options or {})
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.codec_context.gop_size = gop
        if b_frames:
            stream.codec_context.max_b_frames = b_frames
        if time_base is not None:
            stream.codec_context.time_base = time_base
            stream.time_base = time_base
        for i in range(frames):
            img = static if static is not None else synthetic_frame(i, width, height)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            if pts is not None:
                frame.pts = pts[i]
                frame.time_base = time_base
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def encode_audio_only(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=16000)
        samples = (np.sin(np.arange(16000) / 10.0) * 3000).astype(np.int16)
        frame_size = stream.codec_context.frame_size or 1024
        for start in range(0, len(samples) - frame_size, frame_size):
            chunk = samples[start : start + frame_size][None, :]
            frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="mono")
            frame.sample_rate = 16000
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def make_corpus(root: Path) -> dict[str, Path]:
    """The generated videos the parity tests run on, by name."""
    root.mkdir(parents=True, exist_ok=True)
    vfr_pts = list(np.cumsum([0] + [40, 40, 80, 20, 40, 120, 40, 40, 60, 20] * 6)[:60])
    return {
        "h264_bframes.mp4": encode(root / "h264_bframes.mp4", "libx264", b_frames=3),
        "h264_open_gop.mkv": encode(
            root / "h264_open_gop.mkv",
            "libx264",
            b_frames=2,
            options={"x264-params": "open-gop=1:keyint=15:min-keyint=15"},
        ),
        "vp9.webm": encode(root / "vp9.webm", "libvpx-vp9", options={"deadline": "realtime"}),
        "mpeg4.avi": encode(root / "mpeg4.avi", "mpeg4", b_frames=2),
        "mjpeg.avi": encode(root / "mjpeg.avi", "mjpeg", pix_fmt="yuvj420p"),
        "hevc.mov": encode(
            root / "hevc.mov", "libx265", options={"x265-params": "log-level=error:bframes=2"}
        ),
        "av1.mkv": encode(root / "av1.mkv", "libsvtav1", options={"preset": "12"}),
        "vfr_h264.mp4": encode(
            root / "vfr_h264.mp4",
            "libx264",
            pts=[int(p) for p in vfr_pts],
            time_base=Fraction(1, 1000),
        ),
    }
