"""NumPy twins of the spatial loss and of one swap step: plain, slow, obviously right.

They are the references that tests compare the torch loss and the native swap
optimisation against, and the peer in the benches.
"""

from __future__ import annotations

import numpy as np

CONSTANT_TOLERANCE = 1e-5


def _varying(responses: np.ndarray) -> np.ndarray:
    std = responses.std(axis=0)
    return std > CONSTANT_TOLERANCE * np.abs(responses).mean(axis=0)


def spatial_loss_rel_numpy(responses: np.ndarray, coordinates: np.ndarray) -> float:
    """SL_rel = (1 - pearson(r_ij, 1 / (d_ij + 1))) / 2 over pairs i > j of varying units.

    responses: (batch, K); coordinates: (K, 2) in mm.
    """
    r, d = _pairs(responses, coordinates)
    if len(r) < 3 or r.std() == 0 or d.std() == 0:
        return 0.5
    return float((1.0 - np.corrcoef(r, d)[0, 1]) / 2.0)


def spatial_loss_abs_numpy(responses: np.ndarray, coordinates: np.ndarray) -> float:
    """SL_abs = mean |r_ij - D_ij| over pairs i > j of varying units."""
    r, d = _pairs(responses, coordinates)
    return float(np.abs(r - d).mean()) if len(r) else 0.0


def _pairs(responses: np.ndarray, coordinates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(responses, dtype=np.float64)
    c = np.asarray(coordinates, dtype=np.float64)
    keep = _varying(x)
    rs, ds = [], []
    for i in range(x.shape[1]):
        for j in range(i):
            if keep[i] and keep[j]:
                rs.append(np.corrcoef(x[:, i], x[:, j])[0, 1])
                ds.append(1.0 / (np.hypot(*(c[i] - c[j])) + 1.0))
    return np.array(rs), np.array(ds)


def window_objective(r: np.ndarray, d: np.ndarray, unit_at: np.ndarray) -> float:
    """G = sum_{i<j} r[unit_at[i], unit_at[j]] D_ij: raising it lowers the window's SL_rel.

    A swap permutes which unit is at which slot, leaving the sums and sums of
    squares of the r and D values over pairs unchanged, so pearson(r, D) moves
    only through this cross term.
    """
    rp = r[np.ix_(unit_at, unit_at)]
    return float(np.tril(rp * d, -1).sum())


def swap_window_numpy(
    responses: np.ndarray,
    coordinates: np.ndarray,
    steps: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, float]:
    """Swap optimisation of one window, step by step in NumPy (the native code's peer).

    responses: (stimuli, K) of the window's units; coordinates: (K, 2) of its
    positions. Returns unit_at (the unit now at each position) and the rise of G.
    """
    k = responses.shape[1]
    r = np.corrcoef(responses, rowvar=False)
    d = 1.0 / (
        np.hypot(*(coordinates[:, None, :] - coordinates[None, :, :]).transpose(2, 0, 1)) + 1.0
    )
    unit_at = np.arange(k)
    gain = 0.0
    for _ in range(steps):
        # Two distinct positions, drawn as the native code draws them.
        a = int(rng.integers(k))
        b = int(rng.integers(k - 1))
        b += b >= a
        u, v = unit_at[a], unit_at[b]
        others = np.ones(k, dtype=bool)
        others[[a, b]] = False
        rest = unit_at[others]
        delta = np.dot(r[u, rest] - r[v, rest], d[b, others] - d[a, others])
        if delta > 1e-6:
            unit_at[a], unit_at[b] = v, u
            gain += delta
    return unit_at, gain
