"""The kNN probe: do clips of one video land next to each other in embedding space?

A fixed set of held-out clips (unaugmented, two from different times of each
of the probe videos) is embedded by the query encoder's backbone; the probe's
value is how often a clip's nearest other clip (cosine similarity) comes from
the same video. Chance is 1 / (2 N - 1) for N videos; a network learning what
MoCo asks of it pushes the value up.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from stdann.data import NO_AUGMENT, VideoClipLoader
from stdann.model.inputs import clips_to_input

#: Seed of the probe's clips, apart from the training's.
PROBE_SEED = 0x50B


class ProbeSet:
    """Two unaugmented clips of each of `paths`, kept as uint8 in memory."""

    def __init__(
        self, paths: list[Path], frames: int, stride: int, size: int, cache_dir=None
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


@torch.no_grad()
def knn_probe(
    backbone: nn.Module, probe: ProbeSet, device: torch.device, batch_size: int = 16
) -> float:
    """The probe's same-video fraction for `backbone` (evaluated in eval mode)."""
    was_training = backbone.training
    backbone.eval()
    try:
        # (N, 2, T, H, W, 3): each video's two clips next to each other.
        features = [
            backbone(clips_to_input(probe.clips[i : i + batch_size], device)).float().cpu()
            for i in range(0, len(probe.clips), batch_size)
        ]
    finally:
        backbone.train(was_training)
    return nearest_neighbour_same_video(torch.cat(features), probe.videos)
