"""Swap optimisation of unit positions: known answers, permutations, bad input, the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from stdann import _native
from stdann.cli import main as stdann_main
from stdann.topo import (
    BlockPositions,
    PositionsMismatchError,
    ResponsesError,
    spatial_loss_rel,
    swap_optimize,
)
from stdann.topo.reference import swap_window_numpy, window_objective

SIDE = 8.0
WIDTH = 2.0
SHAPE = (4, 16, 16)  # 1024 units


def smooth_map_case(seed: int = 0) -> tuple[np.ndarray, BlockPositions, np.ndarray]:
    """Units at random places whose responses come from a smooth direction map.

    Returns responses (stimuli, units) arranged truly, positions whose
    coordinates are those of the true arrangement but with the units shuffled,
    and the shuffle (true position of each unit).
    """
    rng = np.random.default_rng(seed)
    n = int(np.prod(SHAPE))
    coords = rng.random((n, 2)) * SIDE
    preferred = 2 * np.pi * (coords[:, 0] + 0.5 * coords[:, 1]) / SIDE
    directions = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    true_responses = np.exp(2.0 * np.cos(directions[:, None] - preferred[None, :]))
    windows = []
    for _ in range(60):
        x0, y0 = rng.random(2) * (SIDE - WIDTH)
        inside = np.flatnonzero(
            (coords[:, 0] >= x0)
            & (coords[:, 0] < x0 + WIDTH)
            & (coords[:, 1] >= y0)
            & (coords[:, 1] < y0 + WIDTH)
        )
        windows.append(rng.choice(inside, 40, replace=False))
    perm = rng.permutation(n)
    # Unit u of the shuffled problem responds like true unit perm[u] but sits at position u.
    positions = BlockPositions("layer3.1", "MT", SHAPE, coords, np.array(windows), SIDE, WIDTH)
    return true_responses[:, perm].astype(np.float32), positions, true_responses


def sheet_cost(responses: np.ndarray, positions: BlockPositions) -> float:
    """Mean SL_rel over the positions' neighbourhoods, stimuli as the batch."""
    x = torch.tensor(responses[:, positions.neighbourhoods].transpose(1, 0, 2), dtype=torch.float64)
    c = torch.tensor(positions.coordinates[positions.neighbourhoods])
    return spatial_loss_rel(x, c).mean().item()


def test_shuffled_smooth_map_is_restored_close_to_the_true_arrangement():
    responses, positions, true_responses = smooth_map_case()
    true_cost = sheet_cost(true_responses, positions)
    start_cost = sheet_cost(responses, positions)
    optimised, stats = swap_optimize(
        responses, positions, steps=600_000, steps_per_window=500, seed=1
    )
    end_cost = sheet_cost(responses, optimised)
    assert stats["steps_done"] == 600_000 and stats["swaps_accepted"] > 0
    # The bound: the optimised arrangement closes at least 85% of the gap between
    # the shuffled and the true arrangement's spatial cost (measured: true 0.196,
    # shuffled 0.500, optimised 0.208, 96% closed).
    assert end_cost < start_cost
    assert end_cost - true_cost < 0.15 * (start_cost - true_cost), (true_cost, start_cost, end_cost)


def test_only_permutes_and_is_deterministic_for_a_seed():
    responses, positions, _ = smooth_map_case(1)
    a, _ = swap_optimize(responses, positions, steps=20_000, seed=5)
    b, _ = swap_optimize(responses, positions, steps=20_000, seed=5)
    c, _ = swap_optimize(responses, positions, steps=20_000, seed=6)
    np.testing.assert_array_equal(a.coordinates, b.coordinates)
    assert not np.array_equal(a.coordinates, c.coordinates)
    # The same set of positions, each used once.
    order = np.lexsort(positions.coordinates.T)
    np.testing.assert_array_equal(
        a.coordinates[np.lexsort(a.coordinates.T)], positions.coordinates[order]
    )
    # Neighbourhoods still name the units inside the same windows.
    np.testing.assert_array_equal(
        a.coordinates[a.neighbourhoods], positions.coordinates[positions.neighbourhoods]
    )


def test_never_raises_the_cost():
    responses, positions, _ = smooth_map_case(2)
    cost = sheet_cost(responses, positions)
    current = positions
    for seed in range(4):
        current, _ = swap_optimize(responses, current, steps=5_000, seed=seed)
        new_cost = sheet_cost(responses, current)
        assert new_cost <= cost + 1e-9
        cost = new_cost


def test_numpy_step_gain_equals_the_change_of_the_objective():
    rng = np.random.default_rng(3)
    k = 25
    responses = rng.normal(size=(20, k))
    coords = rng.random((k, 2)) * 2
    unit_at, gain = swap_window_numpy(responses, coords, 400, rng)
    r = np.corrcoef(responses, rowvar=False)
    d = 1.0 / (np.hypot(*(coords[:, None] - coords[None]).transpose(2, 0, 1)) + 1.0)
    before = window_objective(r, d, np.arange(k))
    after = window_objective(r, d, unit_at)
    assert gain > 0
    assert after - before == pytest.approx(gain, rel=1e-9)
    # Raising the objective lowers SL_rel of the window (pearson moves only through it).
    x = torch.tensor(responses)
    c = torch.tensor(coords)
    moved = torch.tensor(coords[np.argsort(unit_at)])
    assert spatial_loss_rel(x, moved).item() < spatial_loss_rel(x, c).item()


def cluster_case() -> tuple[np.ndarray, np.ndarray, float]:
    """60 units in a 3 mm cluster in the middle of a 40 mm sheet: responses, positions, side."""
    rng = np.random.default_rng(8)
    k, side = 60, 40.0
    responses = rng.normal(size=(24, k)).astype(np.float32)
    coords = side / 2 + rng.random((k, 2)) * 3.0
    return responses, coords, side


