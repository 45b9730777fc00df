"""Checkpoints: atomic files that load with `torch.load(weights_only=True)`.

A checkpoint is a file people share, so loading one must never run code: it
holds only tensors, numbers, strings, lists and dicts (random states as
tensors or plain numbers, the config as plain data). It is written to a
temporary file in the run folder, flushed to disk, renamed over its name and
the folder synced, so a run killed while writing leaves the previous
checkpoints intact; the last `keep` are kept.

A resume starts from the newest checkpoint that loads: a damaged one (a
failed copy truncates it) is skipped with a warning and left where it is.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stdann.atomic import atomic_write
from stdann.errors import StdannError
from stdann.model.moco import MoCo

_NAME = re.compile(r"^step-(\d{9})\.pt$")
FORMAT = "stdann-checkpoint-1"

log = logging.getLogger("stdann.checkpoint")


class CheckpointError(StdannError, RuntimeError):
    """A checkpoint that cannot be read or does not fit the run."""


def checkpoint_path(folder: Path, step: int) -> Path:
    return Path(folder) / f"step-{step:09d}.pt"


def list_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """(step, path) of every checkpoint in `folder`, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def latest_checkpoint(folder: Path) -> Path | None:
    found = list_checkpoints(folder)
    return found[-1][1] if found else None


def random_states(extra: dict[str, torch.Tensor] | None = None) -> dict[str, Any]:
    """Python, NumPy, torch CPU and CUDA random states as tensors and plain numbers."""
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state()  # noqa: NPY002 (the legacy global state is what is saved)
    states: dict[str, Any] = {
        "python": {"version": version, "state": list(internal), "gauss": gauss},
        "numpy": {
            "key": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    states.update(extra or {})
    return states


def set_random_states(states: dict[str, Any]) -> None:
    p = states["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    n = states["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            "MT19937",
            n["key"].numpy().astype(np.uint32),
            n["pos"],
            n["has_gauss"],
            n["cached_gaussian"],
        )
    )
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(folder: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Write `state` as the checkpoint of `step` and remove all but the last `keep`
    up to it."""
    path = checkpoint_path(folder, step)
    atomic_write(path, lambda f: torch.save({"format": FORMAT, **state}, f))
    # Checkpoints of later steps are damaged ones a resume skipped: counting
    # them would remove the good ones before this run has replaced them.
    earlier = [p for s, p in list_checkpoints(folder) if s < step]
    for old in earlier[: max(0, len(earlier) - (keep - 1))]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint without running any code (`weights_only=True`)."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"'{path}': no such checkpoint") from None
    except Exception as err:  # truncated zip, pickled code, anything torch.load refuses
        raise CheckpointError(f"'{path}': not a readable checkpoint ({err})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"'{path}': not a stdann checkpoint (format {FORMAT})")
    return state


def load_newest_checkpoint(
    folder: Path, map_location: str | torch.device = "cpu"
) -> tuple[Path | None, dict[str, Any] | None]:
    """(path, state) of the newest checkpoint in `folder` that loads, or (None,
    None) when it holds none. One that does not load is skipped with a warning
    on stderr and left in place; when none loads, that is a CheckpointError."""
    found = list_checkpoints(folder)
    skipped = []
    for _, path in reversed(found):
        try:
            state = load_checkpoint(path, map_location)
        except CheckpointError as err:
            log.warning("skipping %s", err)
            skipped.append(str(err))
            continue
        if skipped:
            log.warning("resuming from '%s' instead", path)
        return path, state
    if found:
        raise CheckpointError(
            f"'{folder}': none of its {len(found)} checkpoints is readable ({'; '.join(skipped)}); "
            "restore one from a copy, or start again in another folder"
        )
    return None, None


def newest_readable_checkpoint(folder: Path) -> Path | None:
    """The newest checkpoint in `folder` that loads, or None; skips quietly."""
    for _, path in reversed(list_checkpoints(folder)):
        try:
            load_checkpoint(path)
        except CheckpointError:
            continue
        return path
    return None


def last_good_checkpoint(path: Path) -> Path | None:
    """The newest readable checkpoint of the run that `path` (a file it failed to
    write) belongs to: the nearest `checkpoints` folder at or above its folder."""
    for folder in list(path.parents)[:3]:
        checkpoints = folder if folder.name == "checkpoints" else folder / "checkpoints"
        if checkpoints.is_dir():
            return newest_readable_checkpoint(checkpoints)
    return None


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def moco_state(moco: MoCo) -> dict[str, Any]:
    """Both encoders (backbone and head) and the queue with its videos and pointer."""
    return {
        "encoder_q": moco.query_encoder().state_dict(),
        "encoder_k": moco.encoder_k.state_dict(),
        "queue": moco.queue,
        "queue_videos": moco.queue_videos,
        "queue_ptr": moco.queue_ptr,
    }


def load_moco_state(moco: MoCo, state: dict[str, Any], source: str) -> None:
    try:
        moco.query_encoder().load_state_dict(state["encoder_q"])
        moco.encoder_k.load_state_dict(state["encoder_k"])
        if state["queue"].shape != moco.queue.shape:
            raise CheckpointError(
                f"{source}: queue of shape {tuple(state['queue'].shape)}, the model's is "
                f"{tuple(moco.queue.shape)}"
            )
        moco.queue.copy_(state["queue"])
        moco.queue_videos.copy_(state["queue_videos"])
        moco.queue_ptr.copy_(state["queue_ptr"])
    except (KeyError, RuntimeError) as err:
        if isinstance(err, CheckpointError):
            raise
        raise CheckpointError(f"{source}: does not fit this model ({err})") from None


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or the latest checkpoint of a run folder (or of its last stage)."""
    path = Path(path)
    if path.is_file():
        return path
    for folder in (path / "checkpoints", *sorted(path.glob("*/checkpoints"), reverse=True)):
        found = latest_checkpoint(folder)
        if found is not None:
            return found
    raise CheckpointError(f"'{path}': no checkpoint file, and no run folder with checkpoints")


def backbone_from_checkpoint(path: str | Path, map_location: str | torch.device = "cpu"):
    """(backbone, config) of a checkpoint: the query encoder's r3d_18 with its
    trained weights (batch-norm groups and SyncBN load as plain BatchNorm3d)."""
    from stdann.config import ConfigError, config_from_saved
    from stdann.model.moco import Encoder

    state = load_checkpoint(path, map_location)
    try:
        config, filled = config_from_saved(state["config"])
    except (KeyError, ConfigError) as err:
        raise CheckpointError(f"'{path}': its config cannot be read ({err})") from None
    if filled:
        log.warning(
            "'%s' was written before stdann had %s: taken from configs/paper.yaml",
            path,
            ", ".join(filled),
        )
    encoder = Encoder(config.model.width, config.model.head_hidden, config.model.embedding_dim)
    try:
        encoder.load_state_dict(state["moco"]["encoder_q"])
    except (KeyError, RuntimeError) as err:
        raise CheckpointError(
            f"'{path}': not an r3d_18 MoCo checkpoint of this stdann ({err})"
        ) from None
    return encoder.backbone, config
