"""Training-step time of r3d_18 with and without the spatial loss on all eight blocks.

A step is forward, backward and an SGD update; the task loss here is a stand-in
(mean squared feature) so that only the spatial loss differs between the two
cases. The target is a spatial loss that adds less than 10% to a step at batch
64 on 16 x 112 x 112 clips on a GPU, under bf16 autocast. Where there is no
GPU the CPU stands in, with a small batch of small clips (a CPU step at batch
64 takes minutes: batch 8 of 8 x 56 x 56, 2 with --bench-quick), and the cases
say so.

Group `spatial-loss`; the peer is the step without the spatial loss, so the
ratio is below 1 by the spatial loss's overhead (0.97 = 3% more time). Timed:
one step (zero_grad, forward, loss, backward, SGD update; on a GPU a
synchronize at the end), after one untimed warm-up step; 10 rounds on a GPU,
5 on the CPU (2 with --bench-quick). Both cases share one model. (The former
runner interleaved the two cases step by step; pytest-benchmark times one case
after the other.)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import record
from stdann.config import load_config
from stdann.model import BLOCK_NAMES, r3d18_backbone, unit_shapes
from stdann.topo import (
    BlockPositions,
    SpatialLoss,
    block_sheets,
    retinotopic_positions,
    sample_neighbourhoods,
)


def _positions(frames: int, size: int) -> dict[str, BlockPositions]:
    topography = load_config("configs/paper.yaml").topography
    sheets = block_sheets(topography)
    jitter, min_fill = topography.placement.jitter, topography.neighbourhoods.min_fill
    rng = np.random.default_rng(0)
    out = {}
    for block, shape in unit_shapes(frames, size, size).items():
        sheet = sheets[block]
        coords = retinotopic_positions(shape, sheet.side_mm, jitter, rng)
        # The sheet's own width where the small clip leaves enough units per
        # window; otherwise a wider window, so that every block takes part.
        width = sheet.neighbourhood_width_mm
        while len(coords) * (width / sheet.side_mm) ** 2 * min_fill < 50:
            width *= 1.5
        nb = sample_neighbourhoods(
            coords, sheet.side_mm, min(width, sheet.side_mm), 50, 500, min_fill, rng
        )
        out[block] = BlockPositions(
            block, sheet.area, shape, coords, nb, sheet.side_mm, min(width, sheet.side_mm)
        )
    return out


@pytest.fixture(scope="module")
def training_step(quick):
    """(step(with_spatial), rounds, description) on the GPU if there is one."""
    if torch.cuda.is_available():
        device, batch, frames, size, rounds = "cuda", 64, 16, 112, 3 if quick else 10
    else:
        device, batch, frames, size, rounds = "cpu", 2 if quick else 8, 8, 56, 2 if quick else 5
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True  # as a training run sets it: fixed clip shapes
    model = r3d18_backbone().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    spatial = SpatialLoss(model, _positions(frames, size), dict.fromkeys(BLOCK_NAMES, 0.25))
    clips = torch.randn(batch, 3, frames, size, size, device=device)
    dtype = torch.bfloat16 if device == "cuda" else None

    def step(with_spatial: bool) -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=dtype, enabled=dtype is not None):
            if with_spatial:
                with spatial.collect():
                    features = model(clips)
            else:
                features = model(clips)
            loss = features.float().pow(2).mean()
        if with_spatial:
            loss = loss + spatial.loss()
        loss.backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()

    shape = f"batch {batch}, {frames}x{size}x{size}"
    where = f"bf16 autocast, {torch.cuda.get_device_name()}" if device == "cuda" else "CPU"
    return step, rounds, f"{shape}, {where}"


@pytest.mark.benchmark(group="spatial-loss")
@pytest.mark.parametrize("with_spatial", [True, False], ids=["spatial-loss", "task-loss-only"])
def test_training_step(benchmark, training_step, with_spatial):
    """Timed: one training step with or without the spatial loss (module docstring)."""
    step, rounds, what = training_step
    benchmark.pedantic(step, args=(with_spatial,), rounds=rounds, warmup_rounds=1)
    case = "step + spatial loss" if with_spatial else "step, task loss only"
    record(benchmark, case, "stdann" if with_spatial else "peer", 1, "step", note=what)
