"""The alpha sweep, and `stdann sweep`: one recipe per (alpha, seed), then one
analysis over all of them.

    RUN/alpha-0.25-seed-0/      a recipe run (resumable like any other)
    RUN/analysis/               `stdann analyze` over every run: metrics against alpha

Runs go one after another here. The recipe's first three stages (training
at alpha = 0, the positions, the swap on the stage-1 network's responses)
do not depend on alpha, so the runs of one seed share them: the first run
of a seed makes them and each other alpha starts from a copy (hard links
where the file system has them; every file of a run is written by rename,
never in place), then trains its own stage 4. `sweep_commands` gives one command per run
for a cluster's scheduler instead, and `slurm_script` a SLURM job array that
runs each under torchrun and requeues a run that a signal stopped. A rerun
skips finished runs and resumes the one that was stopped.

The sweep trains and then analyses, so it sits above both packages, beside
the command line: `stdann.train` never imports `stdann.analysis`.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import shutil
from collections.abc import Sequence
from pathlib import Path

from stdann.analysis.commands import run_analysis
from stdann.config import Config, ConfigError, load_config
from stdann.train.commands import config_arguments, log_to_stderr, run_stoppable
from stdann.train.recipe import STAGES, is_finished, run_recipe, stage_config
from stdann.train.signals import EXIT_STOPPED, STOPPED_MARKER

log = logging.getLogger("stdann.sweep")

#: The stages that do not depend on alpha: shared by the runs of one seed.
SHARED_STAGES = STAGES[:3]


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


def _config_arguments(config_path: Path, overrides: Sequence[str], alpha: float, seed: int):
    """--config and --set arguments of `stdann recipe` for one run of the sweep."""
    args = ["--config", str(config_path)]
    for o in [*overrides, f"topography.alpha={alpha}", f"seed={seed}"]:
        args += ["--set", o]
    return args


def sweep_commands(
    config_path: Path,
    overrides: Sequence[str],
    alphas: Sequence[float],
    seeds: Sequence[int],
    out: Path,
) -> list[str]:
    """One `stdann recipe` command line per run, for a scheduler."""
    return [
        shlex.join(
            [
                "stdann",
                "recipe",
                *_config_arguments(config_path, overrides, a, s),
                *["--out", str(out / run_name(a, s)), "--no-progress"],
            ]
        )
        for s in seeds
        for a in alphas
    ]


#: The SLURM job array of `slurm_script`; {cases} holds one `case` branch per run.
_SLURM = """\
#!/bin/bash
# The stdann sweep as a SLURM job array: one recipe per task, under torchrun on
# {nodes} node(s) of {gpus} GPUs. Five minutes before the time limit SLURM sends
# SIGUSR1; stdann finishes its step, writes a checkpoint and exits 75, and the
# task requeues itself; the requeued task resumes where it stopped. When every
# task has finished, the same `stdann sweep` command without --print-commands
# skips the finished runs and analyses them together.
#SBATCH --job-name=stdann-sweep
#SBATCH --array=0-{last}
#SBATCH --nodes={nodes}
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node={gpus}
#SBATCH --time=24:00:00
#SBATCH --signal=USR1@300
#SBATCH --requeue
#SBATCH --open-mode=append

case "$SLURM_ARRAY_TASK_ID" in
{cases}
esac
head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
rm -f "$out/{marker}"
srun torchrun --nnodes="$SLURM_NNODES" --nproc-per-node={gpus} \\
    --rdzv-id="$SLURM_JOB_ID" --rdzv-backend=c10d --rdzv-endpoint="$head:$((20000 + SLURM_JOB_ID % 20000))" \\
    --signals-to-handle=SIGTERM,SIGINT,SIGUSR1 --shutdown-timeout=240 \\
    -m stdann.cli recipe "${{args[@]}}" --out "$out" --no-progress
status=$?
# torchrun exits 1 whatever its workers exit with; rank 0 leaves {marker} then.
if [ "$status" -eq {stopped} ] || [ -f "$out/{marker}" ]; then
    scontrol requeue "$SLURM_JOB_ID"
