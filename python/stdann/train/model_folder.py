"""Model folders, the read side: what `stdann export` writes and `stdann.load_model` reads.

A model folder (`stdann.export` writes one) holds `model.safetensors` (the
backbone under torchvision's key names), `positions.safetensors`,
`config.yaml`, where there is one `metrics.json`, and a model card. This
module reads and checks them, and writes the weights file; it sits beside
the checkpoints, below the analysis (which analyses a model folder as it
does a run) and below `stdann.export` (which writes the rest of a folder).
Weights in torchvision's format from elsewhere (a supervised Kinetics
r3d_18) load with `backbone_from_weights`, for `stdann analyze --weights`.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from stdann.atomic import atomic_write
from stdann.config import Config, ConfigError, load_config
from stdann.errors import StdannError
from stdann.model.backbone import r3d18_backbone, unit_shapes
from stdann.topo import BlockPositions, TopographyError
from stdann.topo.positions import load_positions_safetensors

MODEL_FILE = "model.safetensors"
POSITIONS_FILE = "positions.safetensors"
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
CARD_FILE = "README.md"
#: The `stdann_format` metadata of model.safetensors.
FORMAT = "stdann-model-1"
#: torchvision r3d_18's classifier: not part of the backbone, dropped from foreign weights.
CLASSIFIER_KEYS = ("fc.weight", "fc.bias")


class ModelFolderError(StdannError, ValueError):
    """A model folder or weights file that cannot be written or read."""


class Model(NamedTuple):
    """What `load_model` returns: the backbone (in evaluation mode), the
    positions of its units by block, and the config it was trained with."""

    backbone: nn.Module
    positions: dict[str, BlockPositions]
    config: Config


# ---- weights -----------------------------------------------------------------


def architecture(width: int) -> str:
    """The network's name: torchvision's r3d_18 only at its own width."""
    return "torchvision r3d_18" if width == 64 else f"r3d_18 at width {width}"


def weights_bytes(backbone: nn.Module, metadata: dict[str, str]) -> bytes:
    """The backbone's state dict as safetensors bytes (torchvision's key names:
    stdann's backbone is torchvision's module with `fc` the identity)."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in backbone.state_dict().items()}
    return save(tensors, metadata={"format": "pt", "stdann_format": FORMAT, **metadata})


def save_weights(
    path: str | Path,
    backbone: nn.Module,
    config: Config,
    *,
    step: int | None = None,
    source_sha256: str | None = None,
    positions_source: str | None = None,
) -> Path:
    """Write the backbone as model.safetensors, atomically, with what it is in
    its metadata (architecture, width, clip, step, the source checkpoint's
    hash, where its positions came from)."""
    metadata = {
        "architecture": architecture(config.model.width),
        "width": str(config.model.width),
        "clip": f"{config.data.frames}x{config.data.size}x{config.data.size}",
    }
    if step is not None:
        metadata["step"] = str(step)
    if source_sha256 is not None:
        metadata["source_checkpoint_sha256"] = source_sha256
    if positions_source is not None:
        metadata["positions"] = positions_source
    data = weights_bytes(backbone, metadata)
    return atomic_write(path, lambda f: f.write(data))


def weights_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of a .safetensors file (str -> str; empty when it has none)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as err:  # safetensors' own error for a truncated or foreign file
        raise ModelFolderError(f"'{path}': not a readable safetensors file ({err})") from None


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict of tensors from FILE.safetensors, or FILE.pth / FILE.pt
    (read with `torch.load(weights_only=True)`: no code runs)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFolderError(f"'{path}': no such weights file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as err:  # safetensors' own error for a truncated or foreign file
            raise ModelFolderError(f"'{path}': not a readable safetensors file ({err})") from None
    if path.suffix not in (".pth", ".pt"):
        raise ModelFolderError(
            f"'{path}': weights must be a .safetensors, .pth or .pt file (a state dict)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, pickled code: anything torch.load refuses
        raise ModelFolderError(f"'{path}': not a readable weights file ({err})") from None
    if isinstance(state, dict) and "format" in state and "moco" in state:
        raise ModelFolderError(
            f"'{path}': a stdann checkpoint, not a state dict: analyse it with "
            "`stdann analyze CHECKPOINT`"
        )
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ModelFolderError(
            f"'{path}': not a state dict of tensors (as `torch.save(model.state_dict(), ...)` "
            "writes)"
        )
    return state


def _fit(backbone: nn.Module, state: dict[str, torch.Tensor], path: Path, width: int) -> None:
    """Load `state` into `backbone`, every key and shape, or say what differs."""
    own = backbone.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = [
            f"{what} {names[:3]}" + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            for what, names in (
                ("missing", missing),
                ("unexpected", unexpected),
                ("of other shapes", shapes),
            )
            if names
        ]
        raise ModelFolderError(
            f"'{path}': does not fit {architecture(width)} (keys as torchvision's "
            f"r3d_18().state_dict()): {'; '.join(parts)}"
        )
    backbone.load_state_dict(state)


def backbone_from_weights(path: str | Path) -> tuple[nn.Module, int]:
    """(backbone, width) of r3d_18 weights in torchvision's format: a state dict
    with torchvision's key names, its classifier (`fc`) dropped. The width is
    the stem's channel count (64 for torchvision's own r3d_18)."""
    path = Path(path)
    state = {k: v for k, v in read_weights(path).items() if k not in CLASSIFIER_KEYS}
    stem = state.get("stem.0.weight")
    if stem is None or stem.ndim != 5:
        raise ModelFolderError(
            f"'{path}': no 5-D 'stem.0.weight': not r3d_18 weights in torchvision's format "
            "(key names as torchvision.models.video.r3d_18().state_dict())"
        )
    width = int(stem.shape[0])
    backbone = r3d18_backbone(width)
    _fit(backbone, state, path, width)
    return backbone, width


# ---- loading a model folder --------------------------------------------------


def is_model_folder(path: str | Path) -> bool:
    return (Path(path) / MODEL_FILE).is_file()


def load_model(folder: str | Path) -> Model:
    """(backbone, positions, config) of a model folder written by `stdann export`.

    The backbone is the r3d_18 of the folder's config with the weights of
    model.safetensors, in evaluation mode; the positions are checked against
    its blocks' units. Anything missing or inconsistent is a ModelFolderError
    naming the file.
    """
    folder = Path(folder)
    if not is_model_folder(folder):
        raise ModelFolderError(
            f"'{folder}': no {MODEL_FILE}: not a stdann model folder (write one with "
            "`stdann export RUN --out DIR`)"
        )
    try:
        config = load_config(folder / CONFIG_FILE)
    except ConfigError as err:
        raise ModelFolderError(f"model folder '{folder}': {err}") from None
    backbone, width = backbone_from_weights(folder / MODEL_FILE)
    if width != config.model.width:
        raise ModelFolderError(
            f"'{folder / MODEL_FILE}': weights of width {width}, but '{folder / CONFIG_FILE}' "
            f"says model.width {config.model.width}: the files come from different models"
        )
    shapes = unit_shapes(config.data.frames, config.data.size, config.data.size, channels=width)
    try:
        positions = load_positions_safetensors(folder / POSITIONS_FILE)
        for block, p in positions.items():
            if block not in shapes:
                raise ModelFolderError(
                    f"'{folder / POSITIONS_FILE}': positions of {block!r}, not a block of r3d_18"
                )
            p.check_unit_shape(shapes[block], source=f"'{folder / POSITIONS_FILE}'")
    except TopographyError as err:
        raise ModelFolderError(str(err)) from None
    return Model(backbone.eval(), positions, config)
