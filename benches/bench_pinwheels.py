"""Pinwheel finding: the native winding numbers against the NumPy reference, and
the batch CLI `stdann-pinwheels` with one and two jobs.

Targets (issue 3): native at least 20x the NumPy reference on a 1024 x 1024
map, single-threaded; the CLI at least 1.8x faster with 2 jobs than with 1 on
a folder of 200 maps. Maps are ring-spectrum random fields (Lambda 20 px),
pinwheel-rich like trained direction maps (--bench-quick: 512 x 512, and 20
maps of 128 x 128).

Group `pinwheels-finder`: each finder is timed per call over 50 consecutive
calls after one warm-up call (its steady state, the map in cache); the peer is
`find_pinwheels_reference`. A 1024 x 1024 float64 map is 8 MB, so the native
finder is bound by reading it when it is not in cache: a third case times it
right after an (untimed) reference call, which evicts it. The outputs of the
two finders are checked equal before timing.

Group `pinwheels-cli`: one run of `stdann-pinwheels FOLDER --jobs N` per round,
3 rounds; the peer is `--jobs 1`. Needs `make cli`; skips without it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import record
from stdann.analysis import find_pinwheels
from stdann.analysis.pinwheels_reference import find_pinwheels_reference
from stdann.analysis.synthetic_maps import angles_of, ring_field

CLI = Path(sys.executable).parent / "stdann-pinwheels"


@pytest.fixture(scope="module")
def angles(quick):
    size = 512 if quick else 1024
    angles = angles_of(ring_field(size, 20.0, 0))
    native = find_pinwheels(angles)
    reference = find_pinwheels_reference(angles)
    assert all(np.array_equal(a, b) for a, b in zip(native, reference, strict=True))
    return angles


def _case(angles, what):
    n = angles.shape[0]
    return f"{what}, {n}x{n} float64"


@pytest.mark.benchmark(group="pinwheels-finder")
def test_finder_native(benchmark, angles, quick):
    """Timed: one `find_pinwheels` call, map in cache; 50 calls (15 with --bench-quick)."""
    benchmark.pedantic(find_pinwheels, args=(angles,), rounds=15 if quick else 50, warmup_rounds=1)
    record(benchmark, _case(angles, "native, 1 thread"), "stdann")


@pytest.mark.benchmark(group="pinwheels-finder")
def test_finder_reference(benchmark, angles, quick):
    """Timed: one `find_pinwheels_reference` call (NumPy); 50 calls (15 with --bench-quick)."""
    benchmark.pedantic(
        find_pinwheels_reference, args=(angles,), rounds=15 if quick else 50, warmup_rounds=1
    )
    record(benchmark, _case(angles, "NumPy reference"), "peer")


@pytest.mark.benchmark(group="pinwheels-finder")
def test_finder_native_cold(benchmark, angles, quick):
    """Timed: one `find_pinwheels` call right after an untimed reference call (map not in
    cache); 10 rounds (3 with --bench-quick)."""

    def evict() -> None:
        find_pinwheels_reference(angles)

    benchmark.pedantic(find_pinwheels, args=(angles,), setup=evict, rounds=3 if quick else 10)
    record(benchmark, _case(angles, "native, map not in cache"), "other")


@pytest.fixture(scope="module")
def map_folder(tmp_path_factory, quick):
    n_maps, size = (20, 128) if quick else (200, 256)
    folder = tmp_path_factory.mktemp("maps")
    for seed in range(n_maps):
        z = ring_field(size, 20.0, seed)
        np.save(folder / f"map_{seed:04d}.npy", angles_of(z).astype(np.float32))
    return folder, f"{n_maps} maps of {size}x{size} float32"


@pytest.mark.benchmark(group="pinwheels-cli")
@pytest.mark.parametrize("jobs", [2, 1])
def test_cli(benchmark, map_folder, jobs, quick):
    """Timed: one run of `stdann-pinwheels FOLDER --jobs N` (process start included)."""
    if not CLI.exists():
        pytest.skip("stdann-pinwheels is not installed in the environment: run `make cli`")
    folder, what = map_folder
    command = [str(CLI), str(folder), "--jobs", str(jobs)]
    benchmark.pedantic(
        subprocess.run,
        args=(command,),
        kwargs=dict(check=True, stdout=subprocess.DEVNULL),
        rounds=1 if quick else 3,
    )
    role = "stdann" if jobs == 2 else "peer"
    record(benchmark, f"stdann-pinwheels --jobs {jobs}", role, note=what)
