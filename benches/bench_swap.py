"""Swap optimisation: native steps per second against a plain NumPy implementation.

The problem is the MT-like block for 16 x 112 x 112 clips: 50,176 units on a
50 mm^2 sheet, 2.1 mm windows (about 4,400 units each, subsampled to 500),
500 steps per window, responses to a set of 64 stimuli. The peer is
`stdann.topo.reference.swap_window_numpy`, the same step written plainly in
NumPy (correlation matrix by BLAS, one step per Python iteration).

Each case runs in a worker process of its own, so that the thread count
(rayon, BLAS) can be fixed; the worker builds the problem (and, native, runs a
5,000-step warm-up) before any timing. Timed: one call of the optimiser
(2,000,000 native steps, or 40 NumPy windows of 500 steps), asked for over a
pipe (the round trip costs microseconds against seconds); 3 rounds each (1
with --bench-quick, with 200,000 steps and 2 windows). Group `swap`, per step.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import record

UNITS = 50_176
STIMULI = 64
CORES = os.cpu_count() or 1

_WORKER = textwrap.dedent(
    f"""
    import math, sys
    import numpy as np
    rng = np.random.default_rng(0)
    side = math.sqrt(50.0)
    coords = rng.random(({UNITS}, 2)) * side
    responses = rng.normal(size=({STIMULI}, {UNITS})).astype(np.float32)
    kind, steps, spw = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if kind == "native":
        from stdann import _native
        _native.swap_optimize(responses, coords, side, 2.1, 5000)  # warm-up

        def once():
            _, stats = _native.swap_optimize(
                responses, coords, side, 2.1, steps, steps_per_window=spw, seed=1
            )
            return stats["steps_done"]
    else:
        from stdann.topo.reference import swap_window_numpy

        def once():
            for _ in range(steps // 500):
                x0, y0 = rng.random(2) * (side - 2.1)
                inside = np.flatnonzero((coords[:, 0] >= x0) & (coords[:, 0] < x0 + 2.1)
                                        & (coords[:, 1] >= y0) & (coords[:, 1] < y0 + 2.1))
                units = rng.choice(inside, 500, replace=False)
                swap_window_numpy(responses[:, units], coords[units], 500, rng)
            return steps // 500 * 500
    print("ready", flush=True)
    for _ in sys.stdin:
        print(once(), flush=True)
    """
)


class Worker:
    """A process that holds the problem and runs the optimiser once per request."""

    def __init__(self, kind: str, steps: int, steps_per_window: int, threads: int | None):
        env = dict(os.environ)
        if threads is not None:
            for var in ("RAYON_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
                env[var] = str(threads)
            env["MKL_NUM_THREADS"] = str(threads)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER, kind, str(steps), str(steps_per_window)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout.readline().strip() == "ready", "swap bench worker failed"
        self.steps = 0

    def __call__(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        self.steps = int(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()
        self.proc.stdout.close()


CASES = {
    # id: (case, role, kind, steps per window, threads)
    "native-1": ("native, 1 thread", "stdann", "native", 500, 1),
    "native-all": (f"native, all threads ({CORES})", "stdann", "native", 500, None),
    # With 5,000 steps per window the O(K^2 x stimuli) correlation matrix of a
    # window is spread over ten times as many steps: close to the cost of the
    # O(K) step itself.
    "native-1-spw5000": ("native, 1 thread, 5,000 steps/window", "other", "native", 5000, 1),
    "numpy-1": ("NumPy, 1 thread", "peer", "numpy", 500, 1),
    "numpy-all": (f"NumPy, all threads ({CORES}, BLAS)", "other", "numpy", 500, None),
}


@pytest.mark.benchmark(group="swap")
@pytest.mark.parametrize("case_id", list(CASES))
def test_swap(benchmark, case_id, quick):
    """Timed: one optimiser call in the worker (see the module's docstring)."""
    case, role, kind, spw, threads = CASES[case_id]
    if kind == "native":
        steps = 200_000 if quick else 2_000_000
    else:
        steps = (2 if quick else 40) * 500
    worker = Worker(kind, steps, spw, threads)
    try:
        benchmark.pedantic(worker, rounds=1 if quick else 3)
    finally:
        worker.close()
    record(benchmark, case, role, worker.steps, "step")
