"""The loader's crop-and-resize of YUV planes against torchvision's
`resized_crop(..., antialias=True)` on the same 8-bit plane: the filter the
loader claims to apply."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from stdann import _native


def _plane(seed: int, h: int = 150, w: int = 200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    smooth = 128 + 90 * np.sin(0.09 * x + 0.05 * y + rng.uniform(0, 6))
    return np.clip(smooth + rng.normal(0, 25, (h, w)), 0, 255).astype(np.uint8)


def test_crops_resized_up_and_down_match_torchvision_antialiased_bilinear():
    plane = _plane(0)
    h, w = plane.shape
    rng = np.random.default_rng(1)
    means = []
    for _ in range(120):
        out_h, out_w = (int(v) for v in rng.integers(8, 120, 2))
        # From a third of the output size (3x enlargement) to twice it.
        bw = int(rng.integers(max(1, out_w // 3), min(w, 2 * out_w) + 1))
        bh = int(rng.integers(max(1, out_h // 3), min(h, 2 * out_h) + 1))
        x, y = int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1))
        ours = _native.resize_plane(plane, (x, y, bw, bh), (out_h, out_w)).astype(int)
        theirs = TF.resized_crop(
            torch.from_numpy(plane)[None], y, x, bh, bw, [out_h, out_w], antialias=True
        )[0].numpy()
        diff = np.abs(ours - theirs.astype(int))
        assert diff.max() <= 1, f"box {(x, y, bw, bh)} to {(out_h, out_w)}: off by {diff.max()}"
        means.append(diff.mean())
    assert np.mean(means) < 0.4


def test_bad_boxes_and_large_reductions_are_refused():
    plane = _plane(2)
    with pytest.raises(ValueError, match="inside"):
        _native.resize_plane(plane, (150, 0, 100, 50), (20, 20))
    with pytest.raises(ValueError, match="above 2"):
        _native.resize_plane(plane, (0, 0, 200, 150), (20, 20))
