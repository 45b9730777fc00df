"""The alpha sweep: one recipe per alpha, resumable, analysed together."""

from __future__ import annotations

import json

import pytest

from stdann.cli import main as stdann_main
from train_fixtures import CONFIGS, MICRO_RECIPE, micro_corpus

pytestmark = pytest.mark.slow


def test_sweep_runs_every_alpha_then_analyses_them_together(tmp_path, capsys):
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
    assert stdann_main(args) == 0
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
    # A rerun finds every run finished and only analyses again.
    mtime = (tmp_path / "sweep" / "alpha-0-seed-0" / "finished.json").stat().st_mtime_ns
    assert stdann_main(args) == 0
    assert (tmp_path / "sweep" / "alpha-0-seed-0" / "finished.json").stat().st_mtime_ns == mtime
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
