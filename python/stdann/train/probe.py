"""The kNN probe: do clips of one video land next to each other in embedding space?

A fixed set of held-out clips (unaugmented, two from different times of each
of the probe videos) is embedded by the query encoder's backbone; the probe's
value is how often a clip's nearest other clip (cosine similarity) comes from
the same video. Chance is 1 / (2 N - 1) for N videos; a network learning what
MoCo asks of it pushes the value up.

Beside it, the probe's InfoNCE: each probe clip's embedding (backbone and
head) against the other clip of its video as the positive and every other
probe clip as a negative, at the training temperature. Unlike the training
loss it is measured against fixed clips by one encoder: the training loss
compares fresh keys with a queue of keys from older key encoders, so it
moves with the learning rate and the momentum as well as with learning.

`RunProbes` are the probes a training run logs: this one, and the labelled
probe (`stdann.train.labelled_probe`) where the config names labelled lists.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from stdann.config import Config
from stdann.data import NO_AUGMENT, VideoClipLoader, VideoError
from stdann.data.lists import VideoListError, labelled_lists
from stdann.model.inputs import clips_to_input
from stdann.model.moco import MoCo
from stdann.train.errors import TrainingError
from stdann.train.labelled_probe import probe_network

log = logging.getLogger("stdann.train")

#: Seed of the probe's clips, apart from the training's.
PROBE_SEED = 0x50B


class ProbeSet:
    """Two unaugmented clips of each of `paths`, kept as uint8 in memory."""

    def __init__(
        self,
        paths: list[Path],
        frames: int,
        stride: int,
        size: int,
        cache_dir=None,
        autorotate: bool = True,
    ) -> None:
        clips, videos = [], []
        loader = VideoClipLoader(
            paths,
            frames=frames,
            stride=stride,
            size=size,
            views=2,
            batch_size=1,
            threads=1,
            seed=PROBE_SEED,
            augment=NO_AUGMENT,
            cache_dir=cache_dir,
            autorotate=autorotate,
        )
        with loader:
            for batch in loader.iter_batches(0):
                clips.append(batch.clips[0])
                videos.append(batch.videos.repeat(2))
        self.clips = torch.stack(clips) if clips else torch.empty(0, dtype=torch.uint8)
        self.videos = torch.cat(videos) if videos else torch.empty(0, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.videos)


def nearest_neighbour_same_video(embeddings: torch.Tensor, videos: torch.Tensor) -> float:
    """Fraction of rows whose most similar other row (cosine) has the same video."""
    z = F.normalize(embeddings.float(), dim=1)
    sim = z @ z.T
    sim.fill_diagonal_(float("-inf"))
    nearest = sim.argmax(1)
    return float((videos[nearest] == videos).float().mean())


def probe_info_nce(embeddings: torch.Tensor, videos: torch.Tensor, temperature: float) -> float:
    """Mean InfoNCE of each row against the other row of its video (positive) and
    every row of other videos (negatives)."""
    z = F.normalize(embeddings.float(), dim=1)
    logits = (z @ z.T) / temperature
    same = videos.view(-1, 1) == videos.view(1, -1)
    eye = torch.eye(len(z), dtype=torch.bool)
    positive = same & ~eye
    logits = logits.masked_fill(eye, float("-inf"))
    # A video with more than one positive (a replacement of a bad video) keeps
    # its first; every row has one.
    target = positive.float().argmax(1)
    keep = positive.any(1)
    return float(F.cross_entropy(logits[keep], target[keep]))


@torch.no_grad()
def knn_probe(
    encoder: nn.Module,
    probe: ProbeSet,
    device: torch.device,
    temperature: float,
    batch_size: int = 16,
) -> dict[str, float]:
    """knn_same_video (backbone features) and probe_info_nce (embeddings) of an
    Encoder (backbone and head), evaluated in eval mode."""
    was_training = encoder.training
    encoder.eval()
    features, embeddings = [], []
    try:
        for i in range(0, len(probe.clips), batch_size):
            f = encoder.backbone(clips_to_input(probe.clips[i : i + batch_size], device))
            features.append(f.float().cpu())
            embeddings.append(encoder.head(f).float().cpu())
    finally:
        encoder.train(was_training)
    return {
        "knn_same_video": nearest_neighbour_same_video(torch.cat(features), probe.videos),
        "probe_info_nce": probe_info_nce(torch.cat(embeddings), probe.videos, temperature),
    }


class RunProbes:
    """The probes a run logs at step 0 and every `train.probe_every` steps: the
    instance probe above on fixed clips of the first `data.probe_videos`
    training videos, and the labelled kNN top-1 where `train.probe_train_list`
    and `probe_test_list` name lists (read once, here)."""

    def __init__(self, config: Config, videos: list[Path], device: torch.device) -> None:
        d, t = config.data, config.train
        self.config, self.device = config, device
        self.instance = None
        if d.probe_videos:
            try:
                self.instance = ProbeSet(
                    videos[: d.probe_videos], d.frames, d.stride, d.size, autorotate=d.autorotate
                )
            except VideoError as err:
                raise TrainingError(
                    f"no usable probe clips in data.root '{d.root}': {err}"
                ) from None
        self.labelled = None
        if t.probe_train_list and t.probe_test_list:
            try:
                self.labelled = labelled_lists(d.root, t.probe_train_list, t.probe_test_list)
            except VideoListError as err:
                raise TrainingError(str(err)) from None
            keys = ("probe_train_list", "probe_test_list")
            for key, listed in zip(keys, self.labelled, strict=True):
                log.info("train.%s: %s", key, listed.summary())

    @classmethod
    def of(
        cls, config: Config, videos: list[Path], device: torch.device, rank: int
    ) -> RunProbes | None:
        """The run's probes; None where it has none (`train.probe_every` 0, no probe
        videos nor lists) or this rank is not rank 0, which alone probes."""
        d, t = config.data, config.train
        lists = t.probe_train_list and t.probe_test_list
        if rank != 0 or not t.probe_every or not (d.probe_videos or lists):
            return None
        return cls(config, videos, device)

    def run(self, moco: MoCo) -> dict[str, Any]:
        """The probes' numbers for the query encoder as it stands."""
        d = self.config.data
        entry: dict[str, Any] = {}
        if self.instance is not None:
            temperature = self.config.moco.temperature
            entry.update(knn_probe(moco.query_encoder(), self.instance, self.device, temperature))
        if self.labelled is not None:
            backbone = moco.query_encoder().backbone
            result = probe_network(
                backbone,
                *self.labelled,
                d.frames,
                d.stride,
                d.size,
                self.device,
                autorotate=d.autorotate,
            )["knn"]
            entry.update(knn_top1=result["top1"], knn_top1_chance=result["chance"])
        return entry
