"""The recipe as one resumable command, on a micro network and corpus."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
import torch

from stdann.cli import main as stdann_main
from stdann.config import load_config
from stdann.model.backbone import BLOCK_NAMES, unit_shapes
from stdann.topo import load_positions
from stdann.train import loop, recipe, run_recipe
from stdann.train.checkpoint import load_checkpoint
from stdann.train.recipe import STAGES
from stdann.train.signals import EXIT_STOPPED, STOPPED_MARKER
from train_fixtures import CONFIGS, MICRO, micro_corpus, signalling

pytestmark = pytest.mark.slow


def test_recipe_runs_every_stage_and_a_rerun_skips_them(tmp_path):
    corpus = micro_corpus(tmp_path / "videos")
    overrides = [
        *MICRO,
        f"data.root={corpus}",
        "recipe.pretrain_steps=2",
        "recipe.topographic_steps=2",
        "recipe.topographic_lr_scale=0.5",
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
    # Stage 4 fine-tunes at recipe.topographic_lr_scale of the learning rate.
    lr = config.optim.lr_per_64_clips
    assert pre["config"]["optim"]["lr_per_64_clips"] == lr
    assert state["config"]["optim"]["lr_per_64_clips"] == lr * 0.5
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


def test_a_stopped_recipe_resumes_where_it_stopped(tmp_path, monkeypatch, capsys):
    """SIGTERM in stage 1's third step, then SIGUSR1 in the swap stage: each
    stops the command with exit status 75; the third run finishes, and stage 1
    ends bit-identical to a run never stopped."""
    corpus = micro_corpus(tmp_path / "videos")
    overrides = [
        *MICRO,
        f"data.root={corpus}",
        "recipe.pretrain_steps=4",
        "recipe.topographic_steps=2",
    ]
    run = tmp_path / "run"
    args = ["recipe", "--config", str(CONFIGS / "tiny.yaml"), "--out", str(run), "--no-progress"]
    args += [a for s in overrides for a in ("--set", s)]

    monkeypatch.setattr(loop, "clips_to_input", signalling(loop.clips_to_input, 3, signal.SIGTERM))
    assert stdann_main(args) == EXIT_STOPPED
    monkeypatch.undo()
    first = run / "1-pretrain" / "checkpoints" / "step-000000003.pt"
    assert f"stdann recipe: SIGTERM: stopped after step 3 with checkpoint '{first}'" in (
        capsys.readouterr().err
    )
    assert json.loads((run / STOPPED_MARKER).read_text())["step"] == 3
    assert not (run / "1-pretrain" / "finished.json").exists()

    real_swap = recipe.swap_optimize

    def interrupted_swap(*a, **k):
        os.kill(os.getpid(), signal.SIGUSR1)
        return real_swap(*a, **k)

    monkeypatch.setattr(recipe, "swap_optimize", interrupted_swap)
    assert stdann_main(args) == EXIT_STOPPED
    monkeypatch.undo()
    assert "stdann recipe: SIGUSR1: stopped; run the same command" in capsys.readouterr().err
    assert json.loads((run / STOPPED_MARKER).read_text())["signal"] == "SIGUSR1"
    assert [recipe.is_finished(run / s) for s in STAGES] == [True, True, False, False]

    assert stdann_main(args) == 0
    assert not (run / STOPPED_MARKER).exists()
    assert all(recipe.is_finished(run / s) for s in STAGES) and recipe.is_finished(run)
    config = load_config(CONFIGS / "tiny.yaml", overrides)
    straight = recipe.train(
        recipe.stage_config(config, ["train.steps=4", "topography.alpha=0"]),
        tmp_path / "straight",
        progress=False,
    )
    resumed = load_checkpoint(run / "1-pretrain" / "checkpoints" / "step-000000004.pt")["moco"]
    for k, v in straight.moco.query_encoder().state_dict().items():
        assert torch.equal(v, resumed["encoder_q"][k]), k
    assert torch.equal(straight.moco.queue, resumed["queue"])
