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
checkpoint (`stdann.train.signals`).
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

from stdann.atomic import LineLog, WriteError, atomic_write, atomic_write_text
from stdann.config import Config, config_differences
from stdann.data import VideoClipLoader, VideoError
from stdann.model.backbone import BLOCK_NAMES, unit_shapes
from stdann.model.inputs import clips_to_input
from stdann.model.moco import MoCo, momentum_at
from stdann.topo import (
    SpatialLoss,
    TopographyError,
    initial_positions,
    load_positions,
    positions_path,
    save_positions,
)
from stdann.topo.sheets import topography_from_config
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
from stdann.train.labelled_probe import probe_network
from stdann.train.probe import ProbeSet, knn_probe
from stdann.train.signals import Stopped, StopSignals, agree

log = logging.getLogger("stdann.train")


class TrainingError(RuntimeError):
    """A run that cannot start or go on: bad data, positions or config."""


class NonFiniteLossError(TrainingError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    step: int
    checkpoint: Path | None
    finished: bool
    #: The trained model (query and key encoders, queue), on its device.
    moco: MoCo


# ---- set-up ---------------------------------------------------------------


def distributed_context() -> tuple[int, int, int]:
    """(rank, world size, local world size); initialises torch.distributed under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return 0, 1, 1


def pick_device(config: Config) -> torch.device:
    want = config.train.device
    if want == "cuda" or (want == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise TrainingError("train.device is cuda but no CUDA device is available")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def resolve_videos(
    root: str, video_list: str | None = None, subset: str | None = None, *, report: bool = True
) -> list[Path]:
    """The training videos: the built-in corpus, every video under a folder, or
    the videos a list file in it names (`data.list`, `stdann.data.lists`), the
    list's one line on what was found logged when `report`."""
    from stdann.data.commands import find_videos
    from stdann.data.lists import VideoListError, read_video_list

    if root == "builtin":
        if video_list is not None:
            raise TrainingError("data.list: the built-in corpus has no list files")
        from stdann.data import builtin_corpus

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


def _labelled_lists(root: str, train_list: str, test_list: str) -> tuple[Any, Any]:
    """`stdann.data.lists.labelled_lists`, its errors a TrainingError, their lines logged."""
    from stdann.data.lists import VideoListError, labelled_lists

    try:
        lists = labelled_lists(root, train_list, test_list)
    except VideoListError as err:
        raise TrainingError(str(err)) from None
    for key, listed in zip(("probe_train_list", "probe_test_list"), lists, strict=True):
        log.info("train.%s: %s", key, listed.summary())
    return lists


def block_alpha(config: Config) -> dict[str, float]:
    a = config.topography.alpha
    return dict(a) if isinstance(a, dict) else dict.fromkeys(BLOCK_NAMES, float(a))


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
    config: Config, out: Path, positions: Path | None, rank: int
) -> tuple[dict, dict[str, str]]:
    """The positions of every block with alpha > 0, and their files' hashes."""
    alpha = block_alpha(config)
    active = [b for b in BLOCK_NAMES if alpha.get(b, 0.0) > 0]
    if not active:
        return {}, {}
    folder = positions or (
        Path(config.topography.positions) if config.topography.positions else None
    )
    if folder is None:
        folder = out / "positions"
        if rank == 0 and not all(positions_path(folder, b).exists() for b in BLOCK_NAMES):
            save_positions(folder, initial_positions(topography_from_config(config)))
        if dist.is_initialized():
            dist.barrier()
    shapes = unit_shapes(
        config.data.frames, config.data.size, config.data.size, channels=config.model.width
    )
    try:
        loaded = load_positions(folder, {b: shapes[b] for b in active})
    except TopographyError as err:
        raise TrainingError(f"positions: {err}") from None
    hashes = {b: file_sha256(positions_path(folder, b)) for b in active}
    # The run folder keeps a copy of the positions it trains on, so that an
    # analysis of the run finds them whatever happens to the original folder.
    kept = out / "positions"
    if rank == 0 and Path(folder).resolve() != kept.resolve():
        for b in active:
            source = positions_path(folder, b)
            atomic_write(positions_path(kept, b), lambda f, s=source: f.write(s.read_bytes()))
    return loaded, hashes


