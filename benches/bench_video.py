"""Clip pipeline speed: the native loader against PyAV, decord2, torchcodec and
the decode limit, on the sample videos as they are and after `stdann prepare`.

Workload (issue: the clip pipeline): samples of 2 views x 16 frames at stride 2,
112 x 112, random starts; per view seek, decode, RGB, random resized crop,
resize, flip (p = 0.5) and colour jitter (brightness, contrast and saturation
factors in [0.6, 1.4], every view). A clip is one view (16 frames); the table
gives time per clip and clips/s. Every loader does that same work, so the
native loader runs with `BENCH_AUGMENT`; one more case gives the native loader
with the full MoCo v2 recipe (jitter p = 0.8 with hue, grayscale, Gaussian
blur), which is more work than the peers do. The decode limit is FFmpeg
decoding only the frames each clip needs, from the keyframe before it, through
the native reader with no conversion.

Two groups, `video-source` and `video-prepared`; the peer of the ratios is the
PyAV reference loader. decord2 and torchcodec are optional (`make bench`
installs them with --no-deps) and skip when absent. Native cases run 5 rounds,
peers 3 (1 each with --bench-quick); opening files, building readers or the
loader and indexing are outside the timed part.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from conftest import record
from stdann.data import VideoClipLoader
from stdann.data.loader import MOCO_V2_AUGMENT
from stdann.data.pyav_reference import PyAVClipReader

FRAMES, STRIDE, SIZE, VIEWS = 16, 2, 112, 2
#: The work the PyAV reference does per view (`read_view`): crop, resize, flip,
#: brightness, contrast and saturation. The native loader applies the three in
#: a random order, with a clamp after each (torchvision's ColorJitter).
BENCH_AUGMENT = dict(MOCO_V2_AUGMENT, jitter_p=1.0, hue=0.0, grayscale_p=0.0, blur_p=0.0)
THREADS = os.cpu_count() or 1

pytestmark = pytest.mark.parametrize("clips", ["source", "prepared"], indirect=True)


@pytest.fixture
def clips(request, source_videos, prepared_videos, quick, benchmark):
    """(videos, samples per native round) of one group; samples of 2 views each."""
    kind = request.param
    benchmark.group = f"video-{kind}"
    paths = source_videos if kind == "source" else prepared_videos
    samples = {"source": 12 if quick else 24, "prepared": 24 if quick else 96}[kind]
    return paths, samples


def _native(benchmark, clips, quick, threads=1, decode_only=False, augment=BENCH_AUGMENT):
    """Timed: iterating a VideoClipLoader over `samples` x threads samples (batch 1);
    building and closing the loader are not timed. The videos are indexed first."""
    from stdann import _native as native

    paths, samples = clips
    for p in paths:
        native.index_video(str(p))
    reps = max(1, samples * threads // len(paths))
    state = {}

    def setup():
        loader = VideoClipLoader(
            list(paths) * reps,
            frames=FRAMES,
            stride=STRIDE,
            size=SIZE,
            views=VIEWS,
            batch_size=1,
            threads=threads,
            augment=augment,
            decode_only=decode_only,
        )
        state["loader"] = loader.__enter__()

    def target():
        state["clips"] = sum(1 for _ in state["loader"]) * VIEWS

    def teardown():
        state.pop("loader").__exit__(None, None, None)

    benchmark.pedantic(target, setup=setup, teardown=teardown, rounds=1 if quick else 5)
    return state["clips"]


def test_decode_limit(benchmark, clips, quick):
    """Decode only (no conversion, no augmentation), 1 thread."""
    n = _native(benchmark, clips, quick, decode_only=True)
    record(benchmark, "decode limit, 1 thread", "other", n, "clip")


def test_native_one_thread(benchmark, clips, quick):
    """The native loader, BENCH_AUGMENT, 1 thread."""
    n = _native(benchmark, clips, quick)
    record(benchmark, "native loader, 1 thread", "stdann", n, "clip")


def test_native_all_threads(benchmark, clips, quick):
    """The native loader, BENCH_AUGMENT, all cores (threads x the samples of 1 thread)."""
    n = _native(benchmark, clips, quick, threads=THREADS)
    record(benchmark, f"native loader, {THREADS} threads", "stdann", n, "clip")


def test_native_moco_v2(benchmark, clips, quick):
    """The native loader with the full MoCo v2 augmentation, 1 thread."""
    n = _native(benchmark, clips, quick, augment=MOCO_V2_AUGMENT)
    record(benchmark, "native loader, full MoCo v2 augmentation, 1 thread", "stdann", n, "clip")


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


def _peer(benchmark, clips, quick, open_readers, close, read_sample):
    """Timed: `samples / 4` (at least 4) samples read with readers opened beforehand
    (opening and closing not timed), the same random views every round."""
    paths, samples = clips
    peer_samples = max(4, samples // 4)
    readers = open_readers(paths)
    try:

        def target():
            rng = np.random.default_rng(0)
            return sum(read_sample(readers[k % len(readers)], rng) for k in range(peer_samples))

        benchmark.pedantic(target, rounds=1 if quick else 3)
    finally:
        for r in readers:
            close(r)
    return peer_samples * VIEWS


@pytest.mark.usefixtures("one_torch_thread")
def test_pyav_reference(benchmark, clips, quick):
    """stdann.data.pyav_reference: the same recipe in Python (PyAV + torch), 1 thread."""

    def read_sample(r, rng):
        first = r._container.streams.video[0]
        for idx, crop, flip, (b, c, s) in plan_views(rng, r.frame_count, first.width, first.height):
            r.read_view(idx, crop, SIZE, flip, b, c, s)
        return VIEWS

    n = _peer(
        benchmark,
        clips,
        quick,
        lambda paths: [PyAVClipReader(p) for p in paths],
        lambda r: r.close(),
        read_sample,
    )
    record(benchmark, "PyAV reference, 1 thread", "peer", n, "clip")


def _crop_resize_flip(frames, flip):
    import torch

    frames = torch.nn.functional.interpolate(
        frames.float(), size=(SIZE, SIZE), mode="bilinear", antialias=True
    )
    return frames.flip(-1) if flip else frames


@pytest.mark.usefixtures("one_torch_thread")
def test_decord2(benchmark, clips, quick):
    """decord2 decoding the same frames, cropped, resized and flipped with torch (no
    jitter), 1 thread."""
    decord = pytest.importorskip("decord", reason="decord2 is not installed")
    import torch

    def read_sample(vr, rng):
        h, w = vr[0].shape[:2]
        for idx, (x, y, cw, ch), flip, _ in plan_views(rng, len(vr), w, h):
            frames = torch.from_numpy(vr.get_batch(idx).asnumpy()[:, y : y + ch, x : x + cw])
            _crop_resize_flip(frames.permute(0, 3, 1, 2), flip)
        return VIEWS

    n = _peer(
        benchmark,
        clips,
        quick,
        lambda paths: [decord.VideoReader(str(p), ctx=decord.cpu(0), num_threads=1) for p in paths],
        lambda r: None,
        read_sample,
    )
    record(benchmark, "decord2, 1 thread", "other", n, "clip")


@pytest.mark.usefixtures("one_torch_thread")
def test_torchcodec(benchmark, clips, quick):
    """torchcodec decoding the same frames, cropped, resized and flipped with torch (no
    jitter), 1 thread."""
    try:
        from torchcodec.decoders import VideoDecoder
    except Exception as e:  # absent, or built against another torch or FFmpeg
        pytest.skip(f"torchcodec is not usable: {e}")

    def read_sample(d, rng):
        n, h, w = d.metadata.num_frames, d.metadata.height, d.metadata.width
        for idx, (x, y, cw, ch), flip, _ in plan_views(rng, n, w, h):
            _crop_resize_flip(d.get_frames_at(idx).data[:, :, y : y + ch, x : x + cw], flip)
        return VIEWS

    def open_decoders(paths):
        try:
            return [VideoDecoder(str(p), seek_mode="exact", num_ffmpeg_threads=1) for p in paths]
        except Exception as e:
            pytest.skip(f"torchcodec cannot open the videos: {e}")

    n = _peer(benchmark, clips, quick, open_decoders, lambda r: None, read_sample)
    record(benchmark, "torchcodec, 1 thread", "other", n, "clip")
