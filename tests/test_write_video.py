"""write_video: raw RGB frames to H.264 in the training format, read back by
the native decoder, PyAV, the index and the clip loader."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from stdann._native import write_video
from stdann.data import NO_AUGMENT, VideoClipLoader, decode_frames, index_video

FRAMES, HEIGHT, WIDTH = 24, 64, 96


def moving_bar(frames: int = FRAMES, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """Frame i: colour ramps across and down the frame, red and green lifted
    and blue lowered by 4 i, with a white bar 8 px wide at x = 4 i (edges on even columns, between chroma
    samples, so 4:2:0 does not smear them)."""
    xx = np.linspace(0, 1, width)[None, :]
    yy = np.linspace(0, 1, height)[:, None]
    video = np.empty((frames, height, width, 3), np.uint8)
    for i in range(frames):
        lift = 4 * i
        video[i, ..., 0] = 30 + lift + 120 * xx
        video[i, ..., 1] = 30 + lift + 120 * yy
        video[i, ..., 2] = 150 - lift
        video[i, :, 4 * i : 4 * i + 8] = 255
    return video


def per_frame_error(decoded: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Mean absolute difference of every decoded frame from every source frame."""
    d = decoded.astype(np.float32)[:, None]
    s = source.astype(np.float32)[None]
    return np.abs(d - s).mean(axis=(2, 3, 4))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    path = tmp_path_factory.mktemp("written") / "bar.mp4"
    source = moving_bar()
    assert write_video(path, source, fps=12.5, keyframe_interval=8, crf=10) == FRAMES
    return path, source


def test_native_decode_gives_every_frame_in_order_within_h264_loss(written):
    path, source = written
    decoded = decode_frames(path, list(range(FRAMES)))
    assert decoded.shape == (FRAMES, HEIGHT, WIDTH, 3)
    errors = per_frame_error(decoded, source)
    # Frame i is frame i: closest to its own source frame, and close to it.
    assert errors.argmin(axis=1).tolist() == list(range(FRAMES))
    assert errors.diagonal().max() < 3.0


def test_pyav_reads_the_same_frames_and_stream_settings(written):
    import av

    path, source = written
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.width, stream.height) == (WIDTH, HEIGHT)
        assert stream.average_rate == 12.5
        packets = [p for p in container.demux(stream) if p.size]
    with av.open(str(path)) as container:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    # No B-frames: packets come in display order.
    assert [p.pts for p in packets] == sorted(p.pts for p in packets)
    assert [p.dts for p in packets] == [p.pts for p in packets]
    assert frames.shape == (FRAMES, HEIGHT, WIDTH, 3)
    errors = per_frame_error(frames, source)
    assert errors.argmin(axis=1).tolist() == list(range(FRAMES))
    assert errors.diagonal().max() < 3.0
    native = decode_frames(path, list(range(FRAMES)))
    assert np.abs(frames.astype(int) - native).max() <= 2


def test_index_is_frame_exact_with_frequent_keyframes(written):
    path, _ = written
    fast = index_video(path, refresh=True)
    exact = index_video(path, full_decode=True)
    assert fast["frame_count"] == exact["frame_count"] == FRAMES
    assert fast["pts"] == exact["pts"]
    assert (fast["width"], fast["height"]) == (WIDTH, HEIGHT)
    assert fast["frame_rate"] == pytest.approx(12.5)
    assert fast["keyframes"][0] == 0
    assert max(np.diff([*fast["keyframes"], FRAMES])) <= 8
    # Random access agrees with the sequential decode.
    everything = decode_frames(path, list(range(FRAMES)))
    picks = [17, 3, 23, 8, 8, 0]
    np.testing.assert_array_equal(decode_frames(path, picks), everything[picks])


