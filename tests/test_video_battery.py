"""The generated-file battery: every codec and container the tests make, read
frame-exactly by the native decoder, by random access, and by the clip loader.

The FFmpeg command line encodes the synthetic frames of `videos.py` (each
frame draws its number, so a wrong frame cannot pass) into each codec and
container it has; two classes that once failed are among them: H.264 with
B-frames whose container gives every packet pts = dts, and phone-style videos
whose display matrix turns them a quarter, half or three-quarter turn.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from stdann.data import NO_AUGMENT, VideoClipLoader, decode_frames, index_video
from videos import synthetic_frame

W, H, N = 128, 96, 30

#: name -> FFmpeg output arguments. Every file holds N frames of W x H.
BATTERY: dict[str, list[str]] = {
    "h264.mp4": "-c:v libx264 -bf 3 -g 12 -pix_fmt yuv420p".split(),
    "h264_open_gop.mkv": "-c:v libx264 -bf 2 -pix_fmt yuv420p -x264-params open-gop=1:keyint=10:min-keyint=10".split(),
    "h264.mov": "-c:v libx264 -g 8 -pix_fmt yuv420p".split(),
    "h264.ts": "-c:v libx264 -bf 2 -g 10 -pix_fmt yuv420p".split(),
    "h264.flv": "-c:v libx264 -g 10 -pix_fmt yuv420p".split(),
    "h264_bframes.avi": "-c:v libx264 -bf 2 -g 10 -pix_fmt yuv420p".split(),
    "h264_yuv444.mkv": "-c:v libx264 -g 10 -pix_fmt yuv444p".split(),
    "h264_yuv422.mp4": "-c:v libx264 -g 10 -pix_fmt yuv422p".split(),
    "hevc.mp4": "-c:v libx265 -g 10 -pix_fmt yuv420p -tag:v hvc1 -x265-params log-level=error:bframes=2".split(),
    "hevc.mkv": "-c:v libx265 -pix_fmt yuv420p -x265-params log-level=error".split(),
    "vp8.webm": "-c:v libvpx -g 10 -deadline realtime".split(),
    "vp9.webm": "-c:v libvpx-vp9 -g 10 -deadline realtime".split(),
    "av1.mkv": "-c:v libsvtav1 -g 10 -preset 12".split(),
    "av1.mp4": "-c:v libaom-av1 -g 10 -cpu-used 8 -usage realtime".split(),
    "mpeg4_bframes.avi": "-c:v mpeg4 -bf 2 -g 10 -q:v 3".split(),
    "xvid.avi": "-c:v libxvid -g 10".split(),
    "mpeg2.mpg": "-c:v mpeg2video -bf 2 -g 10 -q:v 3".split(),
    "mpeg2.ts": "-c:v mpeg2video -g 10 -q:v 3".split(),
    "mpeg1.mpg": "-c:v mpeg1video -g 10 -q:v 3 -f mpeg".split(),
    "h263.3gp": "-c:v h263 -g 10".split(),
    "flv1.flv": "-c:v flv -g 10".split(),
    "wmv2.asf": "-c:v wmv2 -g 10".split(),
    "theora.ogv": "-c:v libtheora -g 10 -q:v 7".split(),
    "mjpeg.avi": "-c:v mjpeg -pix_fmt yuvj420p -q:v 3".split(),
    "ffv1.mkv": "-c:v ffv1 -pix_fmt yuv420p".split(),
    "huffyuv.avi": "-c:v huffyuv -pix_fmt yuv422p".split(),
    "utvideo.avi": "-c:v utvideo -pix_fmt yuv420p".split(),
    "magicyuv.avi": "-c:v magicyuv -pix_fmt yuv444p".split(),
    "prores.mov": "-c:v prores_ks -profile:v 0".split(),
    "png.mov": "-c:v png -pix_fmt rgb24".split(),
    "qtrle.mov": "-c:v qtrle".split(),
    "vfr_h264.mkv": "-c:v libx264 -g 10 -pix_fmt yuv420p -vf setpts='N*40+if(eq(mod(N,3),0),20,0)' -fps_mode passthrough".split(),
}

#: Files whose timestamps disagree with their decode order: B-frames whose
#: container gives every packet pts = dts.
LYING = {"h264_lying_pts.mp4": "h264.mp4", "h264_lying_pts.mkv": "h264_open_gop.mkv"}

#: Files whose display matrix turns them, made from h264.mp4 as FFmpeg 5.1's
#: command line writes a `rotate` tag.
ROTATED = {f"rotate{r}.mp4": str(r) for r in (90, 180, 270)}


def _ffmpeg(*args: str, stdin: bytes | None = None) -> None:
    subprocess.run(
        ["ffmpeg", "-y", "-v", "error", *args], input=stdin, check=True, capture_output=True
    )


@pytest.fixture(scope="module")
def battery(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("battery")
    raw = np.stack([synthetic_frame(i, W, H) for i in range(N)]).tobytes()
    source = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-r", "25", "-i", "-"]
    files = {}
    for name, args in BATTERY.items():
        files[name] = root / name
        _ffmpeg(*source, "-frames:v", str(N), *args, str(files[name]), stdin=raw)
    for name, src in LYING.items():
        files[name] = root / name
        _ffmpeg("-i", str(files[src]), "-c", "copy", "-bsf:v", "setts=pts=DTS", str(files[name]))
    for name, degrees in ROTATED.items():
        files[name] = root / name
        rotate = ["-metadata:s:v:0", f"rotate={degrees}"]
        _ffmpeg("-i", str(files["h264.mp4"]), "-c", "copy", *rotate, str(files[name]))
    return files


def pyav_frames(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def assert_frames_equal(name: str, got: np.ndarray, want: np.ndarray) -> None:
    """Bit for bit: every file here, 10-bit ProRes included, decodes exactly as in PyAV."""
    assert got.shape == want.shape, f"{name}: {got.shape} != {want.shape}"
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        differ = int(np.count_nonzero(g != w))
        assert differ == 0, f"{name}: frame {i} differs from PyAV's in {differ} bytes"


def every_file():
    return [*BATTERY, *LYING]


@pytest.mark.parametrize("name", every_file())
def test_every_frame_equals_pyavs_in_order_and_by_random_access(battery, name, tmp_path):
    path = battery[name]
    reference = pyav_frames(path)
    n = len(reference)
    # Neighbouring frames differ clearly, so a wrong frame cannot pass.
    assert np.abs(np.diff(reference.astype(np.int16), axis=0)).mean(axis=(1, 2, 3)).min() > 5
    assert n >= N - 3, f"{name}: PyAV decodes {n} frames"
    fast = index_video(path, refresh=True)
    exact = index_video(path, full_decode=True, cache_dir=tmp_path)
    assert fast["frame_count"] == exact["frame_count"] == n, name
    assert_frames_equal(name, decode_frames(path, list(range(n))), reference)
    rng = np.random.default_rng(1)
    picks = [n - 1, 0, n // 2, 1, *rng.integers(0, n, 12).tolist(), 3, 3, n - 2]
    assert_frames_equal(name, decode_frames(path, picks), reference[picks])


@pytest.mark.parametrize("name", every_file())
def test_the_clip_loader_reads_every_file(battery, name, tmp_path):
    path = battery[name]
    loader = VideoClipLoader(
        [path] * 2,
        frames=4,
        stride=3,
        size=48,
        batch_size=2,
        threads=1,
        augment=NO_AUGMENT,
        cache_dir=tmp_path,
    )
    with loader:
        batches = list(loader.iter_batches(0))
        assert loader.skipped == []
    assert len(batches) == 1
    clips = batches[0].clips
    assert clips.shape == (2, 2, 4, 48, 48, 3)
    # Frames three apart differ: the loader read frames, not one frame repeated.
    assert (clips[:, :, 1:].int() - clips[:, :, :-1].int()).abs().float().mean() > 3


def test_lying_timestamps_index_by_decoder_output_and_load_like_the_honest_file(battery, tmp_path):
    # Matroska keeps every frame: the lying file's frame i is the honest one's.
    lying, honest = battery["h264_lying_pts.mkv"], battery["h264_open_gop.mkv"]
    index = index_video(lying, refresh=True)
    assert index["mode"] == "sequential"
    assert index["frame_count"] == index_video(honest)["frame_count"] == N
    picks = [N - 1, 4, 0, 17, 17, 9]
    assert np.array_equal(decode_frames(lying, picks), decode_frames(honest, picks))

    def clips(path):
        loader = VideoClipLoader(
            [path] * 4, frames=4, stride=2, size=40, batch_size=2, seed=5, cache_dir=tmp_path
        )
        with loader:
            return [b.clips for b in loader.iter_batches(0)]

    for a, b in zip(clips(lying), clips(honest), strict=True):
        assert np.array_equal(a.numpy(), b.numpy())


def command_line_upright(path: Path) -> np.ndarray:
    """The frames as FFmpeg's command line shows them (it turns them by default)."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True,
        capture_output=True,
    ).stdout
    frames = np.frombuffer(out, np.uint8)
    side = frames.size // (N * 3)
    assert side == W * H
    return frames


