"""`stdann train`, `stdann recipe`, `stdann responses` and `stdann probe`.

Errors are reported, and the exit status set, in one place: `stdann.cli.main`
(`stdann.errors` says which status each error gives). A stop signal ends a
training command with a checkpoint and exit status 75 (`EXIT_STOPPED`), to be
run again, which resumes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from stdann.atomic import WriteError, atomic_write_text
from stdann.config import ConfigError, add_override_argument, load_config
from stdann.train.checkpoint import (
    backbone_from_checkpoint,
    file_sha256,
    last_good_checkpoint,
    resolve_checkpoint,
)
from stdann.train.loop import train
from stdann.train.recipe import run_recipe, write_grating_responses
from stdann.train.signals import EXIT_STOPPED, STOPPED_MARKER, Stopped, StopSignals

T = TypeVar("T")


def config_arguments(p: argparse.ArgumentParser) -> None:
    """--config, --set, --out and --no-progress: the options of a command that trains."""
    p.add_argument("--config", required=True, type=Path, help="experiment config (YAML)")
    add_override_argument(p)
    p.add_argument("--out", required=True, type=Path, help="run folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def log_to_stderr() -> None:
    """The progress of a run's stages, one line each, on stderr."""
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")


def _is_rank_0() -> bool:
    return os.environ.get("RANK", "0") == "0"


def run_stoppable(out: Path, run: Callable[[], T]) -> T:
    """`run()`, a command that trains into `out`, with the stop signals handled:
    one stops it with `Stopped` (exit status 75, `stdann.cli.main`), leaving
    STOPPED_MARKER in `out`; a file it fails to write names the run's last
    good checkpoint."""
    if _is_rank_0():
        # Unremovable (a read-only folder) is not worth a message: the run's
        # first write will fail with one.
        with contextlib.suppress(OSError):
            (out / STOPPED_MARKER).unlink(missing_ok=True)
    try:
        with StopSignals(deferred=False):
            return run()
    except Stopped as stop:
        if _is_rank_0():
            marker = {
                "signal": signal.Signals(stop.signum).name,
                "step": stop.step,
                "checkpoint": str(stop.checkpoint) if stop.checkpoint else None,
                "exit_status": EXIT_STOPPED,
            }
            with contextlib.suppress(OSError):  # the exit status tells it too
                atomic_write_text(out / STOPPED_MARKER, json.dumps(marker) + "\n")
        raise
    except WriteError as err:
        good = last_good_checkpoint(err.path)
        err.kept = f"the last good checkpoint is '{good}'" if good else "no checkpoint yet"
        raise


def run_train(args: argparse.Namespace) -> int:
    log_to_stderr()
    result = run_stoppable(
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
    if result.checkpoint is not None:
        print(result.checkpoint)
    return 0


def run_recipe_command(args: argparse.Namespace) -> int:
    log_to_stderr()
    final = run_stoppable(
        args.out,
        lambda: run_recipe(
            load_config(args.config, args.overrides), args.out, progress=not args.no_progress
        ),
    )
    print(final)
    return 0


def run_responses(args: argparse.Namespace) -> int:
    checkpoint = resolve_checkpoint(args.checkpoint)
    written = write_grating_responses(checkpoint, args.out, batch_size=args.batch_size)
    for path in written:
        print(path)
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
    from stdann.data.lists import read_video_list
    from stdann.model.moco import Encoder
    from stdann.train.checkpoint import load_checkpoint
    from stdann.train.labelled_probe import probe_network, summary_line

    log_to_stderr()
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
    print(out)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train one stage: MoCo with the spatial loss (alpha > 0) or without",
        description="Train (or resume) one run. A folder that holds checkpoints is resumed "
        "exactly from the last one; the config may differ only in run length and logging.",
    )
    config_arguments(p)
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
    config_arguments(p)
    p.set_defaults(run=run_recipe_command)

    p = sub.add_parser(
        "responses",
        help="each block's time-averaged responses to a stimulus set",
        description="Write BLOCK.npy (stimuli x units, in the block's (C, H, W) unit order) "
        "for every block, with the stimulus table beside them.",
    )
    p.add_argument("checkpoint", type=Path, help="a checkpoint, or a run folder (its latest)")
    p.add_argument(
        "--stimuli",
        default="gratings",
        choices=["gratings"],
        help="stimulus set: gratings (recipe.gratings), the one set whose responses the swap "
        "optimisation takes; stdann analyze makes its dots and plaids itself",
    )
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--batch-size", type=int, default=16)
    p.set_defaults(run=run_responses)

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
