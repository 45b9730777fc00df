"""The training loop: MoCo's InfoNCE plus the spatial loss, one readable function.

    total = InfoNCE(queries, keys, queue) + sum_b alpha_b SL_b

One call of `train` runs (or resumes) one stage in one run folder:

    RUN/config.yaml         the resolved config
    RUN/checkpoints/        step-NNNNNNNNN.pt, the last few, written atomically
    RUN/metrics.jsonl       one JSON record per log interval and per probe (knn_same_video,
                            probe_info_nce; knn_top1 where train.probe_*_list are set)
    RUN/positions/          retinotopic positions, when the config asks for them
    RUN/tensorboard/        the same numbers for TensorBoard
    RUN/finished.json       written last: the stage is complete

It runs the same on one CPU, one GPU and under torchrun (one process per
GPU, torch.distributed initialised from torchrun's environment). A stop
signal (SIGTERM, SIGINT, SIGUSR1) ends it after the step in progress, with a
checkpoint (`stdann.train.signals`). `train` reads top to bottom: set-up,
resume, then the loop (the step, logging, the checkpoint); the helpers
below it each do one part of the set-up.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from stdann.atomic import atomic_write, atomic_write_text
from stdann.config import Config, TrainConfig, config_differences
from stdann.data import VideoClipLoader, VideoError, builtin_corpus
from stdann.data.folders import find_videos
from stdann.data.lists import VideoListError, read_video_list
from stdann.model.backbone import BLOCK_NAMES, unit_shapes
from stdann.model.inputs import clips_to_input, flip_samples
from stdann.model.moco import MoCo, momentum_at
from stdann.runtime import distributed_context, pick_device
from stdann.topo import (
    SpatialLoss,
    TopographyError,
    block_alpha,
    initial_positions,
    load_positions,
    positions_path,
    save_positions,
)
from stdann.train.checkpoint import (
    CheckpointError,
    checkpoint_path,
    file_sha256,
    latest_checkpoint,
    load_checkpoint,
    load_moco_state,
    load_newest_checkpoint,
    moco_state,
    random_states,
    save_checkpoint,
    set_random_states,
)
from stdann.train.errors import NonFiniteLossError, TrainingError
from stdann.train.metrics import RunLog
from stdann.train.probe import RunProbes
from stdann.train.signals import Stopped, StopSignals, agree

__all__ = ["NonFiniteLossError", "TrainResult", "TrainingError", "train"]

log = logging.getLogger("stdann.train")


@dataclass
class TrainResult:
    step: int
    checkpoint: Path | None
    finished: bool
    #: The trained model (query and key encoders, queue), on its device.
    moco: MoCo


def train(
    config: Config,
    out: str | Path,
    *,
    resume: bool = True,
    init_weights: str | Path | None = None,
    positions: str | Path | None = None,
    progress: bool = True,
    stop_at: int | None = None,
) -> TrainResult:
    """Train (or resume) one stage into run folder `out`; see the module docstring.

    `stop_at` ends the run after that many steps, with a checkpoint, as if it
    had been stopped there: the schedules still run over `train.steps`, so a
    resume continues exactly where the full run would have been. A stop signal
    does the same at the step it comes in and then raises `Stopped`.
    """
    # ---- set-up: where it runs, the data, the model, the optimiser ---------
    # Everything that can be wrong is checked here, before the first step.
    out, d, t, m = Path(out), config.data, config.train, config.moco
    rank, world, local_world = distributed_context()
    device, bf16 = _device(config)
    checkpoint_dir = out / "checkpoints"
    resume_from, saved = _checkpoint_to_resume(config, out, resume)
    videos = resolve_videos(d.root, d.list, d.list_subset, report=rank == 0)
    loader = _clip_loader(config, videos, rank, world, local_world)
    torch.manual_seed(config.seed)
    moco = build_moco(config, world).to(device)
    if init_weights is not None and saved is None:
        load_moco_state(moco, load_checkpoint(init_weights, device)["moco"], f"'{init_weights}'")
    block_positions, position_hashes = _positions_for(config, out, positions, rank)
    spatial = _spatial_loss(config, moco, block_positions)
    memory_format = _prepare_encoders(moco, t, world, device)
    optimizer, scheduler = _optimiser(config, moco, t.batch_size * d.views * world)
    run = _Run(config, moco, optimizer, scheduler, spatial, position_hashes, len(loader))

    # ---- resume: the newest checkpoint's weights, optimiser and random states
    step = run.restore(saved, resume_from, rank) if saved is not None else 0
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "config.yaml", config.to_yaml())
    probes = RunProbes.of(config, videos, device, rank)
    logbook = RunLog(out, config, device, step=step, rank=rank, progress=progress)

    # ---- the loop ----------------------------------------------------------
    end = t.steps if stop_at is None else min(stop_at, t.steps)
    last_path = None
    stop = StopSignals(deferred=True).install()
    stopped_by = 0  # the stop signal the ranks agreed to stop for
    moco.train()
    try:
        if step == 0 and probes is not None:
            logbook.record({"step": 0, **probes.run(moco)})
        saved_at = time.monotonic()
        while step < end and not stopped_by:
            epoch, first = divmod(step, run.per_epoch)
            for batch in logbook.timed(loader.iter_batches(epoch, start=first)):
                # -- the step: both losses, one SGD update
                x = _model_input(batch.clips, config, rank, step, device, memory_format)
                videos_of = batch.videos.to(device, non_blocking=True)
                moco.momentum_update(momentum_at(step, t.steps, m.momentum, m.momentum_final))
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    collect = spatial.collect() if spatial is not None else contextlib.nullcontext()
                    with collect:
                        contrastive, stats = moco(x, videos_of, d.views)
                spatial_loss = (
                    spatial.loss() if spatial is not None else torch.zeros((), device=device)
                )
                total = contrastive + spatial_loss.to(contrastive.device)
                optimizer.zero_grad(set_to_none=True)
                total.backward()
                optimizer.step()
                scheduler.step()
                step += 1

                # -- logging: the sums leave the device once a log interval
                logbook.add(step, contrastive, spatial_loss, stats, len(x) * world)
                if step % t.log_every == 0 or step == t.steps:
                    logbook.flush(step, scheduler.get_last_lr()[0], spatial)
                if t.probe_every and (step % t.probe_every == 0 or step == t.steps):
                    logbook.check()  # on every rank: the probes' numbers leave the device too
                    if probes is not None:  # rank 0, with a probe to run
                        logbook.record({"step": step, **probes.run(moco)})

                # -- checkpoint: every checkpoint_every steps (or minutes), at the end, at a stop
                minutes = (time.monotonic() - saved_at) / 60
                stopped_by, clock_due = agree(
                    stop.received, 0 < t.checkpoint_every_minutes <= minutes, device
                )
                due = step % t.checkpoint_every == 0 or step in (t.steps, end)
                if due or stopped_by or clock_due:
                    logbook.check()  # a loss that was not finite is never saved
                    last_path = run.save(checkpoint_dir, step, rank, world)
                    saved_at = time.monotonic()
                if stopped_by or step >= end:
                    break
    except VideoError as err:
        raise TrainingError(f"no usable training data in '{d.root}': {err}") from None
    finally:
        stop.restore()
        loader.close()
        logbook.close()
        if spatial is not None:
            spatial.remove()

    # ---- the end: finished.json, or the stop passed on ---------------------
    finished = step >= t.steps
    if stopped_by and not finished:
        raise Stopped(stopped_by, step, checkpoint_path(checkpoint_dir, step))
    if last_path is None and rank == 0:
        last_path = resume_from  # no step taken: the run ends where it resumed
    if rank == 0 and finished:
        atomic_write_text(
            out / "finished.json",
            json.dumps({"step": step, "checkpoint": last_path.name if last_path else None}) + "\n",
        )
    # A signal that came too late to stop the loop (in its last step or
    # checkpoint) is the caller's: the recipe must not start its next stage.
    stop.pass_on(stopped_by)
    return TrainResult(step=step, checkpoint=last_path, finished=finished, moco=moco)


def _model_input(
    clips: torch.Tensor,
    config: Config,
    rank: int,
    step: int,
    device: torch.device,
    memory_format: torch.memory_format,
) -> torch.Tensor:
    """A batch's clips as model input, with `data.sample_flip_p`'s flips drawn
    from a generator fixed by (seed, rank, step): a resumed run draws the
    same flips, with no state to save."""
    x = clips_to_input(clips, device)
    d = config.data
    if any(d.sample_flip_p):
        generator = torch.Generator().manual_seed(hash((config.seed, rank, step)) % 2**63)
        x = flip_samples(x, d.views, d.sample_flip_p, generator)
    return x.contiguous(memory_format=memory_format)


# ---- what a checkpoint holds ------------------------------------------------


@dataclass
class _Run:
    """The parts of a run that a checkpoint saves and a resume restores."""

    config: Config
    moco: MoCo
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    spatial: SpatialLoss | None
    position_hashes: dict[str, str]
    per_epoch: int

    def save(self, folder: Path, step: int, rank: int, world: int) -> Path | None:
        """A checkpoint of `step` with every rank's random states, written by rank 0."""
        spatial = self.spatial
        extra = {"neighbourhoods": spatial._generator.get_state()} if spatial is not None else None
        states = random_states(extra)
        all_states: list[Any] = [states]
        if world > 1:
            all_states = [None] * world
            dist.all_gather_object(all_states, states)
        path = None
        if rank == 0:
            state = {
                "moco": moco_state(self.moco),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "step": step,
                "epoch": step // self.per_epoch,
                "batch": step % self.per_epoch,
                "random_states": all_states,
                "config": self.config.to_dict(),
                "position_hashes": self.position_hashes,
            }
            path = save_checkpoint(folder, step, state, self.config.train.keep_checkpoints)
        if world > 1:
            dist.barrier()
        return path

    def restore(self, saved: dict[str, Any], source: Path | None, rank: int) -> int:
        """Everything `save` wrote, put back; returns the step to go on from."""
        load_moco_state(self.moco, saved["moco"], f"'{source}'")
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        if saved["position_hashes"] != self.position_hashes:
            raise CheckpointError(
                f"'{source}': trained on other positions than the run's "
                f"({sorted(saved['position_hashes'])} vs {sorted(self.position_hashes)})"
            )
        states = saved["random_states"][rank]
        set_random_states(states)
        if self.spatial is not None:
            self.spatial._generator.set_state(states["neighbourhoods"])
        return int(saved["step"])


