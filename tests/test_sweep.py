"""The alpha sweep: one recipe per alpha, resumable, analysed together."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

from stdann.analysis.targets import load_target
from stdann.cli import main as stdann_main
from stdann.topo import BlockPositions
from stdann.train import loop, recipe
from stdann.train.signals import EXIT_STOPPED, STOPPED_MARKER
from train_fixtures import CONFIGS, MICRO_RECIPE, micro_corpus, signalling

pytestmark = pytest.mark.slow


def test_sweep_runs_every_alpha_then_analyses_them_together(tmp_path, capsys, monkeypatch):
    corpus = micro_corpus(tmp_path / "videos")
    sets = [*MICRO_RECIPE, f"data.root={corpus}"]
    args = [
        "sweep",
        "--config",
        str(CONFIGS / "tiny.yaml"),
        "--alphas",
        "0.25,0",
        "--out",
        str(tmp_path / "sweep"),
        "--no-progress",
    ]
    args += [a for s in sets for a in ("--set", s)]
    assert stdann_main([*args, "--print-commands"]) == 0
    commands = capsys.readouterr().out.strip().splitlines()
    assert len(commands) == 2 and all(c.startswith("stdann recipe ") for c in commands)
    assert "topography.alpha=0.25" in commands[0] and "alpha-0.25-seed-0" in commands[0]
    # SIGTERM in the first run's first step: the sweep stops (75) and the rerun resumes it.
    monkeypatch.setattr(loop, "clips_to_input", signalling(loop.clips_to_input, 1, signal.SIGTERM))
    assert stdann_main(args) == EXIT_STOPPED
    monkeypatch.undo()
    first = tmp_path / "sweep" / "alpha-0.25-seed-0" / "1-pretrain" / "checkpoints"
    assert json.loads((tmp_path / "sweep" / STOPPED_MARKER).read_text())["checkpoint"] == str(
        first / "step-000000001.pt"
    )
    # The rerun: stages 1-3 do not depend on alpha, so the second alpha
    # starts from the first's and trains its stage 4 alone.
    trained = []
    real_train = recipe.train

    def counted(config, out, **kwargs):
        trained.append(Path(out).relative_to(tmp_path / "sweep").as_posix())
        return real_train(config, out, **kwargs)

    monkeypatch.setattr(recipe, "train", counted)
    assert stdann_main(args) == 0
    monkeypatch.undo()
    assert trained == [
        "alpha-0.25-seed-0/1-pretrain",
        "alpha-0.25-seed-0/4-topographic",
        "alpha-0-seed-0/4-topographic",
    ]
    shared = [tmp_path / "sweep" / name for name in ("alpha-0.25-seed-0", "alpha-0-seed-0")]
    for stage in ("1-pretrain/finished.json", "2-positions/layer3.1.npz", "3-swap/finished.json"):
        assert (shared[0] / stage).read_bytes() == (shared[1] / stage).read_bytes()
    assert not (tmp_path / "sweep" / STOPPED_MARKER).exists()
    for name in ("alpha-0.25-seed-0", "alpha-0-seed-0"):
        assert (tmp_path / "sweep" / name / "finished.json").exists()
    metrics = json.loads((tmp_path / "sweep" / "analysis" / "metrics.json").read_text())
    rows = metrics["alpha_sweep"]
    assert [r["alpha"] for r in rows] == [0.0, 0.25]
    assert all(r["median_dsi"] is not None for r in rows)
    # Each run stands beside its own untrained and alpha = 0 networks.
    assert all(r["untrained_median_dsi"] is not None for r in rows)
    assert all(r["alpha_0_median_dsi"] is not None for r in rows)
    assert [e["alpha"] for e in metrics["over_seeds"]] == [0.0, 0.25]
    assert metrics["over_seeds"][1]["median_dsi"]["runs"] == 1
    assert (tmp_path / "sweep" / "analysis" / "figures" / "alpha_median_dsi.png").exists()
    assert (tmp_path / "sweep" / "analysis" / "figures" / "alpha_sweep.png").exists()
    table = (tmp_path / "sweep" / "analysis" / "alpha_sweep.md").read_text()
    assert table.startswith("| layer3.1 | alpha 0 | alpha 0.25 | untrained | stage 1 (alpha = 0) |")
    # Stage 4 at alpha = 0 trains without positions; its map is read on the
    # swap-optimised positions the other alphas trained on.
    zero = load_target(tmp_path / "sweep" / "alpha-0-seed-0")
    assert "swap-optimised" in zero.positions_source
    swapped = BlockPositions.load(
        tmp_path / "sweep" / "alpha-0-seed-0" / "3-swap" / "positions" / "layer3.1.npz"
    )
    assert np.array_equal(zero.positions["layer3.1"].coordinates, swapped.coordinates)
    for key in ("median_axial_ratio", "direction_selective_channels", "probe_top1"):
        assert all(key in r for r in rows), key
    assert all(r["spectral_peak_clarity"] is not None for r in rows)
    # A rerun finds every run finished and only analyses again.
    mtime = (tmp_path / "sweep" / "alpha-0-seed-0" / "finished.json").stat().st_mtime_ns
    assert stdann_main(args) == 0
    assert (tmp_path / "sweep" / "alpha-0-seed-0" / "finished.json").stat().st_mtime_ns == mtime
    # A new alpha, listed first, starts from the finished runs' stages 1-3.
    trained.clear()
    monkeypatch.setattr(recipe, "train", counted)
    at = args.index("0.25,0")
    assert stdann_main([*args[:at], "1,0.25,0", *args[at + 1 :]]) == 0
    monkeypatch.undo()
    assert trained == ["alpha-1-seed-0/4-topographic"]
    assert (
        stdann_main(
            [
                "sweep",
                "--config",
                str(CONFIGS / "tiny.yaml"),
                "--alphas",
                "a,b",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )


def test_sweep_prints_a_slurm_job_array_that_requeues_a_stopped_run(tmp_path, capsys):
    args = ["sweep", "--config", str(CONFIGS / "tiny.yaml"), "--alphas", "0,0.25", "--seeds", "2"]
    args += ["--set", "data.root=/data/my videos", "--out", str(tmp_path / "sweep")]
    assert stdann_main([*args, "--print-commands", "slurm", "--nodes", "2"]) == 0
    script = capsys.readouterr().out
    assert script.startswith("#!/bin/bash\n")
    for line in (
        "#SBATCH --array=0-3",
        "#SBATCH --nodes=2",
        "#SBATCH --gpus-per-node=8",
        "#SBATCH --signal=USR1@300",
        "#SBATCH --requeue",
        f'if [ "$status" -eq {EXIT_STOPPED} ] || [ -f "$out/{STOPPED_MARKER}" ]; then',
        '    scontrol requeue "$SLURM_JOB_ID"',
    ):
        assert line in script.splitlines(), line
    assert 'torchrun --nnodes="$SLURM_NNODES" --nproc-per-node=8' in script
    assert "--signals-to-handle=SIGTERM,SIGINT,SIGUSR1" in script
    cases = [x.strip() for x in script.splitlines() if x.strip()[:2] in ("0)", "1)", "2)", "3)")]
    assert len(cases) == 4
    assert f"out={tmp_path}/sweep/alpha-0.25-seed-1;" in cases[3]
    assert "--set 'data.root=/data/my videos' --set topography.alpha=0.25 --set seed=1" in cases[3]
    if shutil.which("bash"):
        path = tmp_path / "sweep.sbatch"
        path.write_text(script)
        subprocess.run(["bash", "-n", str(path)], check=True)
