"""The native clip loader: shapes, temporal sampling, augmentation, determinism,
sharding, shutdown."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from stdann.data import NO_AUGMENT, ClipBatch, VideoClipLoader
from videos import encode, synthetic_frame


@pytest.fixture(scope="module")
def static_videos(tmp_path_factory):
    """Lossless (FFV1) videos of one still image each: every decoded frame is identical."""
    d = tmp_path_factory.mktemp("static")
    textured = encode(
        d / "textured.mkv", "ffv1", frames=40, pix_fmt="yuv444p", static=synthetic_frame(3, 128, 96)
    )
    colours = []
    for k in range(6):
        img = np.zeros((96, 128, 3), np.uint8)
        img[:] = (40 * k, 255 - 40 * k, 128)
        colours.append(
            encode(d / f"colour{k}.mkv", "ffv1", frames=20, pix_fmt="yuv444p", static=img)
        )
    return textured, colours


def test_batches_have_the_contract_shape_and_dtype(generated_videos):
    paths = list(generated_videos.values())
    with VideoClipLoader(
        paths, frames=8, stride=2, size=48, views=2, batch_size=3, threads=2
    ) as loader:
        assert len(loader) == len(paths) // 3
        batches = list(loader)
    assert len(batches) == len(paths) // 3
    for b in batches:
        assert isinstance(b, torch.Tensor)
        assert b.dtype == torch.uint8
        assert b.shape == (3, 2, 8, 48, 48, 3)
        assert b.float().std() > 10  # real pixels, not an empty buffer


def test_views_are_strided_runs_of_real_frames_from_different_times(generated_videos):
    import av

    path = generated_videos["h264_bframes.mp4"]
    with av.open(str(path)) as c:
        reference = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    # No augmentation at the native size (128 x 96 -> crop is the whole frame,
    # squashed to 96 x 96 by swscale): compare against the same resize of PyAV's frames.
    ref_small = (
        torch.nn.functional.interpolate(
            torch.from_numpy(reference).permute(0, 3, 1, 2).float(),
            size=(96, 96),
            mode="bilinear",
            antialias=True,
        )
        .permute(0, 2, 3, 1)
        .numpy()
    )
    stride, frames = 3, 6
    with VideoClipLoader(
        [path] * 4,
        frames=frames,
        stride=stride,
        size=96,
        views=2,
        batch_size=2,
        threads=1,
        augment=NO_AUGMENT,
    ) as loader:
        for batch in loader:
            for sample in batch.numpy():
                starts = []
                for view in sample:
                    errs = np.abs(ref_small[None] - view[:, None].astype(np.float32)).mean(
                        axis=(2, 3, 4)
                    )
                    matched = errs.argmin(axis=1)
                    # Resampling differs slightly (swscale from YUV vs torch from RGB);
                    # neighbouring frames differ by far more.
                    ranked = np.sort(errs, axis=1)
                    assert (ranked[:, 0] < 8.0).all()
                    assert (ranked[:, 0] < 0.3 * ranked[:, 1]).all()
                    start = int(matched[0])
                    assert matched.tolist() == [min(start + t * stride, 59) for t in range(frames)]
                    starts.append(start)
                assert starts[0] != starts[1]


def test_every_frame_of_a_view_gets_the_same_augmentation(static_videos):
    textured, _ = static_videos
    with VideoClipLoader(
        [textured] * 8, frames=6, stride=2, size=64, views=2, batch_size=4, threads=2, seed=5
    ) as loader:
        batches = list(loader)
    views_differ = 0
    for batch in batches:
        for sample in batch.numpy():
            for view in sample:
                for t in range(1, view.shape[0]):
                    np.testing.assert_array_equal(view[t], view[0])
            views_differ += int(not np.array_equal(sample[0], sample[1]))
    assert views_differ >= 7  # independent parameters per view


def test_flip_mirrors_the_unflipped_view(static_videos):
    textured, _ = static_videos
    plain = dict(NO_AUGMENT)
    flipped = dict(NO_AUGMENT, flip_p=1.0)
    kw = dict(frames=2, stride=1, size=64, views=1, batch_size=1, threads=1, seed=0)
    with (
        VideoClipLoader([textured], augment=plain, **kw) as a,
        VideoClipLoader([textured], augment=flipped, **kw) as b,
    ):
        x = next(iter(a)).numpy()
        y = next(iter(b)).numpy()
    np.testing.assert_array_equal(y, x[..., ::-1, :])


def test_grayscale_always_gives_equal_channels(static_videos):
    textured, _ = static_videos
    gray = dict(NO_AUGMENT, grayscale_p=1.0)
    with VideoClipLoader(
        [textured] * 2, frames=2, size=32, views=2, batch_size=2, threads=1, augment=gray
    ) as loader:
        x = next(iter(loader)).numpy().astype(int)
    assert np.abs(x[..., 0] - x[..., 1]).max() <= 1
    assert np.abs(x[..., 1] - x[..., 2]).max() <= 1


def collect(paths, **kw):
    with VideoClipLoader(paths, **kw) as loader:
        first = [b.clone() for b in loader]
        second = [b.clone() for b in loader]
    return first, second


def test_deterministic_for_a_seed_and_independent_of_threads(generated_videos):
    paths = list(generated_videos.values())[:4]
    kw = dict(frames=4, stride=2, size=32, views=2, batch_size=2, seed=11)
    e0_a, e1_a = collect(paths, threads=1, **kw)
    e0_b, e1_b = collect(paths, threads=2, **kw)
    for x, y in zip(e0_a + e1_a, e0_b + e1_b, strict=True):
        assert torch.equal(x, y)
    # Epochs differ from each other, and another seed gives other batches.
    assert not all(torch.equal(x, y) for x, y in zip(e0_a, e1_a, strict=True))
    e0_c, _ = collect(paths, threads=2, **dict(kw, seed=12))
    assert not all(torch.equal(x, y) for x, y in zip(e0_a, e0_c, strict=True))


def test_batch_buffers_are_reused_only_once_released(generated_videos):
    """Batch memory returns to the loader's pool when Python frees the batch:
    a batch that is still held is never written again, and batches built in
    recycled buffers equal those built in fresh ones."""
    paths = list(generated_videos.values())[:4]
    kw = dict(frames=4, stride=2, size=32, views=2, batch_size=2, seed=5, threads=2)
    with VideoClipLoader(paths, **kw) as loader:
        held = list(loader)
        copies = [b.clone() for b in held]
        recycled = [[b.clone() for b in loader] for _ in range(2)]
        assert all(torch.equal(b, c) for b, c in zip(held, copies, strict=True))
        del held
        recycled.append([b.clone() for b in loader])
    # The reference keeps every batch alive, so nothing is recycled.
    with VideoClipLoader(paths, **kw) as loader:
        kept = [list(loader) for _ in range(4)]
    for got, want in zip([copies, *recycled], kept, strict=True):
        assert all(torch.equal(x, y) for x, y in zip(got, want, strict=True))


def test_ranks_get_disjoint_shards_of_equal_size(static_videos):
    _, colours = static_videos
    seen = []
    for rank in range(2):
        with VideoClipLoader(
            colours,
            frames=1,
            size=8,
            views=1,
            batch_size=1,
            threads=1,
            rank=rank,
            world_size=2,
            augment=NO_AUGMENT,
        ) as loader:
            assert len(loader) == 3
            seen.append({tuple(b[0, 0, 0, 4, 4].tolist()) for b in loader})
    assert len(seen[0]) == len(seen[1]) == 3
    assert not seen[0] & seen[1]


def colour_of(path, colours) -> np.ndarray:
    """The constant RGB colour of `path`, one of the static colour videos."""
    k = colours.index(path)
    return np.array((40 * k, 255 - 40 * k, 128))


def test_videos_name_the_file_each_sample_came_from(static_videos):
    _, colours = static_videos
    paths = colours + colours[::-1]
    with VideoClipLoader(
        paths, frames=2, size=8, views=2, batch_size=3, threads=2, augment=NO_AUGMENT, seed=3
    ) as loader:
        batches = list(loader.iter_batches(0))
    assert [b.number for b in batches] == list(range(len(paths) // 3))
    seen = []
    for batch in batches:
        assert isinstance(batch, ClipBatch)
        assert batch.clips.dtype == torch.uint8 and batch.clips.shape == (3, 2, 2, 8, 8, 3)
        assert batch.videos.dtype == torch.int64 and batch.videos.shape == (3,)
        for sample, video in zip(batch.clips.numpy(), batch.videos.tolist(), strict=True):
            assert 0 <= video < len(paths)
            # Lossless static videos: every pixel of the sample is its file's colour
            # (colours are 40 levels apart; the YUV round trip moves them by a few).
            assert np.abs(sample.astype(int) - colour_of(paths[video], colours)).max() <= 4
            seen.append(video)
    # Without bad videos, every file is sampled once per epoch, at its own position.
    assert sorted(seen) == list(range(len(paths)))


def test_a_replaced_bad_video_reports_the_replacement(static_videos, tmp_path, caplog):
    _, colours = static_videos
    broken = tmp_path / "broken.mkv"
    broken.write_text("not a video\n" * 100)
    paths = [*colours[:3], broken, *colours[3:]]
    with caplog.at_level("WARNING", logger="stdann.data"):
        with VideoClipLoader(
            paths, frames=2, size=8, views=1, batch_size=1, threads=2, augment=NO_AUGMENT
        ) as loader:
            batches = [(b.clips.clone(), int(b.videos[0])) for b in loader.iter_batches(0)]
            assert [p for p, _ in loader.skipped] == [str(broken)]
    videos = [v for _, v in batches]
    for clips, video in batches:
        assert paths[video] != broken
        assert np.abs(clips.numpy().astype(int) - colour_of(paths[video], colours)).max() <= 4
    # The broken file's position took another video, which is then named twice;
    # every good file is still named for its own position.
    assert len(videos) == len(paths)
    assert sorted(set(videos)) == [k for k in range(len(paths)) if k != 3]
    logged = [r.getMessage() for r in caplog.records if "skipping video" in r.getMessage()]
    assert len(logged) == 1 and str(broken) in logged[0]


def test_iter_batches_from_a_start_is_the_tail_of_the_epoch(generated_videos):
    paths = list(generated_videos.values()) * 2
    kw = dict(frames=4, stride=2, size=32, views=2, batch_size=3, seed=9)

    def batches(loader, epoch, start=0):
        return [
            ClipBatch(b.clips.clone(), b.videos.clone(), b.number)
            for b in loader.iter_batches(epoch, start=start)
        ]

    with VideoClipLoader(paths, threads=2, **kw) as loader:
        n = len(loader)
        assert n == 5
        whole = batches(loader, 2)
        assert [b.number for b in whole] == list(range(n))
        # __iter__ gives the same clips, as plain tensors.
        loader.set_epoch(2)
        plain = [b.clone() for b in loader]
        assert all(torch.equal(x, b.clips) for x, b in zip(plain, whole, strict=True))
        tails = {k: batches(loader, 2, k) for k in (1, 3, n - 1, n, n + 2)}
    # A fresh loader, as a resumed run has, gives the same tails.
    with VideoClipLoader(paths, threads=1, **kw) as fresh:
        resumed = batches(fresh, 2, 3)
    for k, tail in [*tails.items(), (3, resumed)]:
        want = whole[k:]
        assert len(tail) == len(want)
        for got, ref in zip(tail, want, strict=True):
            assert got.number == ref.number
            assert torch.equal(got.clips, ref.clips)
            assert torch.equal(got.videos, ref.videos)
    with VideoClipLoader(paths, threads=1, **kw) as loader:
        with pytest.raises(ValueError, match="start"):
            next(loader.iter_batches(0, start=-1))


def test_bad_arguments_are_rejected(generated_videos):
    path = generated_videos["vp9.webm"]
    with pytest.raises(ValueError, match="rank"):
        VideoClipLoader([path], rank=2, world_size=2)
    with pytest.raises(ValueError, match="unknown augmentation option"):
        VideoClipLoader([path], augment={"rotate": 1.0})
    with pytest.raises(ValueError, match="no videos"):
        VideoClipLoader([])


def run_python(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_interpreter_exit_mid_epoch_does_not_hang(generated_videos):
    paths = [str(p) for p in generated_videos.values()]
    result = run_python(
        f"""
        from stdann.data import VideoClipLoader
        loader = VideoClipLoader({paths!r} * 20, frames=8, size=64, batch_size=2, threads=2, prefetch=8)
        it = iter(loader)
        next(it)
        print("ok")
        """,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_ctrl_c_interrupts_a_waiting_loader(generated_videos):
    paths = [str(p) for p in generated_videos.values()]
    result = run_python(
        f"""
        import os, signal, threading, time
        from stdann.data import VideoClipLoader
        # A job a shell starts in the background inherits SIGINT ignored, and
        # Python keeps it so: Ctrl-C at a terminal is what this test plays.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        loader = VideoClipLoader({paths!r} * 200, frames=16, size=112, batch_size=8, threads=1, prefetch=1)
        threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        t = time.time()
        try:
            for _ in loader:
                pass
        except KeyboardInterrupt:
            print("interrupted after", round(time.time() - t, 1))
        loader.close()
        print("closed")
        """,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "interrupted" in result.stdout and "closed" in result.stdout


def test_memory_stays_bounded_over_many_epochs(generated_videos):
    paths = list(generated_videos.values())

    def rss_mb() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20

    with VideoClipLoader(paths, frames=4, size=32, batch_size=7, threads=2) as loader:
        for _ in range(3):
            list(loader)
        before = rss_mb()
        for _ in range(30):
            list(loader)
        after = rss_mb()
    assert after - before < 40, f"RSS grew by {after - before:.1f} MB over 30 epochs"
