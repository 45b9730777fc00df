"""Bad input: every kind of broken file raises a typed error naming the file."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from stdann.data import (
    FrameIndexError,
    NoVideoStreamError,
    VideoClipLoader,
    VideoError,
    VideoOpenError,
    decode_frames,
    index_video,
)
from videos import encode_audio_only


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, generated_videos):
    d = tmp_path_factory.mktemp("bad")
    files = {}
    files["empty"] = d / "empty.mp4"
    files["empty"].write_bytes(b"")
    good = generated_videos["h264_bframes.mp4"].read_bytes()
    files["truncated"] = d / "truncated.mp4"
    files["truncated"].write_bytes(good[: len(good) // 2])
    files["random"] = d / "random.mkv"
    files["random"].write_bytes(np.random.default_rng(0).bytes(50_000))
    files["text"] = d / "notes.avi"
    files["text"].write_text("this is not a video\n" * 100)
    files["audio"] = encode_audio_only(d / "audio.m4a")
    files["directory"] = d / "folder.mp4"
    files["directory"].mkdir()
    files["missing"] = d / "does-not-exist.mp4"
    return files


@pytest.mark.parametrize(
    "kind, error, words",
    [
        ("empty", VideoOpenError, "empty"),
        ("truncated", VideoOpenError, "truncated"),
        ("random", VideoOpenError, "invalid data"),
        ("text", VideoOpenError, "invalid data"),
        ("audio", NoVideoStreamError, "no video stream"),
        ("directory", VideoOpenError, "directory"),
        ("missing", VideoOpenError, "no such file"),
    ],
)
def test_bad_files_raise_typed_errors_naming_the_file(bad_files, kind, error, words):
    path = bad_files[kind]
    with pytest.raises(error) as info:
        decode_frames(path, [0])
    message = str(info.value)
    assert str(path) in message
    assert words in message.lower()
    assert isinstance(info.value, VideoError)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of permissions")
def test_unreadable_file(tmp_path, generated_videos):
    path = tmp_path / "locked.mp4"
    shutil.copy(generated_videos["vp9.webm"], path)
    path.chmod(0)
    with pytest.raises(VideoOpenError, match="permission denied"):
        decode_frames(path, [0])


def test_out_of_range_indices(generated_videos):
    path = generated_videos["vp9.webm"]
    with pytest.raises(FrameIndexError, match="60 frames; frame index 60 is out of range"):
        decode_frames(path, [0, 60])
    with pytest.raises(FrameIndexError, match="-1"):
        decode_frames(path, [-1])
    assert decode_frames(path, []).shape[0] == 0


def test_truncated_mid_stream_file_still_yields_its_intact_frames(tmp_path, generated_videos):
    # An MKV cut in the middle keeps its header: the frames before the cut decode,
    # and the index counts only what is really there.
    data = generated_videos["h264_open_gop.mkv"].read_bytes()
    path = tmp_path / "cut.mkv"
    path.write_bytes(data[: int(len(data) * 0.6)])
    from stdann.data import index_video

    n = index_video(path)["frame_count"]
    assert 0 < n < 60
    assert decode_frames(path, [0, n - 1]).shape[0] == 2


def test_loader_skips_bad_videos_and_goes_on(bad_files, generated_videos, caplog):
    good = [generated_videos[k] for k in ("h264_bframes.mp4", "vp9.webm", "hevc.mov")]
    bad = [bad_files[k] for k in ("empty", "random", "audio", "directory", "missing", "text")]
    paths = good * 3 + bad
    with caplog.at_level("WARNING", logger="stdann.data"):
        with VideoClipLoader(paths, frames=4, stride=2, size=32, batch_size=5, threads=2) as loader:
            for _ in range(2):
                batches = list(loader)
                assert len(batches) == len(paths) // 5
                for b in batches:
                    assert b.shape == (5, 2, 4, 32, 32, 3)
            skipped = dict(loader.skipped)
    # Every bad video the sampler met is skipped once, with its reason; no good one is.
    assert set(skipped) <= {str(p) for p in bad}
    assert len(skipped) >= 4
    assert all(reason for reason in skipped.values())
    logged = [r for r in caplog.records if "skipping video" in r.getMessage()]
    assert len(logged) == len(skipped)


def test_loader_with_only_bad_videos_raises_a_clear_error(bad_files):
    paths = [bad_files["empty"], bad_files["text"]] * 2
    with VideoClipLoader(paths, frames=2, size=16, batch_size=2, threads=1) as loader:
        with pytest.raises(VideoError, match="no usable video"):
            list(loader)


def test_an_index_cache_that_cannot_be_written_is_logged_and_indexing_goes_on(
    generated_videos, tmp_path, caplog
):
    path = generated_videos["vp9.webm"]
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file where the cache folder should be")
    with caplog.at_level(logging.WARNING, logger="stdann_video"):
        index = index_video(path, cache_dir=not_a_folder)
    assert index["frame_count"] > 0
    warned = [r for r in caplog.records if r.name.startswith("stdann_video")]
    assert warned, "the failed cache write was not logged"
    assert str(path) in warned[0].getMessage() and "not cached" in warned[0].getMessage()


def test_a_loader_dropped_while_its_workers_log_does_not_hang(generated_videos, tmp_path):
    # Workers log a cache they cannot write, taking the GIL to do so; a loader
    # dropped without close() (garbage collection, interpreter exit) must stop
    # them without holding the GIL, or both sides wait forever.
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("not a folder")
    copies = []
    for i in range(24):
        copy = tmp_path / f"v{i}.webm"
        shutil.copy(generated_videos["vp9.webm"], copy)
        copies.append(str(copy))
    script = f"""
import gc, logging
logging.basicConfig(level=logging.WARNING)
from stdann.data import NO_AUGMENT, VideoClipLoader
loader = VideoClipLoader({copies!r}, frames=4, stride=2, size=32, batch_size=1, threads=2,
                         augment=NO_AUGMENT, cache_dir={str(not_a_folder / "cache")!r}, prefetch=24)
batches = loader.iter_batches(0)
next(batches)
del batches, loader
gc.collect()
print("dropped")
loader = VideoClipLoader({copies!r}, frames=4, stride=2, size=32, batch_size=1, threads=2,
                         augment=NO_AUGMENT, cache_dir={str(not_a_folder / "cache")!r}, prefetch=24)
next(loader.iter_batches(0))
print("exiting")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["dropped", "exiting"]