fi
exit "$status"
"""


def slurm_script(
    config_path: Path,
    overrides: Sequence[str],
    alphas: Sequence[float],
    seeds: Sequence[int],
    out: Path,
    *,
    nodes: int = 1,
    gpus_per_node: int = 8,
) -> str:
    """An sbatch script: a job array of one recipe per run under torchrun, each
    stopped by SIGUSR1 before its time limit and requeued on EXIT_STOPPED."""
    runs = [(a, s) for s in seeds for a in alphas]
    cases = "\n".join(
        f"    {i}) out={shlex.quote(str(out / run_name(a, s)))}; "
        f"args=({shlex.join(_config_arguments(config_path, overrides, a, s))}) ;;"
        for i, (a, s) in enumerate(runs)
    )
    return _SLURM.format(
        nodes=nodes,
        gpus=gpus_per_node,
        last=len(runs) - 1,
        cases=cases,
        marker=STOPPED_MARKER,
        stopped=EXIT_STOPPED,
    )


def run_sweep(
    config: Config,
    alphas: Sequence[float],
    seeds: Sequence[int],
    out: str | Path,
    *,
    progress: bool = True,
    analyze: bool = True,
) -> list[Path]:
    """Every run of the sweep, then the analysis over all of them; returns the run folders.

    Runs of one seed share stages 1-3 (`SHARED_STAGES`): a run whose stages
    are unfinished starts from the finished ones of an earlier run of its seed.
    """
    out = Path(out)
    folders = []
    runs = sweep_runs(config, alphas, seeds)
    # A run of each seed whose shared stages are done, found before any runs
    # (a rerun with a new alpha starts from the runs already there).
    done: dict[int, Path] = {}
    for name, run_config in runs:
        if all(is_finished(out / name / stage) for stage in SHARED_STAGES):
            done.setdefault(run_config.seed, out / name)
    for name, run_config in runs:
        folder = out / name
        if not is_finished(folder):
            source = done.get(run_config.seed)
            if source is not None:
                share_stages(source, folder)
            run_recipe(run_config, folder, progress=progress)
        if all(is_finished(folder / stage) for stage in SHARED_STAGES):
            done.setdefault(run_config.seed, folder)
        folders.append(folder)
    if analyze:
        run_analysis(folders, out / "analysis")
    return folders


def share_stages(source: Path, folder: Path) -> None:
    """Copy the finished alpha-independent stages of run `source` into run
    `folder` where `folder` has not finished them; hard links where possible."""
    for stage in SHARED_STAGES:
        target = folder / stage
        if is_finished(target) or not is_finished(source / stage):
            continue
        if target.exists():
            shutil.rmtree(target)  # a stage killed half-way: the copy replaces it
        shutil.copytree(source / stage, target, copy_function=_link_or_copy)
        log.info("%s: %s shared with %s (it does not depend on alpha)", folder, stage, source)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _alphas(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--alphas: a comma-separated list of numbers, got {text!r}") from None


def run_sweep_command(args: argparse.Namespace) -> int:
    log_to_stderr()
    alphas = _alphas(args.alphas)
    seeds = list(range(args.seeds))
    if args.print_commands == "slurm":
        print(
            slurm_script(
                args.config,
                args.overrides,
                alphas,
                seeds,
                args.out,
                nodes=args.nodes,
                gpus_per_node=args.gpus_per_node,
            ),
            end="",
        )
        return 0
    if args.print_commands:
        for line in sweep_commands(args.config, args.overrides, alphas, seeds, args.out):
            print(line)
        return 0
    config = load_config(args.config, args.overrides)
    run_stoppable(
        args.out,
        lambda: run_sweep(config, alphas, seeds, args.out, progress=not args.no_progress),
    )
    print(args.out / "analysis" / "report.html")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="the recipe once per alpha (and seed), then the analysis of all of them",
        description="Run one recipe per alpha and seed into --out, one after another (a rerun "
        "resumes), then `stdann analyze` over all runs: every metric against alpha.",
    )
    config_arguments(p)
    p.add_argument(
        "--alphas", default="0,0.1,0.25,0.5,1.25,2.5,25", help="comma-separated (TDANN's sweep)"
    )
    p.add_argument("--seeds", type=int, default=1, help="seeds 0 .. N-1 (default 1)")
    p.add_argument(
        "--print-commands",
        nargs="?",
        const="shell",
        choices=["shell", "slurm"],
        help="instead of running: one `stdann recipe` line per run (shell, the default), or "
        "a SLURM job-array script that runs each under torchrun and requeues a stopped one",
    )
    p.add_argument(
        "--nodes", type=int, default=1, help="--print-commands slurm: nodes per run (default 1)"
    )
    p.add_argument(
        "--gpus-per-node",
        type=int,
        default=8,
        help="--print-commands slurm: GPUs per node (default 8)",
    )
    p.set_defaults(run=run_sweep_command)
