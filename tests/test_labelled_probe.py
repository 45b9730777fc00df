"""The labelled probe: kNN and linear top-1 on planted embeddings, and video features."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from stdann.data.lists import VideoList
from stdann.model.backbone import feature_dim, r3d18_backbone
from stdann.model.inputs import clips_to_input
from stdann.train.labelled_probe import (
    ProbeError,
    centre_crop_resize,
    clip_indices,
    clip_starts,
    knn_top1,
    linear_top1,
    read_clips,
    shared_labels,
    summary_line,
    video_features,
)
from train_fixtures import micro_corpus


def clusters(per_class: int, classes: int, dim: int = 16, noise: float = 0.05, seed: int = 0):
    """Points near one of `classes` orthogonal directions, labelled by it."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(classes).repeat_interleave(per_class)
    centres = torch.eye(dim)[:classes]
    return centres[labels] + noise * torch.randn(len(labels), dim, generator=g), labels


def unit(similarity: float, axis: int, dim: int = 4) -> torch.Tensor:
    """A unit vector at cosine `similarity` to e0, the rest along e_axis."""
    v = torch.zeros(dim)
    v[0], v[axis] = similarity, math.sqrt(1 - similarity**2)
    return v


def test_separated_clusters_give_top1_of_one():
    x, y = clusters(10, 4)
    xt, yt = clusters(5, 4, seed=1)
    r = knn_top1(x, y, xt, yt)
    assert r["top1"] == 1.0
    assert (r["k"], r["k_clamped"], r["classes"], r["train"], r["test"]) == (20, False, 4, 40, 20)
    assert r["chance"] == 0.25 and r["majority"] == 0.25
    assert r["predictions"] == yt.tolist()


def test_temperature_weighting_flips_a_12_to_8_vote():
    # The test point e0; its 20 neighbours: 12 of class 0 at cosine 0.5, 8 of class 1
    # at cosine 0.9; 10 far ones of class 2 (cosine -0.9) outside the 20.
    train = torch.stack([unit(0.5, 1)] * 12 + [unit(0.9, 2)] * 8 + [unit(-0.9, 3)] * 10)
    labels = torch.tensor([0] * 12 + [1] * 8 + [2] * 10)
    test, truth = torch.eye(4)[:1], torch.tensor([1])
    # At T = 0.07: 8 exp(0.9 / 0.07) = 3.1e6 beats 12 exp(0.5 / 0.07) = 1.5e4.
    weighted = knn_top1(train, labels, test, truth, k=20, temperature=0.07)
    assert weighted["predictions"] == [1] and weighted["top1"] == 1.0
    # A flat temperature is the unweighted vote: 12 beats 8.
    flat = knn_top1(train, labels, test, truth, k=20, temperature=1e6)
    assert flat["predictions"] == [0] and flat["top1"] == 0.0
    # The crossover: 12 exp(0.5 / T) = 8 exp(0.9 / T) at T = 0.4 / ln 1.5 = 0.987.
    t_cross = 0.4 / math.log(12 / 8)
    assert knn_top1(train, labels, test, truth, temperature=0.95 * t_cross)["predictions"] == [1]
    assert knn_top1(train, labels, test, truth, temperature=1.05 * t_cross)["predictions"] == [0]


def test_random_labels_give_about_chance():
    g = torch.Generator().manual_seed(3)
    x, xt = torch.randn(1000, 32, generator=g), torch.randn(2000, 32, generator=g)
    y, yt = torch.randint(0, 4, (1000,), generator=g), torch.randint(0, 4, (2000,), generator=g)
    r = knn_top1(x, y, xt, yt)
    # Binomial standard error sqrt(0.25 * 0.75 / 2000) = 0.0097: 5 of them.
    assert abs(r["top1"] - 0.25) < 0.05
    assert r["chance"] == 0.25


def test_k_larger_than_the_training_set_is_clamped_and_said(caplog):
    # 3 of class 0 at cosine 0.2, 2 of class 1 at 0.8: all 5 vote, class 1 wins.
    train = torch.stack([unit(0.2, 1)] * 3 + [unit(0.8, 2)] * 2)
    r = knn_top1(train, torch.tensor([0, 0, 0, 1, 1]), torch.eye(4)[:1], torch.tensor([1]))
    assert (r["k"], r["k_requested"], r["k_clamped"], r["top1"]) == (5, 20, True, 1.0)
    assert "k clamped to 5" in caplog.text


