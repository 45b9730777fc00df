"""What a training run reports: RUN/metrics.jsonl, TensorBoard and the progress bar.

Each step's losses and MoCo's statistics are summed on the device; they leave
it once a log interval (`RunLog.flush`), averaged into one JSON line of
metrics.jsonl and the same numbers in TensorBoard. That is also where they
are checked for NaN and infinity, and again before every probe and every
checkpoint (`RunLog.check`), where numbers leave the device anyway, so that
the CPU never waits for the GPU in between: the first step whose loss was
not finite is noted on the device, and a run whose loss diverged stops with
its last good checkpoint, having written no NaN. The probes' numbers
are lines of their own (`record`). Rank 0 writes; the other ranks keep their
sums for the check alone.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from stdann.atomic import LineLog, WriteError
from stdann.config import Config
from stdann.train.errors import NonFiniteLossError

T = TypeVar("T")

#: Above any step number: the earliest bad step over the ranks is taken as a maximum.
_LATER = 2**62


class RunLog:
    """The numbers of one run: running sums over a log interval, and where they go."""

    def __init__(
        self,
        out: Path,
        config: Config,
        device: torch.device,
        *,
        step: int,
        rank: int,
        progress: bool,
    ) -> None:
        t = config.train
        self.out, self.device = out, device
        #: InfoNCE of a uniform guess among the positive and the queue's negatives.
        self.chance = math.log(config.moco.queue + 1)
        writes = rank == 0
        self.metrics = LineLog(out / "metrics.jsonl") if writes else None
        self.writer = SummaryWriter(str(out / "tensorboard")) if t.tensorboard and writes else None
        self.bar = (
            tqdm(total=t.steps, initial=step, unit="step", desc=f"train {out.name}")
            if progress and writes
            else None
        )
        self._reset()

    def _reset(self) -> None:
        self.start = time.perf_counter()
        self.wait = 0.0
        self.steps = 0
        self.clips = 0
        self.sums: dict[str, torch.Tensor] = {}
        # The first step since the last check whose loss was not finite (0: none),
        # and its (total, contrastive, spatial) losses, kept on the device.
        self.bad_step = torch.zeros((), dtype=torch.long, device=self.device)
        self.bad_losses = torch.zeros(3, device=self.device)

    def timed(self, batches: Iterable[T]) -> Iterator[T]:
        """`batches`, the time spent waiting for each counted as the data's."""
        it = iter(batches)
        while True:
            start = time.perf_counter()
            batch = next(it, None)
            if batch is None:
                return
            self.wait += time.perf_counter() - start
            yield batch

    def add(
        self,
        step: int,
        contrastive: torch.Tensor,
        spatial: torch.Tensor,
        stats: dict[str, torch.Tensor],
        clips: int,
    ) -> None:
        """One step's losses and statistics into the sums, on the device; the
        progress bar one step on."""
        values = {"loss": contrastive.detach(), "spatial_loss": spatial.detach(), **stats}
        for k, v in values.items():
            v = v.float()
            self.sums[k] = self.sums[k] + v if k in self.sums else v
        self.steps += 1
        self.clips += clips
        pair = [values["loss"].float(), values["spatial_loss"].float().to(contrastive.device)]
        losses = torch.stack([pair[0] + pair[1], *pair])
        first = ~torch.isfinite(losses[0]) & (self.bad_step == 0)
        self.bad_step = torch.where(first, step, self.bad_step)
        self.bad_losses = torch.where(first, losses, self.bad_losses)
        if self.bar is not None:
            self.bar.update(1)

    def check(self) -> None:
        """Raise NonFiniteLossError where a loss since the last check was NaN or
        infinite, on this rank or any other (all of them raise)."""
        bad = self.bad_step.clone()
        if dist.is_initialized() and dist.get_world_size() > 1:
            # The earliest bad step of any rank: the largest of _LATER - step.
            key = torch.where(bad > 0, _LATER - bad, 0)
            dist.all_reduce(key, op=dist.ReduceOp.MAX)
            bad = torch.where(key > 0, _LATER - key, 0)
        step = int(bad)
        if not step:
            return
        where = f"the last good checkpoint kept in '{self.out / 'checkpoints'}'"
        if step != int(self.bad_step):
            raise NonFiniteLossError(
                f"step {step}: the loss is not finite on another rank; stopped with {where}"
            )
        total, contrastive, spatial = self.bad_losses.tolist()
        raise NonFiniteLossError(
            f"step {step}: the loss is {total} (contrastive {contrastive}, spatial {spatial}); "
            f"stopped with {where}"
        )

    def flush(self, step: int, lr: float, spatial: Any = None) -> None:
        """Check the interval's losses, then write its averages as one line (and the
        spatial loss of each block of `spatial`, a SpatialLoss, where given)."""
        self.check()
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        entry: dict[str, Any] = {"step": step}
        entry.update({k: float(v) / max(1, self.steps) for k, v in self.sums.items()})
        entry.update(
            {
                "chance": self.chance,
                "lr": lr,
                "clips_per_s": self.clips / elapsed,
                "data_wait": min(1.0, self.wait / elapsed),
            }
        )
        self._reset()
        if self.metrics is None:
            return
        if spatial is not None:
            with torch.no_grad():
                entry.update({f"spatial_{b}": float(v) for b, v in spatial.block_losses().items()})
        self.record(entry)
        if self.bar is not None:
            self.bar.set_postfix(
                loss=f"{entry['loss']:.3f}/{self.chance:.2f}",
                spatial=f"{entry['spatial_loss']:.3f}",
                lr=f"{entry['lr']:.3g}",
                clips_s=f"{entry['clips_per_s']:.0f}",
                wait=f"{entry['data_wait']:.0%}",
            )

    def record(self, entry: dict[str, Any]) -> None:
        """One line of metrics.jsonl, its numbers in TensorBoard (rank 0 alone)."""
        if self.metrics is None:
            return
        self.metrics.write_line(json.dumps(entry))
        if self.writer is not None:
            try:
                for k, v in entry.items():
                    if k != "step" and isinstance(v, int | float):
                        self.writer.add_scalar(k, v, entry["step"])
            except OSError as err:  # raised again from TensorBoard's writer thread
                raise WriteError(self.out / "tensorboard", err) from err

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.metrics is not None:
            self.metrics.close()
        if self.writer is not None:
            # After a failed write TensorBoard's close fails again: the first
            # error, already on its way, is the one to report.
            with contextlib.suppress(OSError):
                self.writer.close()