def run_cluster_case(seed: int) -> tuple[np.ndarray, dict]:
    # The one window is the whole sheet; min_fill = 1 skips any window the
    # grid offset cuts through the cluster, so every window that runs holds
    # all the units.
    responses, coords, side = cluster_case()
    return _native.swap_optimize(
        responses, coords, side, side, 2000, steps_per_window=200, min_fill=1.0, seed=seed
    )


def check_gain_against_numpy(slot_of_unit: np.ndarray, stats: dict) -> None:
    """The gain the native code sums over its windows is the change of G over
    the whole arrangement, which the NumPy twin computes in float64."""
    responses, coords, _ = cluster_case()
    k = responses.shape[1]
    r = np.corrcoef(responses.astype(np.float64), rowvar=False)
    d = 1.0 / (np.hypot(*(coords[:, None] - coords[None]).transpose(2, 0, 1)) + 1.0)
    assert stats["windows"] == 10 and stats["swaps_accepted"] > 0
    unit_at = np.argsort(slot_of_unit)
    change = window_objective(r, d, unit_at) - window_objective(r, d, np.arange(k))
    assert stats["total_gain"] > 0
    # The native code correlates and sums in float32: agreement to 1e-6.
    assert stats["total_gain"] == pytest.approx(change, rel=1e-6)


def test_native_total_gain_equals_the_numpy_objective_change():
    for seed in range(3):
        check_gain_against_numpy(*run_cluster_case(seed))


@pytest.mark.parametrize("isa", ["portable", "avx2", "avx512"])
def test_every_kernel_set_reports_the_gain_numpy_computes(isa):
    # STDANN_ISA is read once per process: each kernel set runs in its own.
    import json
    import os
    import subprocess
    import sys

    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); "
        "from test_swap import run_cluster_case; "
        "slots, stats = run_cluster_case(1); "
        "print(json.dumps([slots.tolist(), stats]))"
    )
    env = {**os.environ, "STDANN_ISA": isa}
    tests_dir = str(Path(__file__).parent)
    done = subprocess.run(
        [sys.executable, "-c", script, tests_dir],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    if "cannot run" in done.stderr:
        pytest.skip(f"this processor cannot run the {isa} kernels: {done.stderr.strip()}")
    assert "STDANN_ISA" not in done.stderr, done.stderr
    slots, stats = json.loads(done.stdout)
    check_gain_against_numpy(np.array(slots), stats)


def test_progress_callback_sees_every_step():
    responses, positions, _ = smooth_map_case(4)
    seen = []
    swap_optimize(responses, positions, steps=10_000, progress=lambda d, t, a: seen.append((d, t)))
    assert seen and seen[-1] == (10_000, 10_000)
    assert all(d <= t for d, t in seen)


def test_an_error_in_the_callback_stops_the_run_and_propagates():
    responses, positions, _ = smooth_map_case(4)

    def stop(done, _total, _accepted):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        swap_optimize(responses, positions, steps=1_000_000, progress=stop)


def test_bad_input_is_named():
    responses, positions, _ = smooth_map_case(5)
    with pytest.raises(PositionsMismatchError, match=r"R\.npy: responses are for 1023 units.*1024"):
        swap_optimize(responses[:, :-1], positions, steps=10, source="R.npy")
    nan = responses.copy()
    nan[3, 17] = np.nan
    with pytest.raises(ResponsesError, match=r"R\.npy \(layer3\.1\).*unit 17 to stimulus 3 is NaN"):
        swap_optimize(nan, positions, steps=10, source="R.npy")
    flat = responses.copy()
    flat[:, 9] = 1.0
    with pytest.raises(ResponsesError, match=r"1 units respond identically.*unit 9"):
        swap_optimize(flat, positions, steps=10)
    swap_optimize(flat, positions, steps=1000, allow_constant_units=True)
    with pytest.raises(_native.SwapError, match=r"width 9 mm does not fit on a sheet of side 8 mm"):
        _native.swap_optimize(responses, positions.coordinates, SIDE, 9.0, 10)
    with pytest.raises(ResponsesError, match="stimuli, units"):
        swap_optimize(responses[0], positions, steps=10)


def test_cli_optimize_writes_optimised_positions(tmp_path, capsys):
    responses, positions, _ = smooth_map_case(6)
    src = tmp_path / "init"
    positions.save(src / "layer3.1.npz")
    np.save(tmp_path / "R.npy", responses)
    args = [
        "positions",
        "optimize",
        "--responses",
        str(tmp_path / "R.npy"),
        "--positions",
        str(src),
    ]
    out = tmp_path / "opt"
    assert stdann_main([*args, "--out", str(out), "--block", "layer3.1", "--steps", "20000"]) == 0
    optimised = BlockPositions.load(out / "layer3.1.npz")
    assert sheet_cost(responses, optimised) < sheet_cost(responses, positions)
    capsys.readouterr()
    assert stdann_main([*args, "--out", str(out)]) == 2
    assert "--block" in capsys.readouterr().err
    np.save(tmp_path / "R.npy", responses[:, :100])
    assert stdann_main([*args, "--out", str(out), "--block", "layer3.1", "--steps", "10"]) == 2
    assert "R.npy" in capsys.readouterr().err


def test_ctrl_c_stops_a_long_run_cleanly():
    import os
    import signal
    import threading
    import time

    responses, positions, _ = smooth_map_case(7)
    # A job a shell starts in the background inherits SIGINT ignored, and
    # Python keeps it so: Ctrl-C at a terminal is what this test plays.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    start = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            swap_optimize(responses, positions, steps=10**10)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert time.perf_counter() - start < 10
