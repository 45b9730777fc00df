"""NumPy reference of `find_pinwheels`: vectorised winding numbers.

The production path is the native one (`stdann.analysis.find_pinwheels`);
this twin exists for parity tests and as the peer in the benches. It finds
the same plaquettes and charges, at plaquette centres (no sub-pixel zeros).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def _wrap(turns: np.ndarray) -> np.ndarray:
    """A phase difference in turns wrapped into [-1/2, 1/2]."""
    return turns - np.round(turns)


def find_pinwheels_reference(
    map: npt.ArrayLike, period: float = 360.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x, y, charge)`` of every charged plaquette, in row-major order."""
    a = np.asarray(map)
    if np.iscomplexobj(a):
        valid = np.isfinite(a.real) & np.isfinite(a.imag)
        turns = np.angle(np.where(valid, a, 0)) / (2 * np.pi)
    else:
        a = a.astype(np.float64, copy=False)
        valid = np.isfinite(a)
        turns = np.where(valid, a, 0.0) / period
    # Counter-clockwise in (x, y) = (col, row): (r, c) -> (r, c+1) -> (r+1, c+1) -> (r+1, c).
    top_left, top_right = turns[:-1, :-1], turns[:-1, 1:]
    bottom_left, bottom_right = turns[1:, :-1], turns[1:, 1:]
    steps = [
        _wrap(top_right - top_left),
        _wrap(bottom_right - top_right),
        _wrap(bottom_left - bottom_right),
        _wrap(top_left - bottom_left),
    ]
    charge = np.rint(sum(steps)).astype(np.int8)
    complete = valid[:-1, :-1] & valid[:-1, 1:] & valid[1:, :-1] & valid[1:, 1:]
    # A step of exactly half a turn has no direction: such a plaquette has no
    # defined winding (as in the native code, which works in exact fixed point).
    undefined = np.zeros_like(complete)
    for step in steps:
        undefined |= np.abs(np.abs(step) - 0.5) < 1e-12
    charge[~complete | undefined] = 0
    rows, cols = np.nonzero(charge)
    return cols + 0.5, rows + 0.5, charge[rows, cols]
