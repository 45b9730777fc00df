"""Frame-exact decoding: the native decoder returns PyAV's i-th frame for every i."""

from __future__ import annotations

import numpy as np
import pytest

from stdann.data import decode_frames, index_video, pyav_reference


def all_frames_pyav(path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def check_parity(path, indices, reference: np.ndarray) -> None:
    """8-bit video: the native frames equal PyAV's bit for bit (as the README says)."""
    got = decode_frames(path, indices)
    assert got.dtype == np.uint8
    assert got.shape == (len(indices), *reference.shape[1:])
    for k, i in enumerate(indices):
        differ = int(np.count_nonzero(got[k] != reference[i]))
        assert differ == 0, f"{path.name}: frame {i} differs from PyAV's in {differ} bytes"


GENERATED = [
    "h264_bframes.mp4",
    "h264_open_gop.mkv",
    "vp9.webm",
    "mpeg4.avi",
    "mjpeg.avi",
    "hevc.mov",
    "av1.mkv",
    "vfr_h264.mp4",
]


@pytest.mark.parametrize("name", GENERATED)
def test_generated_videos_match_pyav_frame_by_frame(generated_videos, name):
    path = generated_videos[name]
    reference = all_frames_pyav(path)
    # Neighbouring frames differ clearly, so a wrong frame cannot pass.
    assert np.abs(np.diff(reference.astype(np.int16), axis=0)).mean(axis=(1, 2, 3)).min() > 5
    n = len(reference)
    rng = np.random.default_rng(0)
    indices = [0, n - 1, n // 2, 1, *rng.integers(0, n, 20).tolist(), n - 2, 3, 3]
    check_parity(path, indices, reference)
    # Every frame, in order, once.
    check_parity(path, list(range(n)), reference)


@pytest.mark.parametrize("name", GENERATED)
def test_index_matches_a_full_decode(generated_videos, name):
    path = generated_videos[name]
    fast = index_video(path, refresh=True)
    exact = index_video(path, full_decode=True)
    decoded = pyav_reference.frame_timestamps(path)
    assert fast["frame_count"] == exact["frame_count"] == len(decoded)
    assert fast["keyframes"][0] == 0
    assert all(0 <= k < fast["frame_count"] for k in fast["keyframes"])
    if fast["mode"] == "timestamps":
        assert fast["pts"] == sorted(p for p in decoded if p is not None)
    else:
        # No timestamps (AVI with B-frames): seek points proven by content hash
        # still let reads start past the beginning.
        assert fast["full_decode"]
        assert len(fast["keyframes"]) > 1
    assert (fast["width"], fast["height"]) == (128, 96)


def test_real_sample_videos_match_pyav(real_videos):
    rng = np.random.default_rng(1)
    for path in real_videos:
        reference = all_frames_pyav(path)
        n = len(reference)
        indices = [0, n - 1, *rng.integers(0, n, 12).tolist()]
        check_parity(path, indices, reference)


def test_reference_decoder_agrees_with_a_full_decode(generated_videos):
    path = generated_videos["h264_bframes.mp4"]
    reference = all_frames_pyav(path)
    got = pyav_reference.decode_frames(path, [5, 0, 59])
    np.testing.assert_array_equal(got, reference[[5, 0, 59]])


def test_index_is_cached_and_refreshed_when_the_file_changes(generated_videos, tmp_path):
    import shutil

    src = generated_videos["vp9.webm"]
    path = tmp_path / "copy.webm"
    shutil.copy(src, path)
    cache = tmp_path / "cache"
    first = index_video(path, cache_dir=cache)
    assert first["frame_count"] == 60
    assert len(list(cache.glob("*.json"))) == 1
    # Replace the file with a different video: the cached index must not be used.
    shutil.copy(generated_videos["mjpeg.avi"], path)
    second = index_video(path, cache_dir=cache)
    assert second["codec"] == "mjpeg"


def test_frame_widths_that_are_not_a_multiple_of_the_simd_block(tmp_path):
    # swscale writes whole blocks of pixels; rows of 150 px must still come out
    # exact and nothing may be written past the end of the output.
    from videos import encode

    path = encode(tmp_path / "odd.mp4", "libx264", frames=20, width=150, height=86)
    reference = all_frames_pyav(path)
    check_parity(path, [19, 0, 7, 7, 13], reference)


def test_ten_bit_video_matches_pyav_and_loads(tmp_path):
    # 10-bit 4:2:0 takes the RGB path of the loader (no 8-bit planes to offset).
    from stdann.data import VideoClipLoader
    from videos import encode

    path = encode(
        tmp_path / "hevc10.mkv",
        "libx265",
        frames=24,
        pix_fmt="yuv420p10le",
        options={"x265-params": "log-level=error"},
    )
    reference = all_frames_pyav(path)
    # The same frames; their 10-to-8-bit RGB conversion differs a little between
    # the system swscale (5.1) and the one in PyAV's wheel, so the bound is looser.
    indices = [23, 0, 11, 5, 5]
    got = decode_frames(path, indices).astype(np.int16)
    coarse = reference[:, ::4, ::4].astype(np.int16)
    for k, i in enumerate(indices):
        assert np.abs(got[k] - reference[i]).mean() < 4.0
        errors = np.abs(coarse - got[k, ::4, ::4]).mean(axis=(1, 2, 3))
        assert int(np.argmin(errors)) == i
    with VideoClipLoader([path] * 2, frames=4, size=32, batch_size=2, threads=1) as loader:
        batch = next(iter(loader))
    assert batch.shape == (2, 2, 4, 32, 32, 3)
    assert batch.float().std() > 10