def test_clip_loader_reads_written_videos(tmp_path):
    # Video k, frame i: red 20 + 8 i (time), green 30 + 50 k (which video).
    def video(k: int) -> np.ndarray:
        frames = np.empty((FRAMES, 32, 32, 3), np.uint8)
        frames[..., 0] = (20 + 8 * np.arange(FRAMES))[:, None, None]
        frames[..., 1] = 30 + 50 * k
        frames[..., 2] = 128
        return frames

    paths = [tmp_path / "corpus" / f"v{k}.mp4" for k in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        counts = list(pool.map(lambda k: write_video(paths[k], video(k), crf=12), range(4)))
    assert counts == [FRAMES] * 4
    assert not list(tmp_path.rglob(".*partial*"))
    with VideoClipLoader(
        paths, frames=4, stride=2, size=16, views=2, batch_size=2, threads=2, augment=NO_AUGMENT
    ) as loader:
        batches = list(loader.iter_batches(0))
    assert len(batches) == 2
    for batch in batches:
        for sample, k in zip(batch.clips.numpy().astype(float), batch.videos.tolist(), strict=True):
            assert abs(sample[..., 1].mean() - (30 + 50 * k)) < 3
            for view in sample:
                red = view[..., 0].mean(axis=(1, 2))
                frame = (red - 20) / 8
                # Each view is a run of frames two apart.
                assert np.abs(frame - np.round(frame)).max() < 0.4
                assert np.diff(np.round(frame)).tolist() == [2, 2, 2]


def test_any_memory_layout_is_written_as_given(tmp_path):
    source = moving_bar()
    mirrored = source[:, :, ::-1]  # not C-contiguous
    path = tmp_path / "mirrored.mp4"
    write_video(path, mirrored, crf=10)
    errors = per_frame_error(
        decode_frames(path, list(range(FRAMES))), np.ascontiguousarray(mirrored)
    )
    assert errors.argmin(axis=1).tolist() == list(range(FRAMES))
    assert errors.diagonal().max() < 3.0


@pytest.mark.parametrize(
    "frames, kwargs, words",
    [
        (moving_bar()[:, :63], {}, "even width and height"),
        (moving_bar()[:, :, :95], {}, "even width and height"),
        (moving_bar()[:0], {}, "no frames"),
        (moving_bar().astype(np.float32), {}, "uint8"),
        (moving_bar()[0], {}, "shape (T, H, W, 3)"),
        (moving_bar()[..., :2], {}, "shape (T, H, W, 3)"),
        ([[1, 2], [3, 4]], {}, "uint8 array"),
        (moving_bar(), {"fps": 0.0}, "fps"),
        (moving_bar(), {"fps": -25.0}, "fps"),
        (moving_bar(), {"fps": float("nan")}, "fps"),
        (moving_bar(), {"crf": 60}, "crf"),
        (moving_bar(), {"keyframe_interval": 0}, "keyframe_interval"),
    ],
)
def test_bad_input_raises_a_clear_error_naming_the_file(tmp_path, frames, kwargs, words):
    path = tmp_path / "out.mp4"
    with pytest.raises(ValueError) as info:
        write_video(path, frames, **kwargs)
    assert str(path) in str(info.value)
    assert words in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_writes_are_atomic(tmp_path):
    path = tmp_path / "deep" / "folder" / "clip.mp4"
    assert write_video(path, moving_bar(frames=4)) == 4  # folders are created
    before = path.read_bytes()
    # A refused write leaves the old file as it was.
    with pytest.raises(ValueError):
        write_video(path, moving_bar(frames=4)[:, :, :5])
    assert path.read_bytes() == before
    # A write that fails after encoding (the destination is a folder, so the
    # finished file cannot be renamed onto it) leaves no partial file behind.
    blocked = tmp_path / "blocked.mp4"
    blocked.mkdir()
    with pytest.raises(OSError, match=r"blocked\.mp4"):
        write_video(blocked, moving_bar(frames=4))
    assert blocked.is_dir() and not list(blocked.iterdir())
    assert not list(tmp_path.rglob(".*partial*"))
    # A successful write replaces the old file whole.
    assert write_video(path, moving_bar(frames=6)) == 6
    assert index_video(path)["frame_count"] == 6
    assert sorted(p.name for p in path.parent.iterdir()) == ["clip.mp4"]