def test_majority_rate_is_the_training_majority_on_the_test_set():
    x = torch.eye(2)[[0, 0, 0, 1]]
    r = knn_top1(
        x, torch.tensor([0, 0, 0, 1]), torch.eye(2)[[0, 1, 1, 1]], torch.tensor([0, 1, 1, 1])
    )
    assert r["chance"] == 0.5 and r["majority"] == 0.25 and r["top1"] == 1.0


def test_knn_rejects_bad_input():
    with pytest.raises(ProbeError, match="no videos"):
        knn_top1(torch.empty(0, 3), torch.empty(0, dtype=torch.long), torch.eye(3), torch.zeros(3))
    with pytest.raises(ProbeError, match="differ in size"):
        knn_top1(torch.eye(3), torch.arange(3), torch.eye(2), torch.arange(2))
    with pytest.raises(ProbeError, match="k must be"):
        knn_top1(torch.eye(3), torch.arange(3), torch.eye(3), torch.arange(3), k=0)


def test_linear_probe_separates_clusters_and_fails_on_xor():
    x, y = clusters(20, 3, noise=0.3)
    xt, yt = clusters(10, 3, noise=0.3, seed=1)
    r = linear_top1(x, y, xt, yt)
    assert r["top1"] == 1.0 and r["classes"] == 3 and r["train_loss"] < 0.1
    assert linear_top1(x, y, xt, yt)["predictions"] == r["predictions"]  # deterministic
    # XOR of the signs of two coordinates: no line separates it (top-1 near 1/2),
    # while the kNN vote, local, gets it.
    g = torch.Generator().manual_seed(0)
    pts = torch.randn(400, 2, generator=g)
    lab = ((pts[:, 0] > 0) ^ (pts[:, 1] > 0)).long()
    assert linear_top1(pts[:300], lab[:300], pts[300:], lab[300:])["top1"] < 0.7
    assert knn_top1(pts[:300], lab[:300], pts[300:], lab[300:], k=5)["top1"] > 0.85


def test_clip_starts_and_indices():
    # 80 frames, 16-frame clips at stride 2 span 31 frames: starts 0 .. 49.
    assert clip_starts(80, 16, 2, 3) == [0, 24, 49]
    assert clip_starts(80, 16, 2, 1) == [24]
    assert clip_starts(10, 16, 2, 2) == [0, 0]
    assert clip_indices(10, 0, 8, 2) == [0, 2, 4, 6, 8, 9, 9, 9]


def test_centre_crop_resize():
    frames = np.arange(2 * 4 * 6 * 3, dtype=np.uint8).reshape(2, 4, 6, 3)
    assert torch.equal(centre_crop_resize(frames, 4), torch.from_numpy(frames[:, :, 1:5]))
    flat = np.full((1, 8, 12, 3), 77, dtype=np.uint8)
    out = centre_crop_resize(flat, 3)
    assert out.shape == (1, 3, 3, 3) and out.dtype == torch.uint8 and (out == 77).all()


def test_video_features_average_clips_and_skip_bad_videos(tmp_path):
    root = micro_corpus(tmp_path / "v", count=3)
    bad = tmp_path / "v" / "bad.mp4"
    bad.write_bytes(b"not a video")
    videos = [root / "texture0.mp4", bad, root / "texture2.mp4"]
    torch.manual_seed(0)
    net = r3d18_backbone(4).eval()
    f, kept, skipped = video_features(net, videos, 4, 2, 32, clips_per_video=2, batch_size=3)
    assert f.shape == (2, feature_dim(4)) and kept == [0, 2]
    assert [Path(p) for p, _ in skipped] == [bad]
    with torch.no_grad():
        clips = read_clips(videos[2], 4, 2, 32, 2)
        assert clips.shape == (2, 4, 32, 32, 3)
        expected = net(clips_to_input(clips)).mean(0)
    torch.testing.assert_close(f[1], expected, rtol=1e-5, atol=1e-6)


