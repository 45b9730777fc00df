"""Clip pipeline speed: the native loader against PyAV, decord2, torchcodec and
the decode limit, on the sample videos as they are and after `stdann prepare`.

Workload (issue: the clip pipeline): samples of 2 views x 16 frames at stride 2,
112 x 112, random starts; per view seek, decode, RGB, random resized crop,
resize, flip (p = 0.5) and colour jitter (brightness, contrast and saturation
factors in [0.6, 1.4], every view). A clip is one view (16 frames); rates are
clips/s. Every loader does that same work, so the native loader runs with
`BENCH_AUGMENT`; one more row gives the native loader with the full MoCo v2
recipe (jitter p = 0.8 with hue, grayscale, Gaussian blur), which is more
work than the peers do. The decode limit is FFmpeg decoding only the frames
each clip needs, from the keyframe before it, through the native reader with
no conversion.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from stdann import _native
from stdann.data import VideoClipLoader, sample_videos
from stdann.data.loader import MOCO_V2_AUGMENT
from stdann.data.pyav_reference import PyAVClipReader

FRAMES, STRIDE, SIZE, VIEWS = 16, 2, 112, 2
ROOT = Path(__file__).resolve().parent.parent / ".benchmarks"
#: The work the PyAV reference does per view (`read_view`): crop, resize, flip,
#: brightness, contrast and saturation. The native loader applies the three in
#: a random order, with a clamp after each (torchvision's ColorJitter).
BENCH_AUGMENT = dict(MOCO_V2_AUGMENT, jitter_p=1.0, hue=0.0, grayscale_p=0.0, blur_p=0.0)


def prepared_copies(videos: list[Path]) -> list[Path]:
    out = []
    for v in videos:
        dst = ROOT / "prepared" / f"{v.stem}.mp4"
        if not dst.exists():
            _native.prepare_video(str(v), str(dst), short_side=128, keyframe_interval=32)
        out.append(dst)
    return out


def native_rate(paths, samples, threads, decode_only=False, augment=BENCH_AUGMENT) -> float:
    for p in paths:
        _native.index_video(str(p))
    reps = max(1, samples // len(paths))
    with VideoClipLoader(
        list(paths) * reps,
        frames=FRAMES,
        stride=STRIDE,
        size=SIZE,
        views=VIEWS,
        batch_size=1,
        threads=threads,
        augment=augment,
        decode_only=decode_only,
    ) as loader:
        t = time.perf_counter()
        n = sum(1 for _ in loader)
        dt = time.perf_counter() - t
    return n * VIEWS / dt


def plan_views(rng, frame_count, width, height):
    span = (FRAMES - 1) * STRIDE + 1
    views = []
    for _ in range(VIEWS):
        start = int(rng.integers(0, max(frame_count - span, 0) + 1))
        idx = [min(start + t * STRIDE, frame_count - 1) for t in range(FRAMES)]
        area = width * height * rng.uniform(0.2, 1.0)
        ratio = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        w = int(min(width, round(np.sqrt(area * ratio))))
        h = int(min(height, round(np.sqrt(area / ratio))))
        x = int(rng.integers(0, width - w + 1))
        y = int(rng.integers(0, height - h + 1))
        views.append((idx, (x, y, w, h), bool(rng.random() < 0.5), rng.uniform(0.6, 1.4, 3)))
    return views


def pyav_rate(paths, samples) -> float:
    import torch

    torch.set_num_threads(1)
    readers = [PyAVClipReader(p) for p in paths]
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    clips = 0
    for k in range(samples):
        r = readers[k % len(readers)]
        first = r._container.streams.video[0]
        for idx, crop, flip, (b, c, s) in plan_views(rng, r.frame_count, first.width, first.height):
            r.read_view(idx, crop, SIZE, flip, b, c, s)
            clips += 1
    dt = time.perf_counter() - t
    for r in readers:
        r.close()
    return clips / dt


def decord_rate(paths, samples) -> float | None:
    try:
        import decord
        import torch
    except Exception:
        return None
    torch.set_num_threads(1)
    readers = [decord.VideoReader(str(p), ctx=decord.cpu(0), num_threads=1) for p in paths]
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    clips = 0
    for k in range(samples):
        vr = readers[k % len(readers)]
        h, w = vr[0].shape[:2]
        for idx, (x, y, cw, ch), flip, _ in plan_views(rng, len(vr), w, h):
            frames = torch.from_numpy(vr.get_batch(idx).asnumpy()[:, y : y + ch, x : x + cw])
            frames = torch.nn.functional.interpolate(
                frames.permute(0, 3, 1, 2).float(),
                size=(SIZE, SIZE),
                mode="bilinear",
                antialias=True,
            )
            if flip:
                frames = frames.flip(-1)
            clips += 1
    return clips / (time.perf_counter() - t)


def torchcodec_rate(paths, samples) -> float | None:
    try:
        import torch
        from torchcodec.decoders import VideoDecoder
    except Exception:
        return None
    torch.set_num_threads(1)
    try:
        decoders = [VideoDecoder(str(p), seek_mode="exact", num_ffmpeg_threads=1) for p in paths]
    except Exception:
        return None
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    clips = 0
    for k in range(samples):
        d = decoders[k % len(decoders)]
        n = d.metadata.num_frames
        h, w = d.metadata.height, d.metadata.width
        for idx, (x, y, cw, ch), flip, _ in plan_views(rng, n, w, h):
            frames = d.get_frames_at(idx).data[:, :, y : y + ch, x : x + cw].float()
            frames = torch.nn.functional.interpolate(
                frames, size=(SIZE, SIZE), mode="bilinear", antialias=True
            )
            if flip:
                frames = frames.flip(-1)
            clips += 1
    return clips / (time.perf_counter() - t)


def best_of(repeats: int, fn, *args, **kw) -> float:
    """The best rate of several runs: other load on the machine only slows a run down."""
    return max(fn(*args, **kw) for _ in range(repeats))


def run(quick: bool = False) -> list[dict]:
    rows = []
    source = sample_videos()
    prepared = prepared_copies(source)
    threads = os.cpu_count() or 1
    repeats = 1 if quick else 3
    for label, paths, samples in (
        ("source", source, 12 if quick else 24),
        ("prepared", prepared, 24 if quick else 96),
    ):
        section = f"clip pipeline, sample videos {label} (clips/s, 1 clip = 16 frames x 112 px)"
        # The native rates are measured in turns (limit, 1 thread, all threads,
        # MoCo v2) rather than one after another, so that a slow spell of the
        # machine does not fall on one side of a ratio only.
        rounds = [
            (
                native_rate(paths, samples, 1, decode_only=True),
                native_rate(paths, samples, 1),
                native_rate(paths, samples * threads, threads),
                native_rate(paths, samples, 1, augment=MOCO_V2_AUGMENT),
            )
            # A native run takes about a second: five rounds cost little.
            for _ in range(1 if quick else 5)
        ]
        limit, one, many, moco = (max(r[i] for r in rounds) for i in range(4))
        peer_samples = max(4, samples // 4)
        pyav = best_of(repeats, pyav_rate, paths, peer_samples)
        peers = {
            "decord2": decord_rate(paths, peer_samples),
            "torchcodec": torchcodec_rate(paths, peer_samples),
        }
        if repeats > 1:
            peers = {
                name: (
                    None
                    if rate is None
                    else max(rate, *(fn(paths, peer_samples) for _ in range(repeats - 1)))
                )
                for (name, rate), fn in zip(
                    peers.items(), (decord_rate, torchcodec_rate), strict=True
                )
            }
        rows += [
            dict(section=section, case="decode limit, 1 thread", value=limit, unit="clips/s"),
            dict(section=section, case="native loader, 1 thread", value=one, unit="clips/s"),
            dict(
                section=section,
                case=f"native loader, {threads} threads",
                value=many,
                unit="clips/s",
            ),
            dict(
                section=section,
                case="native loader, full MoCo v2 augmentation, 1 thread",
                value=moco,
                unit="clips/s",
            ),
            dict(section=section, case="PyAV reference, 1 thread", value=pyav, unit="clips/s"),
        ]
        for name, rate in peers.items():
            rows.append(
                dict(
                    section=section,
                    case=f"{name}, 1 thread",
                    value=float("nan") if rate is None else rate,
                    unit="clips/s",
                    note="not installed" if rate is None else "",
                )
            )
        rows += [
            dict(section=section, case="native / decode limit", value=one / limit, unit="ratio"),
            dict(section=section, case="native / PyAV", value=one / pyav, unit="ratio"),
            dict(
                section=section,
                case=f"{threads} threads / 1 thread",
                value=many / one,
                unit="ratio",
            ),
        ]
    return rows
