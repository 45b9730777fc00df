"""Pinwheel finding: the native winding numbers against the NumPy reference, and
the batch CLI `stdann-pinwheels` with one and two jobs.

Targets (issue 3): native at least 20x the NumPy reference on a 1024 x 1024
map, single-threaded; the CLI at least 1.8x faster with 2 jobs than with 1 on
a folder of 200 maps. Maps are ring-spectrum random fields (Lambda 20 px),
pinwheel-rich like trained direction maps.

Each finder is timed over runs of consecutive calls (its steady state, as
pytest-benchmark times it), rounds of the two alternating so that load from
other processes falls on both alike; the fastest call counts. A 1024 x 1024
float64 map is 8 MB, so the native finder is bound by reading it when it is
not in cache: a second row times it right after each reference call, which
evicts it, and says what that costs.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from stdann.analysis import find_pinwheels
from stdann.analysis.pinwheels_reference import find_pinwheels_reference
from stdann.analysis.synthetic_maps import angles_of, ring_field

SECTION = "pinwheels"
CLI = Path(sys.executable).parent / "stdann-pinwheels"


def _fastest(fns: dict[str, object], rounds: int, calls: int = 1) -> dict[str, float]:
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(calls):
                t = time.perf_counter()
                fn()
                best[name] = min(best[name], time.perf_counter() - t)
    return best


def _finder_rows(size: int, rounds: int) -> list[dict]:
    angles = angles_of(ring_field(size, 20.0, 0))
    native = find_pinwheels(angles)
    reference = find_pinwheels_reference(angles)
    assert all(np.array_equal(a, b) for a, b in zip(native, reference, strict=True))
    best = _fastest(
        {
            "native": lambda: find_pinwheels(angles),
            "reference": lambda: find_pinwheels_reference(angles),
        },
        rounds,
        calls=5,
    )
    cold = _fastest(
        {
            "native": lambda: find_pinwheels(angles),
            "reference": lambda: find_pinwheels_reference(angles),
        },
        rounds,
    )
    shape = f"{size}x{size} float64, {len(native[0])} pinwheels"
    return [
        {
            "section": SECTION,
            "case": f"find_pinwheels native, {size}x{size}",
            "value": best["native"] * 1e3,
            "unit": "ms",
            "note": f"{shape}, 1 thread",
        },
        {
            "section": SECTION,
            "case": f"find_pinwheels NumPy reference, {size}x{size}",
            "value": best["reference"] * 1e3,
            "unit": "ms",
            "note": shape,
        },
        {
            "section": SECTION,
            "case": "speed-up native / NumPy",
            "value": best["reference"] / best["native"],
            "unit": "x",
            "note": "target >= 20",
        },
        {
            "section": SECTION,
            "case": f"find_pinwheels native, {size}x{size}, map not in cache",
            "value": cold["native"] * 1e3,
            "unit": "ms",
            "note": "each call right after a reference call",
        },
        {
            "section": SECTION,
            "case": "speed-up native / NumPy, map not in cache",
            "value": cold["reference"] / cold["native"],
            "unit": "x",
            "note": "calls alternating",
        },
    ]


def _cli_rows(n_maps: int, size: int, repeats: int) -> list[dict]:
    if not CLI.exists():
        return [
            {
                "section": SECTION,
                "case": "stdann-pinwheels",
                "value": float("nan"),
                "unit": "s",
                "note": f"{CLI} missing: run `make cli`",
            }
        ]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for seed in range(n_maps):
            z = ring_field(size, 20.0, seed)
            np.save(folder / f"map_{seed:04d}.npy", angles_of(z).astype(np.float32))

        def cli(jobs: int) -> None:
            subprocess.run(
                [str(CLI), str(folder), "--jobs", str(jobs)],
                check=True,
                stdout=subprocess.DEVNULL,
            )

        best = _fastest({"1": lambda: cli(1), "2": lambda: cli(2)}, repeats)
    note = f"{n_maps} maps of {size}x{size} float32"
    return [
        {
            "section": SECTION,
            "case": "stdann-pinwheels folder, --jobs 1",
            "value": best["1"],
            "unit": "s",
            "note": note,
        },
        {
            "section": SECTION,
            "case": "stdann-pinwheels folder, --jobs 2",
            "value": best["2"],
            "unit": "s",
            "note": note,
        },
        {
            "section": SECTION,
            "case": "speed-up --jobs 2 / --jobs 1",
            "value": best["1"] / best["2"],
            "unit": "x",
            "note": "target >= 1.8",
        },
    ]


def run(quick: bool) -> list[dict]:
    if quick:
        return _finder_rows(512, 3) + _cli_rows(20, 128, 1)
    return _finder_rows(1024, 10) + _cli_rows(200, 256, 3)
