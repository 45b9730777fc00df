"""Training-step time of r3d_18 with and without the spatial loss on all eight blocks.

A step is forward, backward and an SGD update; the task loss here is a stand-in
(mean squared feature) so that only the spatial loss differs between the two
cases. The target is a spatial loss that adds less than 10% to a step at batch
64 on 16 x 112 x 112 clips on a GPU, under bf16 autocast. Where there is no
GPU the CPU stands in, with a small batch of small clips (a CPU step at batch
64 takes minutes), and the rows say so.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from stdann.model import BLOCK_NAMES, r3d18_backbone, unit_shapes
from stdann.topo import BlockPositions, SpatialLoss, retinotopic_positions, sample_neighbourhoods
from stdann.topo.sheets import load_topography_config


def _positions(frames: int, size: int) -> dict[str, BlockPositions]:
    config = load_topography_config("configs/paper.yaml")
    rng = np.random.default_rng(0)
    out = {}
    for block, shape in unit_shapes(frames, size, size).items():
        sheet = config.sheets[block]
        coords = retinotopic_positions(shape, sheet.side_mm, config.jitter, rng)
        # The sheet's own width where the small clip leaves enough units per
        # window; otherwise a wider window, so that every block takes part.
        width = sheet.neighbourhood_width_mm
        while len(coords) * (width / sheet.side_mm) ** 2 * config.min_fill < 50:
            width *= 1.5
        nb = sample_neighbourhoods(
            coords, sheet.side_mm, min(width, sheet.side_mm), 50, 500, config.min_fill, rng
        )
        out[block] = BlockPositions(
            block, sheet.area, shape, coords, nb, sheet.side_mm, min(width, sheet.side_mm)
        )
    return out


def _step_times(
    device: str, batch: int, frames: int, size: int, repeats: int
) -> tuple[float, float]:
    """Fastest step without and with the spatial loss, steps interleaved so that
    load from other processes falls on both alike."""
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True  # as a training run sets it: fixed clip shapes
    model = r3d18_backbone().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    spatial = SpatialLoss(model, _positions(frames, size), dict.fromkeys(BLOCK_NAMES, 0.25))
    clips = torch.randn(batch, 3, frames, size, size, device=device)
    dtype = torch.bfloat16 if device == "cuda" else None

    def step(with_spatial: bool) -> float:
        t = time.perf_counter()
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
        return time.perf_counter() - t

    step(False), step(True)  # warm-up
    times = {False: [], True: []}
    for _ in range(repeats):
        for with_spatial in (False, True):
            times[with_spatial].append(step(with_spatial))
    return min(times[False]), min(times[True])


def run(quick: bool) -> list[dict]:
    rows = []
    if torch.cuda.is_available():
        cases = [("cuda", 64, 16, 112, 3 if quick else 10)]
    else:
        cases = [("cpu", 2 if quick else 8, 8, 56, 2 if quick else 5)]
    for device, batch, frames, size, repeats in cases:
        section = "spatial loss on all eight blocks (training step)"
        shape = f"batch {batch}, {frames}x{size}x{size}"
        note = (
            f"{shape}, bf16 autocast, {torch.cuda.get_device_name()}"
            if device == "cuda"
            else f"{shape}: a CPU step at batch 64, 16x112x112 takes minutes"
        )
        base, with_sl = _step_times(device, batch, frames, size, repeats)
        rows += [
            {
                "section": section,
                "case": f"{device}: task loss only",
                "value": base,
                "unit": "s/step",
                "note": note,
            },
            {
                "section": section,
                "case": f"{device}: + spatial loss",
                "value": with_sl,
                "unit": "s/step",
                "note": note,
            },
            {
                "section": section,
                "case": f"{device}: spatial loss overhead",
                "value": 100 * (with_sl / base - 1),
                "unit": "%",
                "note": "target < 10% at batch 64 on a GPU",
            },
        ]
    return rows
