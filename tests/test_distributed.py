"""Two processes on the CPU with the gloo backend: one queue for all ranks, in
rank order and equal everywhere; shuffle BN across ranks; exact resume."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from stdann.config import load_config
from stdann.model.moco import MoCo
from stdann.train import train
from stdann.train.checkpoint import load_checkpoint
from train_fixtures import CONFIGS, MICRO, MICRO_RECIPE, micro_corpus

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _environment(rank: int, world: int, port: int) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
    )
    torch.set_num_threads(1)


def _queue_worker(rank: int, world: int, port: int) -> None:
    _environment(rank, world, port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        torch.manual_seed(0)
        moco = MoCo(
            width=2,
            head_hidden=[8],
            embedding_dim=4,
            queue_size=16,
            temperature=0.2,
        )
        torch.manual_seed(100 + rank)  # each rank its own clips
        x = torch.randn(4, 3, 2, 16, 16)  # 2 samples x 2 views
        videos = torch.tensor([10 * rank, 10 * rank + 1])
        # Shuffle BN across ranks returns every key to its own clip: in eval
        # mode (no batch statistics; the ranks' running statistics still equal,
        # before any training forward) the shuffled keys equal the plain ones.
        moco.encoder_k.eval()
        plain = torch.nn.functional.normalize(moco.encoder_k(x).float(), dim=1)
        assert torch.equal(moco._keys(x), plain)
        moco.encoder_k.train()
        moco(x, videos, views=2)
        # Keys of both ranks, rank 0's first, each rank's in view-major order.
        assert moco.queue_videos[:8].tolist() == [0, 1, 0, 1, 10, 11, 10, 11]
        assert int(moco.queue_ptr) == 8
        queues = [torch.empty_like(moco.queue) for _ in range(world)]
        dist.all_gather(queues, moco.queue)
        assert all(torch.equal(q, queues[0]) for q in queues)
    finally:
        dist.destroy_process_group()


def test_two_ranks_share_one_queue_in_rank_order():
    mp.spawn(_queue_worker, args=(2, free_port()), nprocs=2, join=True)


def _train_worker(
    rank: int, world: int, port: int, overrides: list[str], out: str, stop_at: int | None
) -> None:
    _environment(rank, world, port)
    try:
        result = train(
            load_config(CONFIGS / "tiny.yaml", overrides), out, progress=False, stop_at=stop_at
        )
        queues = [torch.empty_like(result.moco.queue) for _ in range(world)]
        dist.all_gather(queues, result.moco.queue)
        assert all(torch.equal(q, queues[0]) for q in queues)
        videos = [torch.empty_like(result.moco.queue_videos) for _ in range(world)]
        dist.all_gather(videos, result.moco.queue_videos)
        assert all(torch.equal(v, videos[0]) for v in videos)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_two_process_run_resumes_exactly(tmp_path):
    corpus = micro_corpus(tmp_path / "videos")
    base = [*MICRO, f"data.root={corpus}", "train.probe_every=0"]

    def run(out: str, stop_at: int | None = None) -> None:
        mp.spawn(
            _train_worker,
            args=(2, free_port(), [*base, "train.steps=4"], out, stop_at),
            nprocs=2,
            join=True,
        )

    run(str(tmp_path / "straight"))
    run(str(tmp_path / "resumed"), stop_at=2)
    run(str(tmp_path / "resumed"))
    a = load_checkpoint(tmp_path / "straight" / "checkpoints" / "step-000000004.pt")
    b = load_checkpoint(tmp_path / "resumed" / "checkpoints" / "step-000000004.pt")
    assert len(a["random_states"]) == 2  # each rank's random states
    for part in ("encoder_q", "encoder_k"):
        for k, v in a["moco"][part].items():
            assert torch.equal(v, b["moco"][part][k]), (part, k)
    for k in ("queue", "queue_videos", "queue_ptr"):
        assert torch.equal(a["moco"][k], b["moco"][k]), k
    # Both ranks' keys are in the queue: 8 videos, all of them seen.
    assert set(a["moco"]["queue_videos"].tolist()) == set(range(8))


def _recipe_worker(rank: int, world: int, port: int, overrides: list[str], out: str) -> None:
    from stdann.train import run_recipe

    _environment(rank, world, port)
    try:
        run_recipe(load_config(CONFIGS / "tiny.yaml", overrides), out, progress=False)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_the_recipe_runs_under_two_ranks(tmp_path):
    """Every rank trains in stages 1 and 4; rank 0 alone makes the positions."""
    corpus = micro_corpus(tmp_path / "videos")
    overrides = [*MICRO_RECIPE, f"data.root={corpus}", "train.probe_every=0"]
    out = tmp_path / "run"
    mp.spawn(_recipe_worker, args=(2, free_port(), overrides, str(out)), nprocs=2, join=True)
    for stage in ("1-pretrain", "2-positions", "3-swap", "4-topographic"):
        assert (out / stage / "finished.json").exists(), stage
    state = load_checkpoint(out / "4-topographic" / "checkpoints" / "step-000000002.pt")
    assert len(state["random_states"]) == 2
    assert (out / "finished.json").exists()


def _stopping_worker(
    rank: int, world: int, port: int, overrides: list[str], out: str, signal_rank: int | None
) -> None:
    import signal

    from stdann.train import loop
    from stdann.train.signals import Stopped
    from train_fixtures import signalling

    _environment(rank, world, port)
    if rank == signal_rank:
        # One rank alone gets SIGUSR1, in its second step: the other never does.
        loop.clips_to_input = signalling(loop.clips_to_input, 2, signal.SIGUSR1)
    try:
        try:
            train(load_config(CONFIGS / "tiny.yaml", overrides), out, progress=False)
        except Stopped as stopped:
            # Every rank stops after the same step, and says so.
            assert stopped.step == 2 and stopped.signum == signal.SIGUSR1, stopped
        else:
            assert signal_rank is None, "a signalled run went on to its end"
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_two_ranks_agree_on_the_step_a_signal_stops_them_at(tmp_path):
    """SIGUSR1 to rank 1 alone, as in its second step; both ranks stop after
    step 2, rank 0 writes the checkpoint with both ranks' random states, and
    the resumed run ends bit-identical to a run never stopped."""
    corpus = micro_corpus(tmp_path / "videos")
    overrides = [*MICRO, f"data.root={corpus}", "train.probe_every=0", "train.steps=4"]

    def run(out: Path, signal_rank: int | None = None) -> None:
        mp.spawn(
            _stopping_worker,
            args=(2, free_port(), overrides, str(out), signal_rank),
            nprocs=2,
            join=True,
        )

    run(tmp_path / "straight")
    run(tmp_path / "stopped", signal_rank=1)
    stopped = load_checkpoint(tmp_path / "stopped" / "checkpoints" / "step-000000002.pt")
    assert stopped["step"] == 2 and len(stopped["random_states"]) == 2
    assert sorted(p.name for p in (tmp_path / "stopped" / "checkpoints").iterdir()) == [
        "step-000000002.pt"
    ]
    assert not (tmp_path / "stopped" / "finished.json").exists()
    run(tmp_path / "stopped")
    a = load_checkpoint(tmp_path / "straight" / "checkpoints" / "step-000000004.pt")
    b = load_checkpoint(tmp_path / "stopped" / "checkpoints" / "step-000000004.pt")
    for part in ("encoder_q", "encoder_k"):
        for k, v in a["moco"][part].items():
            assert torch.equal(v, b["moco"][part][k]), (part, k)
    for k in ("queue", "queue_videos", "queue_ptr"):
        assert torch.equal(a["moco"][k], b["moco"][k]), k


def _diverging_worker(rank: int, world: int, port: int, overrides: list[str], out: str) -> None:
    from stdann.train import NonFiniteLossError

    _environment(rank, world, port)
    if rank == 1:
        # Rank 1's loss alone is NaN in its third step.
        real_forward, calls = MoCo.forward, [0]

        def forward(self, *args, **kwargs):
            loss, stats = real_forward(self, *args, **kwargs)
            calls[0] += 1
            return (loss * float("nan") if calls[0] == 3 else loss), stats

        MoCo.forward = forward
    try:
        try:
            train(load_config(CONFIGS / "tiny.yaml", overrides), out, progress=False)
        except NonFiniteLossError as err:
            Path(out, f"rank-{rank}.txt").write_text(str(err))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_a_nan_on_one_rank_stops_every_rank_before_the_probe_and_the_checkpoint(tmp_path):
    """The loss is checked where numbers leave the device, on every rank at once:
    rank 1's NaN at step 3 stops both ranks at step 4 (a log line every 5
    steps), before rank 0's probe and before the checkpoint; step 2's is kept."""
    corpus = micro_corpus(tmp_path / "videos")
    out = tmp_path / "run"
    overrides = [*MICRO, f"data.root={corpus}", "train.steps=6", "train.log_every=5"]
    mp.spawn(_diverging_worker, args=(2, free_port(), overrides, str(out)), nprocs=2, join=True)
    assert (out / "rank-1.txt").read_text().startswith("step 3: the loss is nan")
    assert (
        (out / "rank-0.txt")
        .read_text()
        .startswith("step 3: the loss is not finite on another rank")
    )
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-000000002.pt"]
    assert [
        json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()
    ] == [0, 2]
