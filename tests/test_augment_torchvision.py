"""The native per-view augmentation against torchvision's functional transforms
on a (T, C, H, W) float clip: the semantics the loader claims to follow."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from stdann import _native


def _clip(seed: int, frames: int = 3, size: int = 40) -> np.ndarray:
    """Smooth colour frames with a moving edge, brightness changing over time."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    out = []
    for t in range(frames):
        phase = rng.uniform(0, 2 * math.pi, 3)
        chans = [
            0.5 + 0.45 * np.sin(0.15 * x + 0.1 * y * (c + 1) + phase[c] + 0.3 * t) for c in range(3)
        ]
        img = np.stack(chans, -1) * (0.6 + 0.15 * t)
        img[:, : size // 3 + 2 * t] *= 0.3
        out.append(np.clip(img * 255 + rng.normal(0, 4, img.shape), 0, 255))
    return np.stack(out).round().astype(np.uint8)


def _torchvision(frames, flip, jitter, grayscale, blur):
    t = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0
    if flip:
        t = TF.horizontal_flip(t)
    if jitter is not None:
        b, c, s, h, order = jitter
        for op in order:
            if op == 0:
                t = TF.adjust_brightness(t, b)
            elif op == 1:
                t = TF.adjust_contrast(t, c)
            elif op == 2:
                t = TF.adjust_saturation(t, s)
            else:
                t = TF.adjust_hue(t, h)
    if grayscale:
        t = TF.rgb_to_grayscale(t, num_output_channels=3)
    if blur is not None:
        sigma, radius = blur
        t = TF.gaussian_blur(t, kernel_size=[2 * radius + 1] * 2, sigma=[sigma, sigma])
    return (t * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


CASES = [
    dict(flip=True, jitter=None, grayscale=False, blur=None),
    *(
        dict(flip=False, jitter=(1.3, 0.65, 1.35, 0.08, order), grayscale=False, blur=None)
        for order in itertools.islice(itertools.permutations(range(4)), 0, 24, 5)
    ),
    dict(flip=False, jitter=(0.7, 1.4, 0.6, -0.1, (3, 2, 1, 0)), grayscale=False, blur=None),
    dict(flip=False, jitter=(1.0, 0.0, 1.0, 0.0, (1, 0, 2, 3)), grayscale=False, blur=None),
    dict(flip=False, jitter=None, grayscale=True, blur=None),
    dict(flip=False, jitter=None, grayscale=False, blur=(1.5, 5)),
    dict(flip=False, jitter=None, grayscale=False, blur=(0.6, 2)),
    dict(flip=True, jitter=(1.2, 0.8, 1.3, 0.05, (2, 0, 3, 1)), grayscale=True, blur=(1.0, 3)),
]


@pytest.mark.parametrize("case", CASES)
def test_augmentation_matches_torchvision_functional(case):
    frames = _clip(seed=len(str(case)))
    blur = case["blur"]
    ours = _native.augment_view(
        frames,
        flip=case["flip"],
        jitter=case["jitter"],
        grayscale=case["grayscale"],
        blur_sigma=None if blur is None else blur[0],
        # Taps beyond 3 sigma are dropped natively; the cases keep the radius within.
        blur_radius=5 if blur is None else blur[1],
    )
    ref = _torchvision(frames, case["flip"], case["jitter"], case["grayscale"], blur)
    diff = np.abs(ours.astype(int) - ref.astype(int))
    # Float rounding (the hue rotation's arithmetic differs from the HSV round
    # trip) moves a value by at most one level, and rarely.
    assert diff.max() <= 1, case
    assert (diff > 0).mean() < 0.02, case


def test_contrast_keeps_each_frames_mean_grey():
    """The pivot is each frame's own mean grey, so frames keep their luminance."""
    frames = _clip(seed=3, frames=4)
    out = _native.augment_view(frames, jitter=(1.0, 0.5, 1.0, 0.0, (1, 0, 2, 3)))
    weights = np.array([0.2989, 0.587, 0.114])
    before = (frames.astype(float) @ weights).mean(axis=(1, 2))
    after = (out.astype(float) @ weights).mean(axis=(1, 2))
    assert np.abs(before - after).max() < 0.6
    assert np.ptp(before) > 20  # the frames do differ in brightness


def test_bad_parameters_are_refused():
    frames = _clip(seed=1)
    with pytest.raises(ValueError, match="permutation"):
        _native.augment_view(frames, jitter=(1.0, 1.0, 1.0, 0.0, (0, 0, 1, 2)))
    with pytest.raises(ValueError, match=r"\(T, S, S, 3\)"):
        _native.augment_view(frames[:, :, :10])
    with pytest.raises(ValueError, match="blur_sigma"):
        _native.augment_view(frames, blur_sigma=-1.0)


def test_an_unknown_colour_operation_is_refused():
    """Order codes name ColorJitter's adjustments; any other code is an error, never
    quietly some other operation (such as grayscale)."""
    frames = _clip(seed=1)
    with pytest.raises(ValueError, match="permutation"):
        _native.augment_view(frames, jitter=(1.0, 1.0, 1.0, 0.0, (0, 1, 2, 7)))
