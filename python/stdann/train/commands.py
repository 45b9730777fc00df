"""`stdann train`, `stdann recipe`, `stdann sweep`, `stdann responses`, `stdann export`
and `stdann probe`.

Exit status: 0 done; 1 a diverged run or a file that could not be written; 2
bad input (config, data, checkpoint); 75 (`EXIT_STOPPED`) stopped by a signal
after a checkpoint, to be run again, which resumes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from stdann.atomic import WriteError, atomic_write_text
from stdann.config import ConfigError, add_override_argument, load_config
from stdann.data import VideoError
from stdann.model.recording import BlockResponsesError
from stdann.stimuli import StimulusError
from stdann.topo import TopographyError
from stdann.train.checkpoint import (
    CheckpointError,
    backbone_from_checkpoint,
    file_sha256,
    newest_readable_checkpoint,
    resolve_checkpoint,
)
from stdann.train.loop import NonFiniteLossError, TrainingError, train
from stdann.train.recipe import run_recipe, write_grating_responses
from stdann.train.signals import EXIT_STOPPED, STOPPED_MARKER, Stopped, StopSignals

T = TypeVar("T")

#: Errors that stop a command before or during a run, with a message for the user.
USER_ERRORS = (
    ConfigError,
    TrainingError,
    CheckpointError,
    TopographyError,
    VideoError,
    StimulusError,
    BlockResponsesError,
    WriteError,
)


def _config_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, type=Path, help="experiment config (YAML)")
    add_override_argument(p)
    p.add_argument("--out", required=True, type=Path, help="run folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _fail(command: str, err: Exception) -> int:
    message = f"{err}"
    if isinstance(err, WriteError):
        good = last_good_checkpoint(err.path)
        message += f"; the last good checkpoint is '{good}'" if good else "; no checkpoint yet"
    print(f"stdann {command}: {type(err).__name__}: {message}", file=sys.stderr)
    # A diverged run or a failed write (1) is not a usage or input error (2).
    return 1 if isinstance(err, NonFiniteLossError | WriteError) else 2


def last_good_checkpoint(path: Path) -> Path | None:
    """The newest readable checkpoint of the run that `path` (a file it failed to
    write) belongs to: the nearest `checkpoints` folder at or above its folder."""
    for folder in list(path.parents)[:3]:
        checkpoints = folder if folder.name == "checkpoints" else folder / "checkpoints"
        if checkpoints.is_dir():
            return newest_readable_checkpoint(checkpoints)
    return None


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")


def _is_rank_0() -> bool:
    return os.environ.get("RANK", "0") == "0"


def _stoppable(command: str, out: Path, run: Callable[[], T]) -> tuple[int, T | None]:
    """(exit status, what `run()` returned): `run()` with the stop signals handled
    and the user's errors reported."""
    if _is_rank_0():
        # Unremovable (a read-only folder) is not worth a message: the run's
        # first write will fail with one.
        with contextlib.suppress(OSError):
            (out / STOPPED_MARKER).unlink(missing_ok=True)
    try:
        with StopSignals(deferred=False):
            return 0, run()
    except Stopped as stop:
        print(f"stdann {command}: {stop}", file=sys.stderr)
        if _is_rank_0():
            marker = {
                "signal": signal.Signals(stop.signum).name,
                "step": stop.step,
                "checkpoint": str(stop.checkpoint) if stop.checkpoint else None,
                "exit_status": EXIT_STOPPED,
            }
            with contextlib.suppress(OSError):  # the exit status tells it too
                atomic_write_text(out / STOPPED_MARKER, json.dumps(marker) + "\n")
        return EXIT_STOPPED, None
    except USER_ERRORS as err:
        return _fail(command, err), None


def run_train(args: argparse.Namespace) -> int:
    _logging()
    status, result = _stoppable(
        "train",
        args.out,
        lambda: train(
            load_config(args.config, args.overrides),
            args.out,
            resume=not args.restart,
            init_weights=args.init,
            positions=args.positions,
            progress=not args.no_progress,
        ),
    )
    if result is not None and result.checkpoint is not None:
        print(result.checkpoint)
    return status