# ---- set-up ---------------------------------------------------------------


def _device(config: Config) -> tuple[torch.device, bool]:
    """The device to train on, made current, and whether to autocast to bfloat16
    (`train.precision` auto: on CUDA, not on the CPU)."""
    device = pick_device(config)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    precision = config.train.precision
    return device, precision == "bf16" or (precision == "auto" and device.type == "cuda")


def _checkpoint_to_resume(
    config: Config, out: Path, resume: bool
) -> tuple[Path | None, dict[str, Any] | None]:
    """(path, contents) of the newest readable checkpoint of `out` when resuming,
    checked to come from the same config but for run length and logging."""
    checkpoint_dir = out / "checkpoints"
    if not resume:
        if latest_checkpoint(checkpoint_dir) is not None:
            raise TrainingError(f"'{out}' already holds checkpoints: resume, or use another folder")
        return None, None
    resume_from, saved = load_newest_checkpoint(checkpoint_dir)
    if saved is not None:
        changed = config_differences(saved["config"], config.to_dict())
        if changed:
            raise CheckpointError(
                f"'{resume_from}': the config differs in {', '.join(changed)}; only run "
                "length and logging may change when resuming"
            )
    return resume_from, saved


def resolve_videos(
    root: str, video_list: str | None = None, subset: str | None = None, *, report: bool = True
) -> list[Path]:
    """The training videos: the built-in corpus, every video under a folder, or
    the videos a list file in it names (`data.list`, `stdann.data.lists`), the
    list's one line on what was found logged when `report`."""
    if root == "builtin":
        if video_list is not None:
            raise TrainingError("data.list: the built-in corpus has no list files")
        return builtin_corpus()
    path = Path(root).expanduser()
    if video_list is not None:
        try:
            listed = read_video_list(path, video_list, subset)
        except VideoListError as err:
            raise TrainingError(str(err)) from None
        if report:
            # Missing videos are normal (~8% of Kinetics is gone from YouTube),
            # but never silent: a warning, naming the first few.
            level = logging.WARNING if listed.missing or listed.unreadable else logging.INFO
            log.log(level, "%s", listed.summary())
        return list(listed.videos)
    try:
        videos = find_videos(path)
    except FileNotFoundError:
        raise TrainingError(f"data.root '{path}': no such folder") from None
    if not videos:
        raise TrainingError(f"data.root '{path}': no video files in it")
    return videos


