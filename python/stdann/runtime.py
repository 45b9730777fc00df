"""Where a command runs: its place among torchrun's ranks and its device.

Training, the recipe's stages and the analysis all ask; neither package
reaches into the other for it.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from stdann.config import Config, ConfigError


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
    """The device `train.device` asks for: cuda (this rank's GPU under torchrun) when
    it says so, or says auto and there is one; else the CPU."""
    want = config.train.device
    if want == "cuda" or (want == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError("train.device is cuda but no CUDA device is available")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")
