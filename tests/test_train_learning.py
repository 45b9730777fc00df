"""The tiny config learns on the built-in corpus: the probe's InfoNCE falls and
its nearest-neighbour accuracy rises within the config's 150 steps."""

from __future__ import annotations

import json
import math

import pytest

from stdann.cli import main as stdann_main
from train_fixtures import CONFIGS

pytestmark = pytest.mark.slow


def test_tiny_config_learns_on_the_builtin_corpus(tmp_path):
    out = tmp_path / "tiny"
    assert stdann_main(["train", "--config", str(CONFIGS / "tiny.yaml"), "--out", str(out)]) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    probes = [r for r in records if "knn_same_video" in r]
    losses = [r for r in records if "loss" in r]
    assert [p["step"] for p in probes] == [0, 50, 100, 150]
    first, later = probes[0], probes[1:]
    # The probe's InfoNCE is measured on fixed clips by one encoder, so it
    # falls only when the network learns; chance is ln(2 N - 1) for N videos.
    assert first["probe_info_nce"] == pytest.approx(math.log(47), abs=0.2)
    assert later[-1]["probe_info_nce"] < first["probe_info_nce"] - 0.15
    assert max(p["knn_same_video"] for p in later) >= first["knn_same_video"] + 0.04
    # The training loss (against a queue of older keys) stays well below chance.
    tail = [r["loss"] for r in losses if r["step"] > 100]
    assert sum(tail) / len(tail) < losses[0]["chance"] - 0.3
    assert all(math.isfinite(r["loss"]) and r["spatial_loss"] > 0 for r in losses)
