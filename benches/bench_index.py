"""Cost of indexing a video: the packet scan (with its decoded-timestamp check
where a codec may reorder and the packet timestamps only increase) against a
full decode, on the sample videos and their prepared copies.

One group per video, `index-KIND-NAME`; the peer is the full decode. Timed: one
`index_video(..., refresh=True)` call into an empty cache (a new temporary
folder per round, made and removed outside the timing); 3 rounds (1 with
--bench-quick).
"""

from __future__ import annotations

import shutil
import tempfile

import pytest

from conftest import record
from stdann.data import index_video, sample_videos

NAMES = [p.name for p in sample_videos()]


@pytest.mark.parametrize("full_decode", [False, True], ids=["index", "full-decode"])
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", ["source", "prepared"])
def test_index(benchmark, kind, name, full_decode, source_videos, prepared_videos, quick):
    """Timed: indexing one video into an empty cache (see the module's docstring)."""
    videos = source_videos if kind == "source" else prepared_videos
    path = next(p for p in videos if p.stem == name.rsplit(".", 1)[0])
    benchmark.group = f"index-{kind}-{name}"
    info = index_video(path)

    def setup():
        return (path,), dict(cache_dir=tempfile.mkdtemp(), refresh=True, full_decode=full_decode)

    def teardown(path, cache_dir, **_):
        shutil.rmtree(cache_dir, ignore_errors=True)

    benchmark.pedantic(index_video, setup=setup, teardown=teardown, rounds=1 if quick else 3)
    record(
        benchmark,
        f"{kind} {path.name}, {'full decode' if full_decode else 'index'}",
        "peer" if full_decode else "stdann",
        note=f"{info['width']}x{info['height']}, {info['frame_count']} frames",
    )
