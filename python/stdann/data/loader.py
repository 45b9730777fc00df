"""VideoClipLoader: batches of augmented clip views from the native engine.

The Rust engine decodes, crops, scales and augments in its own threads without
the GIL and keeps a bounded number of batches ready; this class adds epochs,
logging of skipped videos and the conversion to torch tensors (no copy).
Batches are a pure function of (seed, epoch, batch number), so an epoch can
start at any batch and yields the batches a full run of it would from there.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch

from stdann import _native

log = logging.getLogger("stdann.data")

# The presets are defined once, in the Rust core (AugmentConfig::moco_v2 and
# AugmentConfig::none); these are their loader options.
_PRESETS: dict[str, dict[str, Any]] = _native.augment_presets()

#: MoCo v2's augmentation recipe (CVRL applies it per clip, as here).
MOCO_V2_AUGMENT: dict[str, Any] = _PRESETS["moco_v2"]

#: No augmentation: each view is the whole frame resized to size x size.
NO_AUGMENT: dict[str, Any] = _PRESETS["none"]


class ClipBatch(NamedTuple):
    """One batch of an epoch with the videos its samples were cut from."""

    #: (B, V, T, size, size, 3) torch.uint8 RGB (empty for a decode-only loader).
    clips: torch.Tensor
    #: (B,) torch.int64: index into the loader's `paths` of each sample's video
    #: (the one actually used, when a bad video was replaced by another).
    videos: torch.Tensor
    #: The batch's number in its epoch, from 0.
    number: int


class VideoClipLoader:
    """Iterate over batches of clips: torch.uint8 tensors of shape (B, V, T, size, size, 3).

    Each iteration is one epoch over this rank's shard of `paths`, in an order
    and with augmentations fixed by (seed, epoch). Videos that cannot be used are
    skipped, logged once, and listed in `skipped`.
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]],
        frames: int = 16,
        stride: int = 2,
        size: int = 112,
        views: int = 2,
        batch_size: int = 8,
        threads: int | None = None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        augment: Mapping[str, Any] | None = None,
        prefetch: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        decode_only: bool = False,
        autorotate: bool = True,
    ):
        self.paths = [Path(p) for p in paths]
        self.threads = threads or os.cpu_count() or 1
        self.batch_size = batch_size
        self.epoch = 0
        self._logged = 0
        self._engine = _native.ClipLoader(
            [str(p) for p in self.paths],
            frames=frames,
            stride=stride,
            size=size,
            views=views,
            batch_size=batch_size,
            threads=self.threads,
            seed=seed,
            rank=rank,
            world_size=world_size,
            prefetch=prefetch or 2 * self.threads,
            augment=dict(MOCO_V2_AUGMENT if augment is None else augment),
            decode_only=decode_only,
            cache_dir=None if cache_dir is None else str(cache_dir),
            autorotate=autorotate,
        )

    def __len__(self) -> int:
        return len(self._engine)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch the next iteration produces (as DistributedSampler.set_epoch)."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[torch.Tensor]:
        """The clips of the next epoch (see `set_epoch`), batch by batch."""
        epoch = self.epoch
        self.epoch += 1
        for batch in self.iter_batches(epoch):
            yield batch.clips

    def iter_batches(self, epoch: int, start: int = 0) -> Iterator[ClipBatch]:
        """The batches of `epoch` from batch number `start` on, with their video ids.

        Equal, bit for bit, to the tail of the whole epoch from `start`, so a run
        resumes mid-epoch exactly. Leaves the epoch counter of `set_epoch` alone.
        Only one iteration runs at a time: starting another abandons the first.
        """
        if start < 0:
            raise ValueError(f"start must be a batch number >= 0, got {start}")
        self._engine.start_epoch(epoch, start)
        number = start
        while True:
            batch = self._engine.next_batch()
            self._log_skipped()
            if batch is None:
                return
            clips, videos = batch
            yield ClipBatch(torch.from_numpy(clips), torch.from_numpy(videos), number)
            number += 1

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """(path, reason) for every video that could not be used."""
        return [tuple(s) for s in self._engine.skipped()]

    def _log_skipped(self) -> None:
        new = self._engine.skipped(self._logged)
        for path, reason in new:
            log.warning("skipping video %s: %s", path, reason)
        self._logged += len(new)

    def close(self) -> None:
        """Stop the worker threads (also done when the loader is garbage-collected)."""
        self._engine.close()

    def __enter__(self) -> VideoClipLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
