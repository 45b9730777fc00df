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
and against passes. Group `train-step`, whose peer is "passes": timed, one step
(on a GPU between two synchronizes) after one untimed warm-up step of each
case; 5 rounds (2 with --bench-quick, batch 8). (The former runner interleaved
the four cases round by round; pytest-benchmark times one case after the
other.)

Then the loader: group `train-loader`, its feed rate on the built-in corpus
with all cores; timed, 200 batches of the configured recipe (40 with
--bench-quick) after one untimed batch that pays for opening files, 3 rounds.
And group `train-run`: one real 60-step training run (20 with --bench-quick),
timed whole, with its data-wait fraction and end-to-end clips/s in the note.
Neither of the last two has a peer: the table gives their rates.
"""

from __future__ import annotations

import dataclasses
import json
import os
from itertools import islice
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from conftest import record
from stdann.config import load_config
from stdann.model.inputs import clips_to_input
from stdann.model.moco import momentum_at
from stdann.topo import SpatialLoss, block_alpha, initial_positions
from stdann.train.loop import build_moco, parameter_groups, train

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def _config(gpu: bool, quick: bool):
    if gpu:
        return load_config(CONFIGS / "paper.yaml")
    return load_config(CONFIGS / "tiny.yaml", ["train.batch_size=8"] if quick else [])


@pytest.fixture(scope="module")
def setting(quick):
    gpu = torch.cuda.is_available()
    config = _config(gpu, quick)
    d, t = config.data, config.train
    where = (
        f"{torch.cuda.get_device_name()} bf16, paper config"
        if gpu
        else "CPU float32, tiny config (no GPU)"
    )
    shape = f"batch {t.batch_size} x {d.views} views, {d.frames}x{d.size}x{d.size}"
    return gpu, config, f"{where}; {shape}"


@pytest.fixture(scope="module")
def train_step(setting):
    """step(case) for the four cases, on one model; each case warmed up once."""
    gpu, config, _ = setting
    device = torch.device("cuda" if gpu else "cpu")
    torch.manual_seed(0)
    d, t = config.data, config.train
    bf16 = device.type == "cuda"
    moco = build_moco(config, 1).to(device)
    positions = initial_positions(config)
    spatial = SpatialLoss(
        moco.query_encoder().backbone, positions, block_alpha(config.topography), seed=config.seed
    )
    opt = torch.optim.SGD(parameter_groups(moco.encoder_q, 1e-4), lr=0.01, momentum=0.9)
    n = t.batch_size * d.views
    g = torch.Generator().manual_seed(0)
    clips = torch.randint(0, 256, (n, d.frames, d.size, d.size, 3), generator=g, dtype=torch.uint8)
    videos = torch.arange(t.batch_size, device=device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def step(case: str) -> None:
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

    for case in CASES:  # warm-up (cudnn.benchmark picks its kernels here)
        step(case)
    yield step, sync, n
    spatial.remove()


CASES = {"plain": "other", "passes": "peer", "moco": "other", "moco + spatial": "stdann"}


@pytest.mark.benchmark(group="train-step")
@pytest.mark.parametrize("case", list(CASES))
def test_step(benchmark, train_step, setting, case, quick):
    """Timed: one training step of the case (module docstring)."""
    step, sync, clips = train_step
    benchmark.pedantic(step, args=(case,), setup=sync, rounds=2 if quick else 5)
    record(benchmark, f"step: {case}", CASES[case], 1, "step", note=f"{clips} clips; {setting[2]}")


@pytest.mark.benchmark(group="train-loader")
def test_loader_feed_rate(benchmark, setting, quick):
    """Timed: the native loader's next 200 batches (40 with --bench-quick), all cores."""
    from stdann.data import VideoClipLoader
    from stdann.train.loop import resolve_videos

    _, config, _ = setting
    d = config.data
    loader = VideoClipLoader(
        resolve_videos("builtin"),
        frames=d.frames,
        stride=d.stride,
        size=d.size,
        views=d.views,
        batch_size=8,
        threads=os.cpu_count(),
        augment=dataclasses.asdict(d.augment),
    )

    def batches():
        epoch = 0
        while True:
            yield from loader.iter_batches(epoch)
            epoch += 1

    count = 40 if quick else 200
    clips = []
    with loader:
        it = batches()
        next(it)  # the first batch pays for opening files

        def target():
            clips.append(sum(b.clips.shape[0] * b.clips.shape[1] for b in islice(it, count)))

        benchmark.pedantic(target, rounds=1 if quick else 3)
        it.close()
    record(
        benchmark,
        f"loader feed rate, {os.cpu_count()} threads, built-in corpus",
        "stdann",
        sum(clips) / len(clips),
        "clip",
    )


@pytest.mark.benchmark(group="train-run")
def test_training_run(benchmark, setting, quick, tmp_path):
    """Timed: one short real training run (train() with alpha 0.25), whole."""
    gpu, config, _ = setting
    d, t = config.data, config.train
    # The built-in corpus (51 videos) makes no batch of 64: the data-wait run
    # takes batches of at most 16 videos, several to an epoch.
    run_batch = min(t.batch_size, 16)
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
    benchmark.pedantic(train, args=(run_config, str(tmp_path)), kwargs=dict(progress=False))
    last = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    benchmark.extra_info["data_wait"] = last["data_wait"]
    record(
        benchmark,
        f"{steps}-step training run, batch {run_batch}",
        "stdann",
        steps,
        "step",
        note=(
            f"data wait {100 * last['data_wait']:.1f}% (target < 10%), "
            f"{last['clips_per_s']:.0f} clips/s end to end"
        ),
    )
