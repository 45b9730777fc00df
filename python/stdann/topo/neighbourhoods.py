"""Precomputed neighbourhoods: random square windows on the sheet (TDANN).

The spatial loss compares units that share a window; sampling windows once and
storing them as a fixed-shape index array keeps every training step cheap and
its tensors the same shape.
"""

from __future__ import annotations

import numpy as np

from stdann.topo.errors import PositionsMismatchError


def neighbourhood_size(
    n_units: int, sheet_side_mm: float, width_mm: float, max_units: int, min_fill: float
) -> int:
    """Units per stored window: min(max_units, min_fill x the mean count of a window)."""
    expected = n_units * (width_mm / sheet_side_mm) ** 2
    return int(min(max_units, np.floor(min_fill * expected)))


def sample_neighbourhoods(
    coordinates: np.ndarray,
    sheet_side_mm: float,
    width_mm: float,
    count: int,
    max_units: int,
    min_fill: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """(count, k) int32 unit indices: `count` windows of side `width_mm`.

    Windows lie wholly on the sheet, at uniformly random places. A window with
    fewer than k units (k from `neighbourhood_size`) is dropped; the others are
    subsampled to exactly k units without replacement.
    """
    if width_mm > sheet_side_mm:
        raise PositionsMismatchError(
            f"neighbourhood width {width_mm} mm is larger than the sheet side {sheet_side_mm:.4g} mm"
        )
    n = len(coordinates)
    k = neighbourhood_size(n, sheet_side_mm, width_mm, max_units, min_fill)
    if k < 3:
        raise PositionsMismatchError(
            f"a {width_mm} mm window holds about {n * (width_mm / sheet_side_mm) ** 2:.1f} of "
            f"{n} units: too few to correlate; widen the neighbourhood"
        )
    # Units sorted by x so that a window's candidates are one contiguous slice.
    order = np.argsort(coordinates[:, 0], kind="stable")
    xs = coordinates[order, 0]
    ys = coordinates[order, 1]
    out = np.empty((count, k), dtype=np.int32)
    kept = 0
    attempts = 0
    while kept < count:
        attempts += 1
        if attempts > 20 * count + 100:
            raise PositionsMismatchError(
                f"only {kept} of {count} windows of {width_mm} mm held {k} units; "
                "lower neighbourhoods.min_fill or widen the neighbourhood"
            )
        x0, y0 = rng.random(2) * (sheet_side_mm - width_mm)
        lo, hi = np.searchsorted(xs, [x0, x0 + width_mm])
        inside = order[lo:hi][(ys[lo:hi] >= y0) & (ys[lo:hi] < y0 + width_mm)]
        if len(inside) < k:
            continue
        out[kept] = rng.choice(inside, size=k, replace=False)
        kept += 1
    return out