# ---- the loop -------------------------------------------------------------


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
    out = Path(out)
    rank, world, local_world = distributed_context()
    device = pick_device(config)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    bf16 = config.train.precision == "bf16" or (
        config.train.precision == "auto" and device.type == "cuda"
    )
    d, t = config.data, config.train

    # Everything that can be wrong is checked before the first step.
    checkpoint_dir = out / "checkpoints"
    if not resume and latest_checkpoint(checkpoint_dir) is not None:
        raise TrainingError(f"'{out}' already holds checkpoints: resume, or use another folder")
    resume_from, saved = load_newest_checkpoint(checkpoint_dir) if resume else (None, None)
    if saved is not None:
        changed = config_differences(saved["config"], config.to_dict())
        if changed:
            raise CheckpointError(
                f"'{resume_from}': the config differs in {', '.join(changed)}; only run "
                "length and logging may change when resuming"
            )
    videos = resolve_videos(d.root, d.list, d.list_subset, report=rank == 0)
    clips_per_step = t.batch_size * d.views * world
    if config.moco.queue % clips_per_step:
        raise TrainingError(
            f"moco.queue {config.moco.queue} is not a multiple of the keys enqueued per step "
            f"(batch {t.batch_size} x views {d.views} x ranks {world} = {clips_per_step})"
        )
    if config.moco.batch_norm == "shuffle" and (t.batch_size * d.views) % config.moco.bn_groups:
        raise TrainingError(
            f"moco.bn_groups {config.moco.bn_groups} does not divide the {t.batch_size * d.views} "
            "clips of a batch"
        )
    threads = d.threads or max(1, (os.cpu_count() or 1) // local_world)
    loader = VideoClipLoader(
        videos,
        frames=d.frames,
        stride=d.stride,
        size=d.size,
        views=d.views,
        batch_size=t.batch_size,
        threads=threads,
        seed=config.seed,
        rank=rank,
        world_size=world,
        augment=dataclasses.asdict(d.augment),
        prefetch=d.prefetch,
        autorotate=d.autorotate,
    )
    per_epoch = len(loader)
    if per_epoch == 0:
        raise TrainingError(
            f"{len(videos)} videos make no batch of {t.batch_size} per rank on {world} rank(s)"
        )
    keys_per_epoch = per_epoch * clips_per_step
    if config.moco.queue > keys_per_epoch and rank == 0:
        log.warning(
            "the queue (%d) is longer than the keys one epoch makes (%d): it holds several keys "
            "of each video%s",
            config.moco.queue,
            keys_per_epoch,
            ", masked as negatives" if config.moco.mask_same_video else " AMONG THE NEGATIVES",
        )

    torch.manual_seed(config.seed)
    moco = build_moco(config, world).to(device)
    if init_weights is not None and saved is None:
        load_moco_state(moco, load_checkpoint(init_weights, device)["moco"], f"'{init_weights}'")
    block_positions, position_hashes = _positions_for(
        config, out, Path(positions) if positions else None, rank
    )
    spatial = None
    if block_positions:
        spatial = SpatialLoss(
            moco.query_encoder().backbone,
            block_positions,
            block_alpha(config),
            kind=config.topography.spatial_loss.kind,
            neighbourhoods_per_step=config.topography.spatial_loss.neighbourhoods_per_step,
            seed=config.seed,
        )
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
    lr = config.optim.lr_per_64_clips * clips_per_step / 64
    optimizer = torch.optim.SGD(
        parameter_groups(moco.query_encoder(), config.optim.weight_decay),
        lr=lr,
        momentum=config.optim.momentum,
        nesterov=config.optim.nesterov,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, t.steps, config.optim.warmup_fraction)
    )
    step = 0
    if saved is not None:
        load_moco_state(moco, saved["moco"], f"'{resume_from}'")
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        if saved["position_hashes"] != position_hashes:
            raise CheckpointError(
                f"'{resume_from}': trained on other positions than the run's "
                f"({sorted(saved['position_hashes'])} vs {sorted(position_hashes)})"
            )
        states = saved["random_states"][rank]
        set_random_states(states)
        if spatial is not None:
            spatial._generator.set_state(states["neighbourhoods"])
        step = int(saved["step"])
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "config.yaml", config.to_yaml())

    probe = None
    if t.probe_every and d.probe_videos and rank == 0:
        try:
            probe = ProbeSet(
                videos[: d.probe_videos], d.frames, d.stride, d.size, autorotate=d.autorotate
            )
        except VideoError as err:
            raise TrainingError(f"no usable probe clips in data.root '{d.root}': {err}") from None
    # The labelled probe (stdann.train.labelled_probe): kNN top-1 on the lists the
    # config names, read once; logged as knn_top1 beside the instance probe.
    labelled = None
    if t.probe_every and t.probe_train_list and t.probe_test_list and rank == 0:
        labelled = _labelled_lists(d.root, t.probe_train_list, t.probe_test_list)
    writer = _tensorboard(out / "tensorboard") if t.tensorboard and rank == 0 else None
    metrics = LineLog(out / "metrics.jsonl") if rank == 0 else None
    chance = math.log(config.moco.queue + 1)
    temperature = config.moco.temperature

    def checkpoint() -> Path | None:
        states = random_states(
            {"neighbourhoods": spatial._generator.get_state()} if spatial is not None else None
        )
        all_states = [None] * world
        if world > 1:
            dist.all_gather_object(all_states, states)
        else:
            all_states = [states]
        path = None
        if rank == 0:
            path = save_checkpoint(
                checkpoint_dir,
                step,
                {
                    "moco": moco_state(moco),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "step": step,
                    "epoch": step // per_epoch,
                    "batch": step % per_epoch,
                    "random_states": all_states,
                    "config": config.to_dict(),
                    "position_hashes": position_hashes,
                },
                t.keep_checkpoints,
            )
        if world > 1:
            dist.barrier()
        return path

    def probes() -> dict[str, Any]:
        entry: dict[str, Any] = {}
        if probe is not None:
            entry.update(knn_probe(moco.query_encoder(), probe, device, temperature))
        if labelled is not None:
            result = probe_network(
                moco.query_encoder().backbone,
                *labelled,
                d.frames,
                d.stride,
                d.size,
                device,
                autorotate=d.autorotate,
            )["knn"]
            entry.update(knn_top1=result["top1"], knn_top1_chance=result["chance"])
        return entry

    def record(entry: dict[str, Any]) -> None:
        if metrics is None:
            return
        metrics.write_line(json.dumps(entry))
        if writer is not None:
            try:
                for k, v in entry.items():
                    if k != "step" and isinstance(v, int | float):
                        writer.add_scalar(k, v, entry["step"])
            except OSError as err:  # raised again from TensorBoard's writer thread
                raise WriteError(out / "tensorboard", err) from err

    bar = None
    if progress and rank == 0:
        from tqdm import tqdm

        bar = tqdm(total=t.steps, initial=step, unit="step", desc=f"train {out.name}")
    last_path = None
    window = _Window()
    moco.train()
    stop = StopSignals(deferred=True).install()
    stopped_by = 0  # the stop signal the ranks agreed to stop for
    try:
        if step == 0 and (probe is not None or labelled is not None):
            record({"step": 0, **probes()})
        end = t.steps if stop_at is None else min(stop_at, t.steps)
        saved_at = time.monotonic()
        while step < end and not stopped_by:
            epoch, first = divmod(step, per_epoch)
            batches = loader.iter_batches(epoch, start=first)
            waited_since = time.perf_counter()
            for batch in batches:
                if step >= end:
                    break
                window.wait += time.perf_counter() - waited_since
                x = clips_to_input(batch.clips, device).contiguous(memory_format=memory_format)
                videos_of = batch.videos.to(device, non_blocking=True)
                moco.momentum_update(
                    momentum_at(step, t.steps, config.moco.momentum, config.moco.momentum_final)
                )
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    if spatial is not None:
                        with spatial.collect():
                            contrastive, stats = moco(x, videos_of, d.views)
                    else:
                        contrastive, stats = moco(x, videos_of, d.views)
                spatial_loss = (
                    spatial.loss() if spatial is not None else torch.zeros((), device=device)
                )
                total = contrastive + spatial_loss.to(contrastive.device)
                optimizer.zero_grad(set_to_none=True)
                total.backward()
                if not bool(torch.isfinite(total)):
                    raise NonFiniteLossError(
                        f"step {step + 1}: the loss is {float(total.detach())} (contrastive "
                        f"{float(contrastive.detach())}, spatial {float(spatial_loss.detach())}); "
                        "stopped with the "
                        f"last good checkpoint kept in '{checkpoint_dir}'"
                    )
                optimizer.step()
                scheduler.step()
                step += 1
                window.add(contrastive, spatial_loss, stats, len(x) * world)
                if bar is not None:
                    bar.update(1)
                if step % t.log_every == 0 or step == t.steps:
                    entry = window.flush(step, scheduler.get_last_lr()[0], chance)
                    if spatial is not None and rank == 0:
                        with torch.no_grad():
                            per_block = spatial.block_losses()
                        entry.update({f"spatial_{b}": float(v) for b, v in per_block.items()})
                    record(entry)
                    if bar is not None:
                        bar.set_postfix(
                            loss=f"{entry['loss']:.3f}/{chance:.2f}",
                            spatial=f"{entry['spatial_loss']:.3f}",
                            lr=f"{entry['lr']:.3g}",
                            clips_s=f"{entry['clips_per_s']:.0f}",
                            wait=f"{entry['data_wait']:.0%}",
                        )
                if (
                    (probe is not None or labelled is not None)
                    and t.probe_every
                    and (step % t.probe_every == 0 or step == t.steps)
                ):
                    record({"step": step, **probes()})
                elapsed = (time.monotonic() - saved_at) / 60
                minutes = t.checkpoint_every_minutes
                stopped_by, clock_due = agree(stop.received, 0 < minutes <= elapsed, device)
                if (
                    step % t.checkpoint_every == 0
                    or step in (t.steps, end)
                    or stopped_by
                    or clock_due
                ):
                    last_path = checkpoint()
                    saved_at = time.monotonic()
                if stopped_by:
                    break
                waited_since = time.perf_counter()
    except VideoError as err:
        raise TrainingError(f"no usable training data in '{d.root}': {err}") from None
    finally:
        stop.restore()
        loader.close()
        if bar is not None:
            bar.close()
        if metrics is not None:
            metrics.close()
        if writer is not None:
            # After a failed write TensorBoard's close fails again: the first
            # error, already on its way, is the one to report.
            with contextlib.suppress(OSError):
                writer.close()
        if spatial is not None:
            spatial.remove()
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


def _tensorboard(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.warning("tensorboard is not installed: metrics go to metrics.jsonl only")
        return None
    return SummaryWriter(str(folder))


class _Window:
    """Running sums over one log interval; numbers leave the device only at flush."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.start = time.perf_counter()
        self.wait = 0.0
        self.steps = 0
        self.clips = 0
        self.sums: dict[str, torch.Tensor] = {}

    def add(
        self,
        contrastive: torch.Tensor,
        spatial: torch.Tensor,
        stats: dict[str, torch.Tensor],
        clips: int,
    ) -> None:
        values = {"loss": contrastive.detach(), "spatial_loss": spatial.detach(), **stats}
        for k, v in values.items():
            v = v.float()
            self.sums[k] = self.sums[k] + v if k in self.sums else v
        self.steps += 1
        self.clips += clips

    def flush(self, step: int, lr: float, chance: float) -> dict[str, Any]:
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        entry: dict[str, Any] = {"step": step}
        entry.update({k: float(v) / max(1, self.steps) for k, v in self.sums.items()})
        entry.update(
            {
                "chance": chance,
                "lr": lr,
                "clips_per_s": self.clips / elapsed,
                "data_wait": min(1.0, self.wait / elapsed),
            }
        )
        self.reset()
        return entry
