"""Reference decoding with PyAV, for parity tests and as the peer in benches.

Frame i is the i-th frame PyAV's decoder outputs when the file is decoded from
its start. `decode_frames` decodes the file once from the start and is the
ground truth; `PyAVClipReader` does the same work as the native loader (seek to
the keyframe before, decode forward, RGB, crop, resize, flip, jitter) the way a
typical Python data loader does it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def decode_frames(path: str | os.PathLike[str], indices: Sequence[int]) -> np.ndarray:
    """Frames `indices` of `path` as (N, H, W, 3) uint8 RGB, in the order asked."""
    import av

    wanted = [int(i) for i in indices]
    if any(i < 0 for i in wanted):
        raise IndexError(f"{os.fspath(path)!r}: negative frame index in {wanted}")
    need = set(wanted)
    got: dict[int, np.ndarray] = {}
    last = max(wanted, default=-1)
    with av.open(os.fspath(path)) as container:
        stream = container.streams.video[0]
        for i, frame in enumerate(container.decode(stream)):
            if i in need:
                got[i] = frame.to_ndarray(format="rgb24")
            if i >= last:
                break
    missing = [i for i in wanted if i not in got]
    if missing:
        raise IndexError(f"{os.fspath(path)!r}: frame {missing[0]} is past the end of the video")
    return np.stack([got[i] for i in wanted]) if wanted else np.zeros((0, 0, 0, 3), np.uint8)


def frame_timestamps(path: str | os.PathLike[str]) -> list[int | None]:
    """Presentation timestamps of every frame PyAV decodes, in output order."""
    import av

    with av.open(os.fspath(path)) as container:
        return [frame.pts for frame in container.decode(video=0)]


class PyAVClipReader:
    """Clips with PyAV and NumPy: seek, decode, RGB, crop, resize, flip, jitter.

    The peer the native loader is measured against; not used in training.
    """

    def __init__(self, path: str | os.PathLike[str]):
        import av

        self.path = Path(path)
        self._container = av.open(os.fspath(path))
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "SLICE"
        self._stream.codec_context.thread_count = 1
        self._frame_pts = frame_timestamps(path)
        self._pts_sorted = sorted(p for p in self._frame_pts if p is not None)
        self.frame_count = len(self._frame_pts)

    def close(self) -> None:
        self._container.close()

    def read_view(
        self,
        indices: Sequence[int],
        crop: tuple[int, int, int, int],
        size: int,
        flip: bool,
        brightness: float = 1.0,
        contrast: float = 1.0,
        saturation: float = 1.0,
    ) -> np.ndarray:
        """One view: frames `indices` cropped to (x, y, w, h), resized, flipped, jittered."""
        import torch
        import torch.nn.functional as F

        wanted = sorted(set(indices))
        frames: dict[int, np.ndarray] = {}
        target_pts = {self._pts_sorted[i]: i for i in wanted}
        # Seek to the keyframe before the first wanted frame; if the container
        # seeks past it, decode from the start instead.
        for seek_to in (self._pts_sorted[wanted[0]], self._pts_sorted[0]):
            self._container.seek(seek_to, stream=self._stream, backward=True)
            for frame in self._container.decode(self._stream):
                i = target_pts.get(frame.pts)
                if i is not None:
                    frames[i] = frame.to_ndarray(format="rgb24")
                    if len(frames) == len(wanted):
                        break
            if len(frames) == len(wanted):
                break
        x, y, w, h = crop
        clip = np.stack([frames[i][y : y + h, x : x + w] for i in indices])
        t = torch.from_numpy(clip).permute(0, 3, 1, 2).float()
        t = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True)
        if flip:
            t = t.flip(-1)
        t = t * brightness
        gray = (0.2989 * t[:, 0] + 0.587 * t[:, 1] + 0.114 * t[:, 2]).unsqueeze(1)
        t = contrast * t + (1 - contrast) * gray.mean(dim=(1, 2, 3), keepdim=True)
        t = saturation * t + (1 - saturation) * gray
        return t.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
