"""torchvision's r3d_18 as the backbone, with its eight residual blocks named.

A block's output is post-ReLU (torchvision's BasicBlock ends with a ReLU); its
units, for the cortical sheet, are channel x spatial position of the output
averaged over time, numbered in flattened (C, H, W) order.
"""

from __future__ import annotations

from torch import nn
from torchvision.models.video import r3d_18

BLOCK_NAMES: tuple[str, ...] = (
    "layer1.0",
    "layer1.1",
    "layer2.0",
    "layer2.1",
    "layer3.0",
    "layer3.1",
    "layer4.0",
    "layer4.1",
)

# Channels of each stage of r3d_18 (He et al. 2016 widths, Tran et al. 2018).
_STAGE_CHANNELS = {"layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512}


def r3d18_backbone() -> nn.Module:
    """A randomly initialised r3d_18 whose classifier is replaced by the identity.

    The 512-d pooled features feed whichever head the training method adds
    (MoCo's MLP); weights are never downloaded.
    """
    model = r3d_18(weights=None)
    model.fc = nn.Identity()
    return model


def named_blocks(model: nn.Module) -> dict[str, nn.Module]:
    """The eight residual blocks of `model` by name (layer1.0 ... layer4.1)."""
    return {name: model.get_submodule(name) for name in BLOCK_NAMES}


def _conv_out(n: int, kernel: int, stride: int, padding: int) -> int:
    return (n + 2 * padding - kernel) // stride + 1


def block_output_shapes(
    frames: int = 16, height: int = 112, width: int = 112
) -> dict[str, tuple[int, int, int, int]]:
    """(C, T, H, W) of every block's output for a clip of the given size.

    Follows r3d_18's strides: the stem is a (3, 7, 7) convolution with stride
    (1, 2, 2) and padding (1, 3, 3); the first block of layer2-4 downsamples by
    2 in time and space with a 3 x 3 x 3 convolution, padding 1.
    """
    t = _conv_out(frames, 3, 1, 1)
    h = _conv_out(height, 7, 2, 3)
    w = _conv_out(width, 7, 2, 3)
    shapes = {}
    for name in BLOCK_NAMES:
        stage, index = name.split(".")
        if stage != "layer1" and index == "0":
            t, h, w = (_conv_out(n, 3, 2, 1) for n in (t, h, w))
        shapes[name] = (_STAGE_CHANNELS[stage], t, h, w)
    return shapes


def unit_shapes(
    frames: int = 16, height: int = 112, width: int = 112
) -> dict[str, tuple[int, int, int]]:
    """(C, H, W) of every block's units: its output averaged over time."""
    return {
        name: (c, h, w)
        for name, (c, _t, h, w) in block_output_shapes(frames, height, width).items()
    }
