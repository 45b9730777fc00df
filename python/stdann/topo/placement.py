"""Retinotopic initial positions (TDANN): the block's H x W grid tiles the sheet."""

from __future__ import annotations

import numpy as np


def retinotopic_positions(
    unit_shape: tuple[int, int, int],
    sheet_side_mm: float,
    jitter: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Coordinates (units, 2) in mm, units in flattened (C, H, W) order.

    Grid cell (h, w) of the block's output covers the square
    [w, w + 1) x [h, h + 1) cells of the sheet (x along W, y along H), the
    part of the sheet its receptive field maps to; each of the C channels at
    that grid position is placed uniformly at random inside the cell, then
    moved by Gaussian jitter of `jitter` cells and kept on the sheet.
    """
    c, h, w = unit_shape
    cell = np.array([sheet_side_mm / w, sheet_side_mm / h])
    hh, ww = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    corner = np.stack([ww.ravel(), hh.ravel()], axis=1) * cell  # (H*W, 2), (x, y)
    corner = np.broadcast_to(corner, (c, h * w, 2)).reshape(-1, 2)
    inside = rng.random((c * h * w, 2)) * cell
    shake = rng.normal(0.0, jitter, (c * h * w, 2)) * cell
    return np.clip(corner + inside + shake, 0.0, sheet_side_mm)
