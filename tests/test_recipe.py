"""The recipe as one resumable command, on a micro network and corpus."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stdann.cli import main as stdann_main
from stdann.config import load_config
from stdann.model.backbone import BLOCK_NAMES, unit_shapes
from stdann.topo import load_positions
from stdann.train import run_recipe
from stdann.train.checkpoint import load_checkpoint
from stdann.train.recipe import STAGES
from train_fixtures import CONFIGS, MICRO, micro_corpus

pytestmark = pytest.mark.slow


def test_recipe_runs_every_stage_and_a_rerun_skips_them(tmp_path):
    corpus = micro_corpus(tmp_path / "videos")
    overrides = [
        *MICRO,
        f"data.root={corpus}",
        "recipe.pretrain_steps=2",
        "recipe.topographic_steps=2",
    ]
    config = load_config(CONFIGS / "tiny.yaml", overrides)
    seen = []
    final = run_recipe(
        config, tmp_path / "run", progress=False, on_stage=lambda s, k: seen.append((s, k))
    )
    assert seen == [(s, False) for s in STAGES]
    assert final == tmp_path / "run" / "4-topographic"
    for stage in STAGES:
        assert (tmp_path / "run" / stage / "finished.json").exists()
    # Stage 3: responses of every block, stimuli x units in (C, H, W) order.
    shapes = unit_shapes(4, 32, 32, channels=4)
    responses = tmp_path / "run" / "3-swap" / "responses"
    for block in BLOCK_NAMES:
        r = np.load(responses / f"{block}.npy")
        assert r.shape[1] == int(np.prod(shapes[block]))
    initial = load_positions(tmp_path / "run" / "2-positions", shapes)
    optimised = load_positions(tmp_path / "run" / "3-swap" / "positions", shapes)
    # Swapping permutes the units over the same set of positions.
    moved = 0
    for block in BLOCK_NAMES:
        a, b = initial[block].coordinates, optimised[block].coordinates
        assert np.array_equal(np.sort(a, axis=0), np.sort(b, axis=0))
        moved += int((a != b).any(axis=1).sum())
    assert moved > 0
    # Stage 4 trained on the optimised positions, starting from stage 1's weights.
    final_ckpt = json.loads((final / "finished.json").read_text())["checkpoint"]
    state = load_checkpoint(final / "checkpoints" / final_ckpt)
    assert state["step"] == 2 and state["config"]["topography"]["alpha"] == 0.25
    pre = load_checkpoint(tmp_path / "run" / "1-pretrain" / "checkpoints" / "step-000000002.pt")
    assert pre["config"]["topography"]["alpha"] == 0
    # A rerun finds every stage finished.
    seen.clear()
    run_recipe(config, tmp_path / "run", progress=False, on_stage=lambda s, k: seen.append((s, k)))
    assert seen == [(s, True) for s in STAGES]


def test_a_killed_stage_resumes_and_the_responses_command(tmp_path):
    corpus = micro_corpus(tmp_path / "videos")
    overrides = [
        *MICRO,
        f"data.root={corpus}",
        "recipe.pretrain_steps=4",
        "recipe.topographic_steps=2",
    ]
    config = load_config(CONFIGS / "tiny.yaml", overrides)
    # Stage 1 stopped after 2 of its 4 steps, as a killed run leaves it.
    from stdann.train import train
    from stdann.train.recipe import stage_config

    partial = stage_config(config, ["train.steps=2", "topography.alpha=0"])
    train(partial, tmp_path / "run" / "1-pretrain", progress=False)
    (tmp_path / "run" / "1-pretrain" / "finished.json").unlink()
    seen = []
    run_recipe(config, tmp_path / "run", progress=False, on_stage=lambda s, k: seen.append((s, k)))
    assert seen[0] == ("1-pretrain", False)
    state = load_checkpoint(tmp_path / "run" / "1-pretrain" / "checkpoints" / "step-000000004.pt")
    assert state["step"] == 4
    out = tmp_path / "responses"
    assert stdann_main(["responses", str(tmp_path / "run" / "1-pretrain"), "--out", str(out)]) == 0
    assert (out / "layer3.1.npy").exists() and (out / "stimuli.csv").exists()
    assert stdann_main(["responses", str(tmp_path / "nothing"), "--out", str(out)]) == 2
