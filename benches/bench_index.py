"""Cost of indexing a video: the packet scan (with its decoded-timestamp check
where a codec may reorder and the packet timestamps only increase) against a
full decode, on the sample videos and their prepared copies. Milliseconds per
video, best of three, each into an empty cache."""

from __future__ import annotations

import tempfile
import time

from bench_video import prepared_copies
from stdann.data import index_video, sample_videos


def _best_ms(path, repeats: int, **options) -> float:
    best = float("inf")
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            t0 = time.perf_counter()
            index_video(path, cache_dir=cache, refresh=True, **options)
            best = min(best, time.perf_counter() - t0)
    return best * 1e3


def run(quick: bool = False) -> list[dict]:
    source = sample_videos()
    repeats = 1 if quick else 3
    rows = []
    for kind, videos in (("source", source), ("prepared", prepared_copies(source))):
        for path in videos:
            info = index_video(path)
            note = f"{info['width']}x{info['height']}, {info['frame_count']} frames"
            for case, options in (("index", {}), ("full decode", {"full_decode": True})):
                rows.append(
                    {
                        "section": "indexing a video (ms per video, into an empty cache)",
                        "case": f"{kind} {path.name}, {case}",
                        "value": _best_ms(path, repeats, **options),
                        "unit": "ms",
                        "note": note,
                    }
                )
    return rows