def run_recipe_command(args: argparse.Namespace) -> int:
    _logging()
    status, final = _stoppable(
        "recipe",
        args.out,
        lambda: run_recipe(
            load_config(args.config, args.overrides), args.out, progress=not args.no_progress
        ),
    )
    if final is not None:
        print(final)
    return status


def _numbers(text: str, kind, what: str) -> list:
    try:
        return [kind(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"{what}: a comma-separated list of numbers, got {text!r}") from None


def run_sweep_command(args: argparse.Namespace) -> int:
    from stdann.train.sweep import run_sweep, slurm_script, sweep_commands

    _logging()
    try:
        alphas = _numbers(args.alphas, float, "--alphas")
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
    except USER_ERRORS as err:
        return _fail("sweep", err)

    status, _ = _stoppable(
        "sweep",
        args.out,
        lambda: run_sweep(
            load_config(args.config, args.overrides),
            alphas,
            seeds,
            args.out,
            progress=not args.no_progress,
        ),
    )
    if status == 0:
        print(args.out / "analysis" / "report.html")
    return status


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
    from stdann.export import ModelFolderError, export_model, save_weights
    from stdann.train.checkpoint import load_checkpoint

    _logging()
    try:
        if args.out.suffix == ".safetensors":
            # The earlier form, kept for scripts that use it: the weights alone.
            if args.metrics is not None:
                raise ModelFolderError("--metrics goes with a model folder, not a weights file")
            checkpoint = resolve_checkpoint(args.checkpoint)
            backbone, config = backbone_from_checkpoint(checkpoint)
            step = load_checkpoint(checkpoint).get("step")
            save_weights(
                args.out,
                backbone,
                config,
                step=None if step is None else int(step),
                source_sha256=file_sha256(checkpoint),
            )
        else:
            export_model(args.checkpoint, args.out, metrics=args.metrics)
    except WriteError as err:
        # Not `_fail`: an export leaves the run's checkpoints as they were.
        print(f"stdann export: WriteError: {err}", file=sys.stderr)
        return 1
    except (*USER_ERRORS, ModelFolderError) as err:
        return _fail("export", err)
    print(args.out)
    return 0


def probe_output_folder(source: Path, checkpoint: Path) -> Path:
    """Where `stdann probe` writes probe.json: the run folder named, or the run
    folder of a checkpoint named (the folder holding its `checkpoints/`)."""
    if source.is_dir():
        return source
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else source.parent


def run_probe(args: argparse.Namespace) -> int:
    """The labelled probe of a run's checkpoint and of its untrained network."""
    import torch

    from stdann.config import apply_overrides, config_from_dict
    from stdann.data.lists import VideoListError, read_video_list
    from stdann.model.moco import Encoder
    from stdann.train.checkpoint import load_checkpoint
    from stdann.train.labelled_probe import ProbeError, probe_network, summary_line

    _logging()
    try:
        checkpoint = resolve_checkpoint(args.source)
        backbone, config = backbone_from_checkpoint(checkpoint)
        if args.overrides:
            config = config_from_dict(apply_overrides(config.to_dict(), args.overrides))
        step = load_checkpoint(checkpoint).get("step")
        root_name = args.root if args.root is not None else config.data.root
        if root_name == "builtin":
            from stdann.data.builtin import builtin_corpus_folder

            root = builtin_corpus_folder()
        else:
            root = Path(root_name).expanduser()
        lists = {}
        for name, path in (("train", args.train_list), ("test", args.test_list)):
            listed = read_video_list(root, path)
            # Missing videos are normal in a downloaded dataset, never silent.
            print(f"{name}: {listed.summary()}")
            lists[name] = listed
        try:
            auto = "cuda" if torch.cuda.is_available() else "cpu"
            device = torch.device(auto if args.device == "auto" else args.device)
        except RuntimeError:
            raise ConfigError(f"--device {args.device!r}: use auto, cpu or cuda[:N]") from None
        d = config.data
        common = {
            "frames": d.frames,
            "stride": d.stride,
            "size": d.size,
            "device": device,
            "k": args.k,
            "temperature": args.temperature,
            "linear": args.linear,
            "clips_per_video": args.clips_per_video,
            "batch_size": args.batch_size,
            "autorotate": d.autorotate,
        }
        # The untrained control: the weights training started from, built as
        # stdann.analysis.targets.untrained_control and stdann train build them.
        torch.manual_seed(config.seed)
        untrained = Encoder(
            config.model.width, config.model.head_hidden, config.model.embedding_dim
        ).backbone
        networks = {
            "trained": (f"trained (step {step})", backbone),
            "untrained": (f"untrained (seed {config.seed})", untrained),
        }
        results = {}
        for key, (label, net) in networks.items():
            results[key] = probe_network(net.to(device), lists["train"], lists["test"], **common)
            print(summary_line(label, results[key]))
        record = {
            "checkpoint": str(checkpoint),
            "checkpoint_sha256": file_sha256(checkpoint),
            "step": None if step is None else int(step),
            "root": str(root),
            "lists": {
                name: {
                    "source": listed.source,
                    "format": listed.format,
                    "listed": listed.listed,
                    "found": len(listed.videos),
                    "missing": len(listed.missing),
                    "unreadable": len(listed.unreadable),
                    "classes": list(listed.classes),
                }
                for name, listed in lists.items()
            },
            "features": (
                f"layer4 global average pool, mean of {args.clips_per_video} unaugmented clips "
                f"per video evenly spaced in time (centre crop, {d.frames} frames at stride "
                f"{d.stride}, {d.size} px), eval mode"
            ),
            **results,
        }
        out = probe_output_folder(args.source, checkpoint) / "probe.json"
        atomic_write_text(out, json.dumps(record, indent=1) + "\n")
    except WriteError as err:
        print(f"stdann probe: WriteError: {err}", file=sys.stderr)
        return 1
    except (*USER_ERRORS, VideoListError, ProbeError) as err:
        return _fail("probe", err)
    print(out)
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
        "export",
        help="a model folder others can load and analyse: weights, positions, config, "
        "metrics and a model card",
        description="Write DIR/model.safetensors (the backbone, torchvision's key names), "
        "positions.safetensors, config.yaml, metrics.json (the analysis of this checkpoint: "
        "--metrics, or RUN/analysis/metrics.json where it is) and README.md (a model card). "
        "`stdann.load_model(DIR)` and `stdann analyze DIR` read it. An --out ending in "
        ".safetensors writes the weights alone.",
    )
    p.add_argument("checkpoint", type=Path, help="a checkpoint, or a run folder (its latest)")
    p.add_argument("--out", required=True, type=Path, help="the model folder (or FILE.safetensors)")
    p.add_argument("--metrics", type=Path, help="metrics.json of `stdann analyze` of the run")
    p.set_defaults(run=run_export)

    p = sub.add_parser(
        "probe",
        help="labelled probe: kNN (and linear) top-1 of the frozen backbone on labelled lists",
        description="Classify the videos of --test-list by the frozen backbone features of "
        "those of --train-list (both relative to the run config's data.root, or --root; any "
        "labelled format data.list reads, e.g. UCF101's trainlist01.txt/testlist01.txt): the "
        "temperature-weighted kNN vote of Wu et al. 2018 (cosine, k=20, T=0.07), and with "
        "--linear a logistic-regression probe. Done for the checkpoint and for the untrained "
        "network of the same seed; one line each, and RUN/probe.json. The built-in corpus "
        "has motion/trainlist01.txt and motion/testlist01.txt (kind of motion).",
    )
    p.add_argument(
        "source",
        metavar="RUN",
        type=Path,
        help="a run folder (its latest checkpoint) or a checkpoint",
    )
    p.add_argument("--train-list", required=True, help="labelled list of the training videos")
    p.add_argument("--test-list", required=True, help="labelled list of the test videos")
    p.add_argument("--root", help="the folder the lists are relative to (default: data.root)")
    p.add_argument("--k", type=int, default=20, help="neighbours that vote (default 20)")
    p.add_argument(
        "--temperature", type=float, default=0.07, help="vote weight exp(s / T) (default 0.07)"
    )
    p.add_argument("--linear", action="store_true", help="also a linear (logistic) probe")
    p.add_argument(
        "--clips-per-video", type=int, default=3, help="clips averaged per video (default 3)"
    )
    p.add_argument("--batch-size", type=int, default=16, help="clips per forward pass")
    p.add_argument(
        "--device", default="auto", help="auto (cuda where there is one), cpu or cuda[:N]"
    )
    add_override_argument(p)
    p.set_defaults(run=run_probe)
