"""The alpha sweep: one recipe per (alpha, seed), then one analysis over all of them.

    RUN/alpha-0.25-seed-0/      a recipe run (resumable like any other)
    RUN/analysis/               `stdann analyze` over every run: metrics against alpha

Runs go one after another here; `sweep_commands` gives one command per run
for a cluster's scheduler instead. A rerun skips finished runs and resumes
the one that was stopped.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from stdann.config import Config
from stdann.train.recipe import is_finished, run_recipe, stage_config


def run_name(alpha: float, seed: int) -> str:
    return f"alpha-{alpha:g}-seed-{seed}"


def sweep_runs(
    config: Config, alphas: Sequence[float], seeds: Sequence[int]
) -> list[tuple[str, Config]]:
    """(folder name, config) of every run, alpha changing fastest within a seed."""
    return [
        (
            run_name(a, s),
            stage_config(config, [f"topography.alpha={a}", f"seed={s}"]),
        )
        for s in seeds
        for a in alphas
    ]


def sweep_commands(
    config_path: Path,
    overrides: Sequence[str],
    alphas: Sequence[float],
    seeds: Sequence[int],
    out: Path,
) -> list[str]:
    """One `stdann recipe` command line per run, for a scheduler."""
    lines = []
    for s in seeds:
        for a in alphas:
            args = ["stdann", "recipe", "--config", str(config_path)]
            for o in [*overrides, f"topography.alpha={a}", f"seed={s}"]:
                args += ["--set", o]
            args += ["--out", str(out / run_name(a, s)), "--no-progress"]
            lines.append(shlex.join(args))
    return lines


def run_sweep(
    config: Config,
    alphas: Sequence[float],
    seeds: Sequence[int],
    out: str | Path,
    *,
    progress: bool = True,
    analyze: bool = True,
) -> list[Path]:
    """Every run of the sweep, then the analysis over all of them; returns the run folders."""
    out = Path(out)
    folders = []
    for name, run_config in sweep_runs(config, alphas, seeds):
        folder = out / name
        if not is_finished(folder):
            run_recipe(run_config, folder, progress=progress)
        folders.append(folder)
    if analyze:
        from stdann.analysis.commands import run_analysis

        run_analysis(folders, out / "analysis")
    return folders