def _listed(classes, labels, n=None) -> VideoList:
    n = len(labels) if n is None else n
    return VideoList(
        source="list.txt",
        format="ucf101",
        videos=tuple(Path(f"v{i}.mp4") for i in range(n)),
        labels=tuple(labels),
        classes=tuple(classes),
        listed=n,
        missing=(),
        unreadable=(),
        duplicates=0,
    )


def test_shared_labels_map_test_classes_by_name():
    train = _listed(["a", "b"], [0, 1, 1])
    test = _listed(["b", "c", "a"], [0, 1, 2])
    assert shared_labels(train, test) == ([0, 1, 1], [1, 2, 0], ["a", "b", "c"])
    plain = VideoList("p.txt", "paths", (Path("x.mp4"),), None, (), 1, (), (), 0)
    with pytest.raises(ProbeError, match="without labels"):
        shared_labels(train, plain)


def test_summary_line():
    knn = knn_top1(torch.eye(2), torch.arange(2), torch.eye(2), torch.arange(2))
    line = summary_line("trained (step 4)", {"knn": knn})
    assert line == (
        "trained (step 4): kNN top-1 1.000 (k=2, clamped from 20, T=0.07), chance 0.500, "
        "majority 0.500; 2 train / 2 test videos, 2 classes"
    )


def test_probe_command_on_a_micro_run(tmp_path, capsys):
    from stdann.cli import main
    from stdann.config import load_config
    from stdann.data import read_video_list
    from stdann.train.checkpoint import backbone_from_checkpoint, resolve_checkpoint
    from stdann.train.loop import train
    from train_fixtures import CONFIGS, MICRO

    root = tmp_path / "data"
    micro_corpus(root / "textures", count=8)
    lists = root / "lists"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 even\n2 odd\n")
    lines = [f"textures/texture{i}.mp4 {i % 2 + 1}" for i in range(8)]
    (lists / "trainlist01.txt").write_text("\n".join(lines[:6]) + "\n")
    (lists / "testlist01.txt").write_text("\n".join([*lines[6:], "textures/gone.mp4 1"]) + "\n")
    run = tmp_path / "run"
    config = load_config(CONFIGS / "tiny.yaml", [*MICRO, f"data.root={root}", "train.steps=2"])
    train(config, run, progress=False)
    args = ["probe", str(run), "--train-list", "lists/trainlist01.txt"]
    args += ["--test-list", "lists/testlist01.txt", "--k", "3", "--clips-per-video", "2"]
    assert main([*args, "--linear", "--device", "cpu"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("train: ") and "6 found, 0 missing" in out[0]
    assert out[1].startswith("test: ") and "2 found, 1 missing" in out[1]
    assert out[2].startswith("trained (step 2): kNN top-1 ")
    assert out[3].startswith(f"untrained (seed {config.seed}): kNN top-1 ")
    assert (
        "(k=3, T=0.07), linear top-1" in out[2] and "6 train / 2 test videos, 2 classes" in out[2]
    )
    assert out[4] == str(run / "probe.json")
    record = json.loads((run / "probe.json").read_text())
    assert record["step"] == 2 and record["lists"]["test"]["missing"] == 1
    # The known answer: the same probe computed here from the checkpoint.
    backbone, _ = backbone_from_checkpoint(resolve_checkpoint(run))
    train_list = read_video_list(root, "lists/trainlist01.txt")
    test_list = read_video_list(root, "lists/testlist01.txt")
    f, _, _ = video_features(backbone, train_list.videos, 4, 2, 32, clips_per_video=2)
    ft, _, _ = video_features(backbone, test_list.videos, 4, 2, 32, clips_per_video=2)
    expected = knn_top1(f, torch.tensor(train_list.labels), ft, torch.tensor(test_list.labels), k=3)
    assert record["trained"]["knn"]["predictions"] == expected["predictions"]
    assert record["trained"]["knn"]["top1"] == expected["top1"]
    assert set(record["untrained"]) == {"knn", "linear", "skipped"}
    # A list without labels is a user error naming the file.
    (lists / "plain.txt").write_text("textures/texture0.mp4\n")
    assert main(["probe", str(run), "--train-list", "lists/plain.txt", *args[4:]]) == 2
    assert "without labels" in capsys.readouterr().err
