"""`stdann prepare` and `stdann index`: the training format and the index cache."""

from __future__ import annotations

import shutil

import numpy as np
import torch

from stdann.cli import main
from stdann.data import decode_frames, index_video


def test_prepare_keeps_every_frame_in_order_at_the_new_size(tmp_path, real_videos, capsys):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    bikes = next(p for p in real_videos if p.stem == "bikes")
    shutil.copy(bikes, src / "sub" / "bikes.mp4")
    (src / "broken.mp4").write_bytes(b"not a video")
    dst = tmp_path / "dst"

    assert main(["prepare", str(src), str(dst), "--jobs", "2"]) == 1  # one video failed
    out = capsys.readouterr()
    assert "broken.mp4" in out.err and "prepared 1 videos" in out.out
    prepared = dst / "sub" / "bikes.mp4"
    info_src, info_dst = index_video(bikes), index_video(prepared)
    assert info_dst["frame_count"] == info_src["frame_count"] == 250
    assert (info_dst["width"], info_dst["height"]) == (300, 128)
    assert info_dst["codec"] == "h264"
    keys = info_dst["keyframes"] + [info_dst["frame_count"]]
    assert max(np.diff(keys)) <= 32

    # Frame i of the prepared video is frame i of the source, downscaled.
    idx = [0, 1, 77, 78, 200, 249]
    small = decode_frames(prepared, idx).astype(np.float32)
    source = torch.from_numpy(decode_frames(bikes, list(range(250)))).permute(0, 3, 1, 2).float()
    source = (
        torch.nn.functional.interpolate(source, size=(128, 300), mode="area")
        .permute(0, 2, 3, 1)
        .numpy()
    )
    for k, i in enumerate(idx):
        errs = np.abs(source - small[k]).mean(axis=(1, 2, 3))
        assert int(errs.argmin()) == i
        assert errs[i] < 4.0

    # A second run resumes: finished files are not redone.
    stamp = prepared.stat().st_mtime_ns
    (src / "broken.mp4").unlink()
    assert main(["prepare", str(src), str(dst)]) == 0
    assert "1 already done" in capsys.readouterr().out
    assert prepared.stat().st_mtime_ns == stamp
    assert not list(dst.rglob(".*partial*"))


def test_index_command_scans_a_folder_and_reports_bad_files(tmp_path, generated_videos, capsys):
    for name in ("vp9.webm", "hevc.mov"):
        shutil.copy(generated_videos[name], tmp_path / name)
    (tmp_path / "empty.mp4").write_bytes(b"")
    cache = tmp_path / "cache"
    code = main(["index", str(tmp_path), "--cache-dir", str(cache), "--jobs", "2"])
    out = capsys.readouterr()
    assert code == 1
    assert "indexed 2 of 3 videos, 120 frames" in out.out
    assert "empty.mp4" in out.err and "empty" in out.err
    assert len(list(cache.glob("*.json"))) == 2
