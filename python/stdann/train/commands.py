"""`stdann train`, `stdann recipe`, `stdann responses` and `stdann export`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from stdann.atomic import atomic_write
from stdann.config import ConfigError, add_override_argument, load_config
from stdann.data import VideoError
from stdann.model.recording import BlockResponsesError
from stdann.stimuli import StimulusError
from stdann.topo import TopographyError
from stdann.train.checkpoint import (
    CheckpointError,
    backbone_from_checkpoint,
    file_sha256,
    resolve_checkpoint,
)
from stdann.train.loop import NonFiniteLossError, TrainingError, train
from stdann.train.recipe import run_recipe, write_grating_responses

#: Errors that stop a command before or during a run, with a message for the user.
USER_ERRORS = (
    ConfigError,
    TrainingError,
    CheckpointError,
    TopographyError,
    VideoError,
    StimulusError,
    BlockResponsesError,
)


def _config_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, type=Path, help="experiment config (YAML)")
    add_override_argument(p)
    p.add_argument("--out", required=True, type=Path, help="run folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _fail(command: str, err: Exception) -> int:
    print(f"stdann {command}: {type(err).__name__}: {err}", file=sys.stderr)
    # A diverged run (1) is not a usage or input error (2).
    return 1 if isinstance(err, NonFiniteLossError) else 2


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")


def run_train(args: argparse.Namespace) -> int:
    _logging()
    try:
        config = load_config(args.config, args.overrides)
        result = train(
            config,
            args.out,
            resume=not args.restart,
            init_weights=args.init,
            positions=args.positions,
            progress=not args.no_progress,
        )
    except USER_ERRORS as err:
        return _fail("train", err)
    if result.checkpoint is not None:
        print(result.checkpoint)
    return 0


def run_recipe_command(args: argparse.Namespace) -> int:
    _logging()
    try:
        config = load_config(args.config, args.overrides)
        final = run_recipe(config, args.out, progress=not args.no_progress)
    except USER_ERRORS as err:
        return _fail("recipe", err)
    print(final)
    return 0


def _numbers(text: str, kind, what: str) -> list:
    try:
        return [kind(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"{what}: a comma-separated list of numbers, got {text!r}") from None


def run_sweep_command(args: argparse.Namespace) -> int:
    from stdann.train.sweep import run_sweep, sweep_commands

    _logging()
    try:
        alphas = _numbers(args.alphas, float, "--alphas")
        seeds = list(range(args.seeds))
        if args.print_commands:
            for line in sweep_commands(args.config, args.overrides, alphas, seeds, args.out):
                print(line)
            return 0
        config = load_config(args.config, args.overrides)
        run_sweep(config, alphas, seeds, args.out, progress=not args.no_progress)
    except USER_ERRORS as err:
        return _fail("sweep", err)
    print(args.out / "analysis" / "report.html")
    return 0


def run_responses(args: argparse.Namespace) -> int:
    try:
        checkpoint = resolve_checkpoint(args.checkpoint)
        if args.stimuli != "gratings":
            raise ConfigError(f"unknown stimulus set {args.stimuli!r} (known: gratings)")
        written = write_grating_responses(checkpoint, args.out, batch_size=args.batch_size)
    except USER_ERRORS as err:
        return _fail("responses", err)
    for path in written:
        print(path)
    return 0


def run_export(args: argparse.Namespace) -> int:
    try:
        from safetensors.torch import save as save_safetensors

        checkpoint = resolve_checkpoint(args.checkpoint)
        backbone, config = backbone_from_checkpoint(checkpoint)
        tensors = {k: v.contiguous() for k, v in backbone.state_dict().items()}
        metadata = {
            "architecture": "torchvision r3d_18" if config.model.width == 64 else "r3d_18",
            "width": str(config.model.width),
            "source_checkpoint_sha256": file_sha256(checkpoint),
            "clip": f"{config.data.frames}x{config.data.size}x{config.data.size}",
        }
        data = save_safetensors(tensors, metadata=metadata)
        atomic_write(Path(args.out), lambda f: f.write(data))
    except USER_ERRORS as err:
        return _fail("export", err)
    print(args.out)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train one stage: MoCo with the spatial loss (alpha > 0) or without",
        description="Train (or resume) one run. A folder that holds checkpoints is resumed "
        "exactly from the last one; the config may differ only in run length and logging.",
    )
    _config_arguments(p)
    p.add_argument("--init", type=Path, help="start from this checkpoint's weights and queue")
    p.add_argument("--positions", type=Path, help="folder of positions for the spatial loss")
    p.add_argument(
        "--restart", action="store_true", help="refuse to resume (error if checkpoints exist)"
    )
    p.set_defaults(run=run_train)

    p = sub.add_parser(
        "recipe",
        help="all stages: pretrain, positions, swap optimisation, topographic training",
        description="Run the paper's recipe, each stage in its own subfolder of --out. A rerun "
        "skips finished stages and resumes a killed one.",
    )
    _config_arguments(p)
    p.set_defaults(run=run_recipe_command)

    p = sub.add_parser(
        "sweep",
        help="the recipe once per alpha (and seed), then the analysis of all of them",
        description="Run one recipe per alpha and seed into --out, one after another (a rerun "
        "resumes), then `stdann analyze` over all runs: every metric against alpha.",
    )
    _config_arguments(p)
    p.add_argument(
        "--alphas", default="0,0.1,0.25,0.5,1.25,2.5,25", help="comma-separated (TDANN's sweep)"
    )
    p.add_argument("--seeds", type=int, default=1, help="seeds 0 .. N-1 (default 1)")
    p.add_argument(
        "--print-commands",
        action="store_true",
        help="print one command per run for a cluster's scheduler instead of running",
    )
    p.set_defaults(run=run_sweep_command)

    p = sub.add_parser(
        "responses",
        help="each block's time-averaged responses to a stimulus set",
        description="Write BLOCK.npy (stimuli x units, in the block's (C, H, W) unit order) "
        "for every block, with the stimulus table beside them.",
    )
    p.add_argument("checkpoint", type=Path, help="a checkpoint, or a run folder (its latest)")
    p.add_argument("--stimuli", default="gratings", help="stimulus set (default: gratings)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--batch-size", type=int, default=16)
    p.set_defaults(run=run_responses)

    p = sub.add_parser(
        "export", help="the backbone's weights alone, as safetensors, for use elsewhere"
    )
    p.add_argument("checkpoint", type=Path, help="a checkpoint, or a run folder (its latest)")
    p.add_argument("--out", required=True, type=Path, help="model.safetensors")
    p.set_defaults(run=run_export)
