"""Swap optimisation: native steps per second against a plain NumPy implementation.

The problem is the MT-like block for 16 x 112 x 112 clips: 50,176 units on a
50 mm^2 sheet, 2.1 mm windows (about 4,400 units each, subsampled to 500),
500 steps per window, responses to a set of 64 stimuli. Each measurement runs
in its own process so that the thread count (rayon, BLAS) can be fixed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

UNITS = 50_176
STIMULI = 64
TARGET_STEPS = 50_000_000

_SETUP = textwrap.dedent(
    f"""
    import json, math, time
    import numpy as np
    rng = np.random.default_rng(0)
    side = math.sqrt(50.0)
    coords = rng.random(({UNITS}, 2)) * side
    responses = rng.normal(size=({STIMULI}, {UNITS})).astype(np.float32)
    """
)

_NATIVE = _SETUP + textwrap.dedent(
    """
    from stdann import _native
    steps = STEPS
    _native.swap_optimize(responses, coords, side, 2.1, 5000)  # warm-up
    t = time.perf_counter()
    _, stats = _native.swap_optimize(responses, coords, side, 2.1, steps, steps_per_window=SPW, seed=1)
    dt = time.perf_counter() - t
    print(json.dumps({"steps_per_s": stats["steps_done"] / dt}))
    """
)

_NUMPY = _SETUP + textwrap.dedent(
    """
    from stdann.topo.reference import swap_window_numpy
    windows = WINDOWS
    t = time.perf_counter()
    for w in range(windows):
        x0, y0 = rng.random(2) * (side - 2.1)
        inside = np.flatnonzero((coords[:, 0] >= x0) & (coords[:, 0] < x0 + 2.1)
                                & (coords[:, 1] >= y0) & (coords[:, 1] < y0 + 2.1))
        units = rng.choice(inside, 500, replace=False)
        swap_window_numpy(responses[:, units], coords[units], 500, rng)
    dt = time.perf_counter() - t
    print(json.dumps({"steps_per_s": windows * 500 / dt}))
    """
)


def _run(code: str, threads: int | None) -> float:
    env = dict(os.environ)
    if threads is not None:
        for var in (
            "RAYON_NUM_THREADS",
            "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
            "MKL_NUM_THREADS",
        ):
            env[var] = str(threads)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])["steps_per_s"]


def run(quick: bool) -> list[dict]:
    steps = 200_000 if quick else 2_000_000
    windows = 2 if quick else 40
    # Best of several runs each: other load on the machine only slows a run down.
    repeats = 1 if quick else 3
    cores = os.cpu_count() or 1
    native = _NATIVE.replace("STEPS", str(steps))
    native_1 = max(_run(native.replace("SPW", "500"), 1) for _ in range(repeats))
    native_all = _run(native.replace("SPW", "500"), None)
    # With 5,000 steps per window the O(K^2 x stimuli) correlation matrix of a
    # window is spread over ten times as many steps: close to the cost of the
    # O(K) step itself.
    native_step = _run(native.replace("SPW", "5000"), 1)
    numpy_1 = max(_run(_NUMPY.replace("WINDOWS", str(windows)), 1) for _ in range(repeats))
    numpy_all = _run(_NUMPY.replace("WINDOWS", str(windows)), None)
    section = f"swap optimisation ({UNITS:,} units, {STIMULI} stimuli, 500-unit windows)"
    note = f"{steps:,} native steps, {windows * 500:,} NumPy steps"
    return [
        {
            "section": section,
            "case": "native, 1 thread",
            "value": native_1,
            "unit": "steps/s",
            "note": note,
        },
        {
            "section": section,
            "case": f"native, all threads ({cores})",
            "value": native_all,
            "unit": "steps/s",
            "note": note,
        },
        {
            "section": section,
            "case": "NumPy, 1 thread",
            "value": numpy_1,
            "unit": "steps/s",
            "note": "stdann.topo.reference.swap_window_numpy",
        },
        {
            "section": section,
            "case": f"NumPy, all threads ({cores})",
            "value": numpy_all,
            "unit": "steps/s",
            "note": "BLAS threads for the correlation matrix",
        },
        {
            "section": section,
            "case": "native, 1 thread, 5,000 steps/window",
            "value": native_step,
            "unit": "steps/s",
            "note": "window set-up spread over 10x the steps",
        },
        {
            "section": section,
            "case": "speed-up, 1 thread",
            "value": native_1 / numpy_1,
            "unit": "x",
            "note": "target >= 50x",
        },
        {
            "section": section,
            "case": "50M steps, native all threads",
            "value": TARGET_STEPS / native_all / 60,
            "unit": "min",
            "note": "projected; target < 10 min",
        },
        {
            "section": section,
            "case": "50M steps, NumPy 1 thread",
            "value": TARGET_STEPS / numpy_1 / 3600,
            "unit": "h",
            "note": "projected",
        },
    ]
