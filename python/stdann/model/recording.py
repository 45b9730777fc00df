"""Responses of a network's blocks to a set of clips, per unit, averaged over time.

A unit is one channel at one spatial position of a block's output; its
response to a clip is that output averaged over the clip's time steps. Units
are numbered in flattened (C, H, W) order, the order of the cortical sheet's
positions (`stdann.topo.BlockPositions`): block output (B, C, T, H, W) ->
mean over T -> (B, C * H * W).

On disk a folder of responses holds BLOCK.npy (stimuli x units, float32) for
every block, the stimulus table (stimuli.csv, stimuli.json) and, written
last, responses.json naming the blocks of this save: files of an earlier save
into the same folder are never mixed in, and a save that was cut short has
no responses.json.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stdann.atomic import atomic_write, atomic_write_text
from stdann.errors import StdannError
from stdann.model.inputs import clips_to_input
from stdann.stimuli import StimulusSet, read_table

#: The manifest of a folder of responses, written after every other file.
MANIFEST = "responses.json"


class UnknownBlockError(StdannError, KeyError, ValueError):
    """A block name that is not a submodule of the model."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class BlockResponsesError(StdannError, ValueError):
    """Clips, responses or a responses folder that cannot be used."""


def _block_modules(model: nn.Module, blocks: Sequence[str]) -> dict[str, nn.Module]:
    if isinstance(blocks, str):
        blocks = [blocks]
    if not blocks:
        raise BlockResponsesError("no blocks to record")
    if len(set(blocks)) != len(blocks):
        raise BlockResponsesError(f"block names repeat: {list(blocks)}")
    modules = {}
    for name in blocks:
        try:
            modules[name] = model.get_submodule(name)
        except AttributeError:
            # The residual blocks (layerN.M) when the model has them, else every submodule.
            names = [n for n, _ in model.named_modules() if n]
            known = [n for n in names if n.startswith("layer") and n.count(".") == 1] or names
            raise UnknownBlockError(
                f"the model has no block {name!r}; its blocks are {', '.join(known)}"
            ) from None
    return modules


def _model_device(model: nn.Module) -> torch.device:
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")


@torch.no_grad()
def record_block_responses(
    model: nn.Module,
    clips: np.ndarray | torch.Tensor,
    blocks: Sequence[str],
    batch_size: int = 16,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """float32 (N, C * H * W) for every block in `blocks`, for uint8 clips (N, T, H, W, 3).

    Each row is the block's output averaged over time, flattened in (C, H, W)
    order. Batches of `batch_size` clips go through `clips_to_input` to
    `device` (default: where the model's weights are). The model runs in
    eval mode without gradients; its training flag is restored afterwards,
    and the forward hooks exist only during this call, also when it fails.
    `blocks` are submodule names (`model.get_submodule`), e.g. "layer3.1";
    an unknown one raises UnknownBlockError (a KeyError) listing the known.
    """
    modules = _block_modules(model, blocks)
    clips = torch.as_tensor(clips)
    if clips.dtype != torch.uint8 or clips.ndim != 5 or clips.shape[-1] != 3:
        raise BlockResponsesError(
            f"clips must be uint8 RGB (N, T, H, W, 3), got {clips.dtype} {tuple(clips.shape)}"
        )
    if len(clips) == 0:
        raise BlockResponsesError("no clips to record responses to")
    if batch_size < 1:
        raise BlockResponsesError(f"batch_size must be >= 1, got {batch_size}")
    device = torch.device(device) if device is not None else _model_device(model)
    n = len(clips)
    out: dict[str, np.ndarray] = {}
    start = 0  # first clip of the batch in flight

    def hook_for(name: str):
        def hook(_module: nn.Module, _inputs: object, output: object) -> None:
            if not isinstance(output, torch.Tensor) or output.ndim != 5:
                shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output)
                raise BlockResponsesError(
                    f"block {name!r} gave {shape}, not one (B, C, T, H, W) tensor"
                )
            # (B, C, T, H, W) -> mean over T -> (B, C * H * W): the sheet's unit order.
            units = output.float().mean(dim=2).flatten(1).cpu().numpy()
            if name not in out:
                out[name] = np.empty((n, units.shape[1]), dtype=np.float32)
            out[name][start : start + len(units)] = units

        return hook

    handles = []
    was_training = model.training
    try:
        handles = [module.register_forward_hook(hook_for(name)) for name, module in modules.items()]
        model.eval()
        starts = range(0, n, batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="responses", unit="batch")
        for start in starts:  # the hooks read `start`
            model(clips_to_input(clips[start : start + batch_size], device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    missing = [name for name in modules if name not in out]
    if missing:
        raise BlockResponsesError(f"blocks {missing} did not run in the model's forward")
    return {name: out[name] for name in modules}


def save_block_responses(
    out_dir: str | Path, responses: dict[str, np.ndarray], stimuli: StimulusSet
) -> list[Path]:
    """Write BLOCK.npy (stimuli x units) for every block, the stimulus table
    beside them (stimuli.csv, stimuli.json) and responses.json last, each file
    atomically. Returns the paths written, in that order."""
    out_dir = Path(out_dir)
    for block, array in responses.items():
        if not block or "/" in block or block.startswith("."):
            raise BlockResponsesError(f"{block!r} cannot name a file")
        if np.ndim(array) != 2 or len(array) != len(stimuli):
            raise BlockResponsesError(
                f"responses of {block} must be (stimuli, units) with {len(stimuli)} stimuli "
                f"({stimuli.name}), got shape {np.shape(array)}"
            )
    # Until the new manifest is in place, the folder reads as unfinished.
    (out_dir / MANIFEST).unlink(missing_ok=True)
    written = [
        atomic_write(out_dir / f"{block}.npy", lambda f, a=array: np.save(f, np.asarray(a)))
        for block, array in responses.items()
    ]
    written += stimuli.write_table(out_dir)
    manifest = {
        "stimuli": stimuli.name,
        "blocks": {block: list(np.shape(array)) for block, array in responses.items()},
    }
    written.append(atomic_write_text(out_dir / MANIFEST, json.dumps(manifest, indent=1) + "\n"))
    return written


def load_block_responses(
    out_dir: str | Path,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(responses by block, stimulus table) of a folder written by `save_block_responses`."""
    out_dir = Path(out_dir)
    path = out_dir / MANIFEST
    try:
        blocks = json.loads(path.read_text())["blocks"]
    except FileNotFoundError:
        raise BlockResponsesError(
            f"'{path}' is missing: '{out_dir}' was not written by save_block_responses, "
            "or the save was cut short (write the responses again)"
        ) from None
    except (ValueError, KeyError, TypeError) as e:
        raise BlockResponsesError(f"'{path}': not a responses manifest ({e})") from None
    table, _geometry = read_table(out_dir)
    responses = {}
    for block, shape in blocks.items():
        file = out_dir / f"{block}.npy"
        try:
            array = np.load(file, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise BlockResponsesError(f"'{file}': cannot read responses ({e})") from None
        if list(array.shape) != shape:
            raise BlockResponsesError(
                f"'{file}' holds shape {array.shape}, the manifest says {tuple(shape)} "
                "(overwritten by another save?)"
            )
        rows = len(next(iter(table.values()), ()))
        if len(array) != rows:
            raise BlockResponsesError(
                f"'{file}' holds {len(array)} stimuli, the table beside it {rows}"
            )
        responses[block] = array
    return responses, table
