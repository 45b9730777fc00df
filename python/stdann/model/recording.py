"""Responses of a network's blocks to a set of clips, per unit, averaged over time.

A unit is one channel at one spatial position of a block's output; its
response to a clip is the output averaged over the clip's time steps, and the
units are numbered in flattened (C, H, W) order, the order of the cortical
sheet's positions (`stdann.topo.BlockPositions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stdann.atomic import atomic_write
from stdann.model.inputs import clips_to_input
from stdann.stimuli import StimulusSet, read_table


@torch.no_grad()
def record_block_responses(
    model: nn.Module,
    clips: np.ndarray | torch.Tensor,
    blocks: Sequence[str],
    batch_size: int = 16,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """float32 (N, C * H * W) of every block in `blocks` for uint8 clips (N, T, H, W, 3).

    The model runs in eval mode (its mode is restored after), with forward
    hooks that exist only during this call.
    """
    modules = {}
    for name in blocks:
        try:
            modules[name] = model.get_submodule(name)
        except AttributeError:
            known = [n for n, _ in model.named_modules() if n]
            raise KeyError(f"the model has no block {name!r} (it has {known})") from None
    if device is None:
        device = next(model.parameters()).device
    clips = torch.as_tensor(clips)
    chunks: dict[str, list[torch.Tensor]] = {name: [] for name in blocks}

    def hook_for(name: str):
        def hook(_module, _inputs, output: torch.Tensor) -> None:
            # (B, C, T, H, W) -> mean over T -> (B, C * H * W), float32.
            chunks[name].append(output.float().mean(2).flatten(1).cpu())

        return hook

    handles = [modules[name].register_forward_hook(hook_for(name)) for name in blocks]
    was_training = model.training
    model.eval()
    try:
        starts = range(0, len(clips), batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="responses", unit="batch")
        for i in starts:
            model(clips_to_input(clips[i : i + batch_size], device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return {name: torch.cat(parts).numpy() for name, parts in chunks.items()}


def save_block_responses(
    folder: str | Path, responses: dict[str, np.ndarray], stimuli: StimulusSet
) -> list[Path]:
    """BLOCK.npy (stimuli x units) for every block, and the stimulus table beside them."""
    folder = Path(folder)
    written = [
        atomic_write(folder / f"{block}.npy", lambda f, a=array: np.save(f, a))
        for block, array in responses.items()
    ]
    return written + stimuli.write_table(folder)


def load_block_responses(folder: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """(responses by block, stimulus table) of a folder written by `save_block_responses`."""
    folder = Path(folder)
    table, _geometry = read_table(folder)
    responses = {p.stem: np.load(p, allow_pickle=False) for p in sorted(folder.glob("*.npy"))}
    return responses, table