def _clip_loader(
    config: Config, videos: list[Path], rank: int, world: int, local_world: int
) -> VideoClipLoader:
    """This rank's clip loader, its batches checked against the queue they fill
    and the batch-norm groups they are split into."""
    d, t, m = config.data, config.train, config.moco
    clips_per_step = t.batch_size * d.views * world
    if m.queue % clips_per_step:
        raise TrainingError(
            f"moco.queue {m.queue} is not a multiple of the keys enqueued per step "
            f"(batch {t.batch_size} x views {d.views} x ranks {world} = {clips_per_step})"
        )
    if m.batch_norm == "shuffle" and (t.batch_size * d.views) % m.bn_groups:
        raise TrainingError(
            f"moco.bn_groups {m.bn_groups} does not divide the {t.batch_size * d.views} "
            "clips of a batch"
        )
    loader = VideoClipLoader(
        videos,
        frames=d.frames,
        stride=d.stride,
        size=d.size,
        views=d.views,
        batch_size=t.batch_size,
        threads=d.threads or max(1, (os.cpu_count() or 1) // local_world),
        seed=config.seed,
        rank=rank,
        world_size=world,
        augment=dataclasses.asdict(d.augment),
        prefetch=d.prefetch,
        autorotate=d.autorotate,
    )
    if len(loader) == 0:
        raise TrainingError(
            f"{len(videos)} videos make no batch of {t.batch_size} per rank on {world} rank(s)"
        )
    keys_per_epoch = len(loader) * clips_per_step
    if m.queue > keys_per_epoch and rank == 0:
        log.warning(
            "the queue (%d) is longer than the keys one epoch makes (%d): it holds several keys "
            "of each video%s",
            m.queue,
            keys_per_epoch,
            ", masked as negatives" if m.mask_same_video else " AMONG THE NEGATIVES",
        )
    return loader


def build_moco(config: Config, world: int) -> MoCo:
    m = config.moco
    return MoCo(
        width=config.model.width,
        head_hidden=config.model.head_hidden,
        embedding_dim=config.model.embedding_dim,
        queue_size=m.queue,
        temperature=m.temperature,
        symmetric=m.symmetric,
        mask_same_video=m.mask_same_video,
        bn_groups=m.bn_groups if m.batch_norm == "shuffle" else 1,
        shuffle_keys=m.batch_norm == "shuffle",
        sync_batch_norm=m.batch_norm == "sync" and world > 1,
    )


def _positions_for(
    config: Config, out: Path, positions: str | Path | None, rank: int
) -> tuple[dict, dict[str, str]]:
    """The positions of every block with alpha > 0, and their files' hashes."""
    alpha = block_alpha(config.topography)
    active = [b for b in BLOCK_NAMES if alpha.get(b, 0.0) > 0]
    if not active:
        return {}, {}
    folder = Path(positions or config.topography.positions or out / "positions")
    if not (positions or config.topography.positions):
        if rank == 0 and not all(positions_path(folder, b).exists() for b in BLOCK_NAMES):
            save_positions(folder, initial_positions(config))
        if dist.is_initialized():
            dist.barrier()
    d = config.data
    shapes = unit_shapes(d.frames, d.size, d.size, channels=config.model.width)
    try:
        loaded = load_positions(folder, {b: shapes[b] for b in active})
    except TopographyError as err:
        raise TrainingError(f"positions: {err}") from None
    hashes = {b: file_sha256(positions_path(folder, b)) for b in active}
    # The run folder keeps a copy of the positions it trains on, so that an
    # analysis of the run finds them whatever happens to the original folder.
    kept = out / "positions"
    if rank == 0 and folder.resolve() != kept.resolve():
        for b in active:
            source = positions_path(folder, b)
            atomic_write(positions_path(kept, b), lambda f, s=source: f.write(s.read_bytes()))
    return loaded, hashes


def _spatial_loss(config: Config, moco: MoCo, positions: dict) -> SpatialLoss | None:
    """The spatial loss over the blocks that have positions (None: alpha = 0 throughout)."""
    if not positions:
        return None
    loss = config.topography.spatial_loss
    return SpatialLoss(
        moco.query_encoder().backbone,
        positions,
        block_alpha(config.topography),
        kind=loss.kind,
        neighbourhoods_per_step=loss.neighbourhoods_per_step,
        seed=config.seed,
    )


def _prepare_encoders(
    moco: MoCo, t: TrainConfig, world: int, device: torch.device
) -> torch.memory_format:
    """The encoders in the memory layout the config asks for, compiled where it
    says so, the query encoder in DistributedDataParallel on several ranks;
    returns the memory layout of the inputs."""
    moco.check_key_encoder()
    # Memory layout and compilation are options, off in the shipped configs:
    # 3-D pooling has no channels-last kernel (pytorch #48430), and neither has
    # been measured to help r3d_18 here (benches/README.md).
    memory_format = torch.channels_last_3d if t.channels_last else torch.contiguous_format
    moco.to(memory_format=memory_format)
    if t.compile:
        # In place, so parameter names, hooks and checkpoints stay as they are.
        moco.encoder_q.compile()
        moco.encoder_k.compile()
    if world > 1:
        moco.encoder_q = DistributedDataParallel(
            moco.encoder_q,
            device_ids=[device.index] if device.type == "cuda" else None,
            broadcast_buffers=False,
        )
    return memory_format


def _optimiser(
    config: Config, moco: MoCo, clips_per_step: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """SGD at the rate scaled to the clips of a step, and its schedule."""
    o = config.optim
    optimizer = torch.optim.SGD(
        parameter_groups(moco.query_encoder(), o.weight_decay),
        lr=o.lr_per_64_clips * clips_per_step / 64,
        momentum=o.momentum,
        nesterov=o.nesterov,
    )
    total = config.train.steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, total, o.warmup_fraction)
    )
    return optimizer, scheduler


def parameter_groups(module: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on convolution and linear weights only: none on batch-norm
    parameters and biases (rho-MoCo, TDANN)."""
    decay, no_decay = [], []
    for p in module.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def lr_factor(step: int, total: int, warmup_fraction: float) -> float:
    """Linear warm-up over the first fraction of the run, then cosine decay to 0."""
    warmup = int(total * warmup_fraction)
    if step < warmup:
        return (step + 1) / warmup
    rest = max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / rest)))
