"""A training step, taken apart: network passes, MoCo, the spatial loss, data.

On a GPU the paper config is measured (batch 64 videos x 2 views of
16 x 112 x 112 clips, bf16 autocast); without one the tiny config stands in
and the rows say so. Cases, each the fastest of several interleaved rounds:

- plain: forward and backward of the backbone and head on the step's clips,
  with a stand-in loss, and an SGD update;
- passes: plain plus the key encoder's forward on the same clips (the
  network work MoCo cannot do without);
- moco: the real MoCo step (shuffle BN, InfoNCE over view pairs with the
  queue and its video mask, enqueue, momentum update), alpha = 0;
- moco + spatial: the same with the spatial loss on all eight blocks.

The overheads the issue's target speaks of are moco + spatial against plain
and against passes. Then the loader: its feed rate on prepared video with all
cores, and a short real training run's data-wait fraction.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from stdann.config import load_config
from stdann.model.inputs import clips_to_input
from stdann.model.moco import momentum_at
from stdann.topo import SpatialLoss, initial_positions
from stdann.topo.sheets import topography_from_config
from stdann.train.loop import block_alpha, build_moco, parameter_groups, train

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def _config(gpu: bool, quick: bool):
    if gpu:
        return load_config(CONFIGS / "paper.yaml")
    return load_config(CONFIGS / "tiny.yaml", ["train.batch_size=8"] if quick else [])


def _step_times(config, device: torch.device, rounds: int) -> dict[str, float]:
    torch.manual_seed(0)
    d, t = config.data, config.train
    bf16 = device.type == "cuda"
    moco = build_moco(config, 1).to(device)
    positions = initial_positions(topography_from_config(config))
    spatial = SpatialLoss(
        moco.query_encoder().backbone, positions, block_alpha(config), seed=config.seed
    )
    opt = torch.optim.SGD(parameter_groups(moco.encoder_q, 1e-4), lr=0.01, momentum=0.9)
    n = t.batch_size * d.views
    g = torch.Generator().manual_seed(0)
    clips = torch.randint(0, 256, (n, d.frames, d.size, d.size, 3), generator=g, dtype=torch.uint8)
    videos = torch.arange(t.batch_size, device=device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def step(case: str) -> float:
        sync()
        start = time.perf_counter()
        x = clips_to_input(clips, device)
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            if case in ("plain", "passes"):
                loss = moco.encoder_q(x).float().pow(2).mean()
                if case == "passes":
                    with torch.no_grad():
                        F.normalize(moco.encoder_k(x).float(), dim=1)
            elif case == "moco":
                moco.momentum_update(momentum_at(1, 10, 0.994, 1.0))
                loss, _ = moco(x, videos, d.views)
            else:
                moco.momentum_update(momentum_at(1, 10, 0.994, 1.0))
                with spatial.collect():
                    loss, _ = moco(x, videos, d.views)
                loss = loss + spatial.loss().to(loss.device)
        loss.backward()
        opt.step()
        sync()
        return time.perf_counter() - start

    cases = ("plain", "passes", "moco", "moco + spatial")
    for case in cases:  # warm-up (cudnn.benchmark picks its kernels here)
        step(case)
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(rounds):
        for case in cases:
            best[case] = min(best[case], step(case))
    spatial.remove()
    return best


def _loader_rate(config, videos: list[Path], seconds: float) -> float:
    from stdann.data import VideoClipLoader

    d = config.data
    loader = VideoClipLoader(
        videos,
        frames=d.frames,
        stride=d.stride,
        size=d.size,
        views=d.views,
        batch_size=8,
        threads=os.cpu_count(),
        augment=dataclasses.asdict(d.augment),
    )
    clips, start, epoch = 0, None, 0
    with loader:
        while start is None or time.perf_counter() - start < seconds:
            for batch in loader.iter_batches(epoch):
                if start is None:  # the first batch pays for opening files
                    start = time.perf_counter()
                    continue
                clips += batch.clips.shape[0] * batch.clips.shape[1]
                if time.perf_counter() - start >= seconds:
                    break
            epoch += 1
    return clips / (time.perf_counter() - start)


def run(quick: bool) -> list[dict]:
    from stdann.train.loop import resolve_videos

    gpu = torch.cuda.is_available()
    device = torch.device("cuda" if gpu else "cpu")
    config = _config(gpu, quick)
    d, t = config.data, config.train
    where = (
        f"{torch.cuda.get_device_name()} bf16, paper config"
        if gpu
        else "CPU float32, tiny config (no GPU)"
    )
    shape = f"batch {t.batch_size} x {d.views} views, {d.frames}x{d.size}x{d.size}"
    times = _step_times(config, device, rounds=2 if quick else 5)
    section = f"Training step ({where}; {shape})"
    rows = [
        {"section": section, "case": f"step: {case}", "value": 1e3 * s, "unit": "ms"}
        for case, s in times.items()
    ]
    full = times["moco + spatial"]
    rows += [
        {
            "section": section,
            "case": "moco + spatial vs plain fwd/bwd",
            "value": 100 * (full / times["plain"] - 1),
            "unit": "%",
            "note": "includes the key encoder's forward",
        },
        {
            "section": section,
            "case": "moco + spatial vs the same network passes",
            "value": 100 * (full / times["passes"] - 1),
            "unit": "%",
            "note": "MoCo's own work and the spatial loss (target <= 15%)",
        },
        {
            "section": section,
            "case": "clips per second (moco + spatial)",
            "value": t.batch_size * d.views / full,
            "unit": "clips/s",
        },
    ]
    videos = resolve_videos("builtin")
    feed = _loader_rate(config, videos, 3 if quick else 10)
    rows.append(
        {
            "section": section,
            "case": f"loader feed rate, {os.cpu_count()} threads, built-in corpus",
            "value": feed,
            "unit": "clips/s",
            "note": f"the step consumes {t.batch_size * d.views / full:.0f} clips/s",
        }
    )
    # The built-in corpus (51 videos) makes no batch of 64: the data-wait run
    # takes batches of at most 16 videos, several to an epoch.
    run_batch = min(t.batch_size, 16)
    with tempfile.TemporaryDirectory() as tmp:
        steps = 20 if quick else 60
        run_config = load_config(
            CONFIGS / ("paper.yaml" if gpu else "tiny.yaml"),
            [
                f"train.steps={steps}",
                f"train.log_every={steps}",
                "train.probe_every=0",
                "train.tensorboard=false",
                "topography.alpha=0.25",
                f"train.batch_size={run_batch}",
                f"moco.queue={run_batch * d.views * 8}",
            ],
        )
        train(run_config, tmp, progress=False)
        last = [json.loads(line) for line in open(Path(tmp) / "metrics.jsonl")][-1]
    rows.append(
        {
            "section": section,
            "case": f"data wait in a {steps}-step training run, batch {run_batch}",
            "value": 100 * last["data_wait"],
            "unit": "%",
            "note": f"{last['clips_per_s']:.0f} clips/s end to end (target < 10%)",
        }
    )
    return rows
