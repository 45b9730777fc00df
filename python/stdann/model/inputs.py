"""The one conversion from uint8 RGB clips to the model's normalised float input.

Training batches (from `VideoClipLoader`) and stimuli (`stdann.stimuli`) both go
through `clips_to_input`, so the network sees the same pixel scale in both.
The mean and standard deviation are those torchvision's video models use
(Kinetics-400 statistics, `torchvision.models.video.R3D_18_Weights`).
"""

from __future__ import annotations

import torch

#: Per-channel RGB mean and std of torchvision's video models (Kinetics-400).
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)


def clips_to_input(
    clips: torch.Tensor,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """uint8 clips (..., T, H, W, 3) as normalised float (N, 3, T, H, W) on `device`.

    Leading dimensions (batch, views) are flattened into N in order, so a
    loader batch (B, V, T, H, W, 3) becomes (B * V, 3, T, H, W) with the views
    of one sample next to each other. On a CUDA device the uint8 tensor is
    pinned and copied without blocking, and the conversion runs on the GPU
    (a quarter of the bytes of a float copy).
    """
    if clips.dtype != torch.uint8:
        raise TypeError(f"clips must be uint8 RGB, got {clips.dtype}")
    if clips.ndim < 4 or clips.shape[-1] != 3:
        raise ValueError(f"clips must be shaped (..., T, H, W, 3), got {tuple(clips.shape)}")
    device = torch.device(device) if device is not None else clips.device
    x = clips.reshape(-1, *clips.shape[-4:])
    if device.type == "cuda" and x.device.type == "cpu":
        x = x.pin_memory().to(device, non_blocking=True)
    else:
        x = x.to(device)
    mean = torch.tensor(KINETICS_MEAN, device=device, dtype=dtype).view(1, 3, 1, 1, 1) * 255.0
    std = torch.tensor(KINETICS_STD, device=device, dtype=dtype).view(1, 3, 1, 1, 1) * 255.0
    # (N, T, H, W, 3) -> (N, 3, T, H, W): the layout torchvision's Conv3d stem expects.
    x = x.permute(0, 4, 1, 2, 3).to(dtype)
    return ((x - mean) / std).contiguous()


def flip_samples(
    x: torch.Tensor, views: int, p: tuple[float, float], generator: torch.Generator
) -> torch.Tensor:
    """Flip whole samples of model input x (N, 3, T, H, W), N = samples x views
    with the views of a sample next to each other: each sample left-right with
    probability p[0] and, drawn apart, upside down with probability p[1]; all
    views of a sample alike. The draws come from `generator` (on the CPU), so
    the flips are fixed by its seed.

    A flip of the whole sample changes what the corpus shows (its directions
    of motion balanced left against right and up against down) without asking
    the views of one sample to match each other's mirror images, as a flip of
    each view alone (`data.augment.flip_p`) does.
    """
    if x.ndim != 5 or x.shape[0] % views:
        raise ValueError(f"expected (samples x {views} views, 3, T, H, W), got {tuple(x.shape)}")
    samples = x.shape[0] // views
    draw = torch.rand(samples, 2, generator=generator) < torch.tensor(p, dtype=torch.float64)
    if not draw.any():
        return x
    y = x.view(samples, views, *x.shape[1:])
    for dim, flip in ((-1, draw[:, 0]), (-2, draw[:, 1])):
        if flip.any():
            on = flip.to(x.device).view(samples, 1, 1, 1, 1, 1)
            y = torch.where(on, y.flip(dim), y)
    return y.reshape(x.shape)