@pytest.mark.parametrize("name", list(ROTATED))
def test_display_rotation_turns_frames_as_ffmpeg_shows_them(battery, name, tmp_path):
    path = battery[name]
    upright = pyav_frames(battery["h264.mp4"])
    shown = command_line_upright(path)
    # Which quarter turn FFmpeg's command line applies (its own RGB
    # conversion rounds differently, so the nearest is taken, and must be close).
    turns = {k: np.rot90(upright, k=k, axes=(1, 2)) for k in range(4)}
    errors = {
        k: float(np.abs(t.astype(np.int16).ravel() - shown).mean())
        for k, t in turns.items()
        if t.size == shown.size
    }
    k = min(errors, key=errors.get)
    assert errors[k] < 3 and k != 0, errors
    index = index_video(path, refresh=True)
    assert index["rotation"] == 90 * k and not index["mirrored"]
    h, w = turns[k].shape[1:3]
    assert tuple(index["display_size"]) == (w, h) and (index["width"], index["height"]) == (W, H)

    # Decoding turns the frames exactly as PyAV's unturned ones turned by k.
    picks = [0, N - 1, 7, 7, 12]
    assert np.array_equal(decode_frames(path, picks), turns[k][picks])
    assert np.array_equal(decode_frames(path, picks, autorotate=False), upright[picks])

    # The loader shows the upright video: the whole frame, scaled, is the
    # unturned video's clip turned; a flip comes after the turn.
    def clips(path, autorotate=True, flip=0.0):
        augment = dict(NO_AUGMENT, flip_p=flip)
        loader = VideoClipLoader(
            [path] * 2,
            frames=3,
            stride=2,
            size=40,
            batch_size=2,
            seed=3,
            augment=augment,
            cache_dir=tmp_path,
            autorotate=autorotate,
        )
        with loader:
            return next(iter(loader.iter_batches(0))).clips.numpy()

    plain = clips(battery["h264.mp4"])
    assert np.array_equal(clips(path), np.rot90(plain, k=k, axes=(3, 4)))
    assert np.array_equal(clips(path, flip=1.0), np.rot90(plain, k=k, axes=(3, 4))[..., ::-1, :])
    assert np.array_equal(clips(path, autorotate=False), plain)


@pytest.mark.parametrize("name", list(ROTATED))
def test_prepared_videos_are_upright_and_carry_no_display_matrix(battery, name, tmp_path):
    from stdann import _native

    path = battery[name]
    upright = decode_frames(path, list(range(N)))
    out = tmp_path / "prepared.mp4"
    assert _native.prepare_video(str(path), str(out), short_side=128) == N
    index = index_video(out, cache_dir=tmp_path)
    assert index["rotation"] == 0 and not index["mirrored"]
    prepared = decode_frames(out, list(range(N)))
    assert prepared.shape == upright.shape
    # x264 at crf 20 re-encodes: close, not equal; a wrong turn is far off.
    assert np.abs(prepared.astype(np.int16) - upright).mean() < 3
    kept = tmp_path / "kept.mp4"
    _native.prepare_video(str(path), str(kept), short_side=128, autorotate=False)
    as_decoded = decode_frames(path, list(range(N)), autorotate=False)
    assert np.abs(decode_frames(kept, list(range(N))).astype(np.int16) - as_decoded).mean() < 3
