"""torchvision's r3d_18 as the backbone, with its eight residual blocks named.

A block's output is post-ReLU (torchvision's BasicBlock ends with a ReLU); its
units, for the cortical sheet, are channel x spatial position of the output
averaged over time, numbered in flattened (C, H, W) order.
"""

from __future__ import annotations

from torch import nn
from torchvision.models.video import r3d_18
from torchvision.models.video.resnet import BasicBlock, Conv3DSimple, VideoResNet

# The eight residual blocks, named as torchvision names the modules; the
# config, below every package, holds the names so that it checks its
# topography section without importing torch.
from stdann.config import BLOCK_NAMES

# Channels of each stage relative to layer1 (He et al. 2016; r3d_18: 64-512).
_STAGE_MULTIPLIER = {"layer1": 1, "layer2": 2, "layer3": 4, "layer4": 8}


def r3d18_backbone(width: int = 64) -> nn.Module:
    """A randomly initialised r3d_18 whose classifier is replaced by the identity.

    `width` is the channel count of layer1 (the stem's output); the later
    stages have 2, 4 and 8 times as many. At 64 this is torchvision's r3d_18
    itself; narrower networks (same blocks, strides and initialisation) make
    toy runs on a CPU possible. The pooled features (8 x width, 512 for
    r3d_18) feed whichever head the training method adds (MoCo's MLP);
    weights are never downloaded.
    """
    if width == 64:
        model = r3d_18(weights=None)
    else:
        model = _NarrowR3D18(width)
    model.fc = nn.Identity()
    return model


def feature_dim(width: int = 64) -> int:
    """Size of the backbone's pooled output: the channels of layer4."""
    return 8 * width


class _NarrowR3D18(VideoResNet):
    """torchvision's VideoResNet with r3d_18's blocks at other channel widths.

    VideoResNet fixes the widths at 64-512 in its constructor; this one builds
    the same modules through its `_make_layer`, with torchvision's stem layout
    (3 x 7 x 7 convolution, stride (1, 2, 2)) and the same initialisation.
    """

    def __init__(self, width: int) -> None:
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        nn.Module.__init__(self)
        self.inplanes = width
        self.stem = nn.Sequential(
            nn.Conv3d(3, width, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
            nn.BatchNorm3d(width),
            nn.ReLU(inplace=True),
        )
        for i in range(4):
            stride = 1 if i == 0 else 2
            layer = self._make_layer(BasicBlock, Conv3DSimple, width * 2**i, 2, stride=stride)
            setattr(self, f"layer{i + 1}", layer)
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.fc = nn.Identity()
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)


def named_blocks(model: nn.Module) -> dict[str, nn.Module]:
    """The eight residual blocks of `model` by name (layer1.0 ... layer4.1)."""
    return {name: model.get_submodule(name) for name in BLOCK_NAMES}


def _conv_out(n: int, kernel: int, stride: int, padding: int) -> int:
    return (n + 2 * padding - kernel) // stride + 1


def block_output_shapes(
    frames: int = 16, height: int = 112, width: int = 112, channels: int = 64
) -> dict[str, tuple[int, int, int, int]]:
    """(C, T, H, W) of every block's output for a clip of the given size.

    Follows r3d_18's strides: the stem is a (3, 7, 7) convolution with stride
    (1, 2, 2) and padding (1, 3, 3); the first block of layer2-4 downsamples by
    2 in time and space with a 3 x 3 x 3 convolution, padding 1. `channels`
    is the network's width (layer1's channels).
    """
    t = _conv_out(frames, 3, 1, 1)
    h = _conv_out(height, 7, 2, 3)
    w = _conv_out(width, 7, 2, 3)
    shapes = {}
    for name in BLOCK_NAMES:
        stage, index = name.split(".")
        if stage != "layer1" and index == "0":
            t, h, w = (_conv_out(n, 3, 2, 1) for n in (t, h, w))
        shapes[name] = (_STAGE_MULTIPLIER[stage] * channels, t, h, w)
    return shapes


def unit_shapes(
    frames: int = 16, height: int = 112, width: int = 112, channels: int = 64
) -> dict[str, tuple[int, int, int]]:
    """(C, H, W) of every block's units: its output averaged over time."""
    return {
        name: (c, h, w)
        for name, (c, _t, h, w) in block_output_shapes(frames, height, width, channels).items()
    }
