"""Small videos and a micro config for the training tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

CONFIGS = Path(__file__).parent.parent / "configs"

#: A network and clips small enough for a step in a fraction of a second on a CPU.
MICRO = [
    "data.frames=4",
    "data.size=32",
    "data.threads=1",
    "data.probe_videos=4",
    "model.width=4",
    "model.head_hidden=[16]",
    "model.embedding_dim=8",
    "moco.queue=32",
    "moco.bn_groups=2",
    "train.batch_size=4",
    "train.log_every=1",
    "train.checkpoint_every=2",
    "train.probe_every=2",
    "train.tensorboard=false",
    "topography.areas.retina.neighbourhood_width_mm=0.3",
    "topography.areas.V1.neighbourhood_width_mm=8",
    "topography.areas.V2.neighbourhood_width_mm=10",
    "topography.neighbourhoods.per_block=20",
    "topography.swap.steps=2000",
    "recipe.gratings.directions=4",
    "recipe.gratings.phases_deg=[0]",
]


#: MICRO for a whole recipe and its analysis: two steps a stage, dots a 32-px clip can show.
MICRO_RECIPE = [
    *MICRO,
    "recipe.pretrain_steps=2",
    "recipe.topographic_steps=2",
    "analysis.dot_speeds_deg_per_s=[1,2,4,8,16]",
]


def moving_texture_video(path: Path, seed: int, frames: int = 24, size: int = 48) -> Path:
    """A random texture drifting in a direction of its own, 1.5 px per frame (H.264)."""
    import av

    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 256, (size * 2, size * 2, 3), dtype=np.uint8)
    # Blur a little so that motion is visible at the network's scale.
    texture = (
        (texture.astype(np.float32) + np.roll(texture, 1, 0) + np.roll(texture, 1, 1)) / 3
    ).astype(np.uint8)
    angle = 2 * np.pi * seed / 8
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            dx, dy = round(1.5 * i * np.cos(angle)), round(1.5 * i * np.sin(angle))
            img = np.roll(texture, (dy, dx), (0, 1))[:size, :size]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def micro_corpus(root: Path, count: int = 8) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        moving_texture_video(root / f"texture{i}.mp4", i)
    return root


def signalling(clips_to_input: Callable, step: int, signum: int) -> Callable:
    """`clips_to_input` that sends `signum` to its own process while the training
    loop prepares its `step`-th batch (counted from this process's first), as a
    scheduler's signal comes in mid-step; for `stdann.train.loop.clips_to_input`."""
    calls = 0

    def hooked(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == step:
            os.kill(os.getpid(), signum)
        return clips_to_input(*args, **kwargs)

    return hooked
