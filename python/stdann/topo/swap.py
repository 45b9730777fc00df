"""Swap optimisation of a block's unit positions on responses to a stimulus set.

The work runs in Rust (stdann-cortex): inside random windows of the
neighbourhood width, pairs of units trade places when that lowers the window's
spatial cost SL_rel (TDANN's pre-optimisation of positions).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from stdann import _native
from stdann.config import Config
from stdann.topo.errors import PositionsMismatchError, ResponsesError
from stdann.topo.positions import BlockPositions

ProgressCallback = Callable[[int, int, int], None]


def _as_unit_matrix(responses: np.ndarray, positions: BlockPositions, source: str) -> np.ndarray:
    x = np.asarray(responses)
    if x.ndim == 4 and tuple(x.shape[1:]) == positions.unit_shape:
        x = x.reshape(x.shape[0], -1)
    if x.ndim != 2:
        raise ResponsesError(
            f"{source}: responses must be (stimuli, units) or (stimuli, C, H, W), got shape {x.shape}"
        )
    if x.shape[1] != positions.n_units:
        raise PositionsMismatchError(
            f"{source}: responses are for {x.shape[1]} units but the positions of "
            f"{positions.block} hold {positions.n_units} units {positions.unit_shape}"
        )
    if not np.issubdtype(x.dtype, np.number):
        raise ResponsesError(f"{source}: responses must be numbers, got {x.dtype}")
    return np.ascontiguousarray(x, dtype=np.float32)


def swap_settings(config: Config) -> dict[str, Any]:
    """The swap settings of an experiment config, as `swap_optimize` takes them:
    `topography.swap`, the windows' size cap `topography.neighbourhoods.max_units`
    (TDANN's value for both) and the seed."""
    swap = config.topography.swap
    return {
        "steps": swap.steps,
        "steps_per_window": swap.steps_per_window,
        "min_fill": swap.min_fill,
        "max_units": config.topography.neighbourhoods.max_units,
        "seed": config.seed,
    }


def swap_optimize(
    responses: np.ndarray,
    positions: BlockPositions,
    *,
    steps: int | None = None,
    steps_per_window: int | None = None,
    max_units: int | None = None,
    min_fill: float | None = None,
    seed: int | None = None,
    allow_constant_units: bool = False,
    progress: bool | ProgressCallback = False,
    source: str = "responses",
) -> tuple[BlockPositions, dict[str, float]]:
    """New positions for `positions.block` after `steps` proposed swaps.

    `responses` are (stimuli, units) in the block's (C, H, W) unit order. A
    setting left out (None) is the Rust core's (TDANN's values); stdann's
    commands pass the config's `topography.swap`.
    Returns the permuted positions (neighbourhoods remapped with them) and the
    run's statistics (steps_done, swaps_accepted, windows, total_gain).
    `progress=True` shows a progress bar; a callable gets
    (steps_done, steps_total, swaps_accepted). Ctrl-C stops the run cleanly
    and raises KeyboardInterrupt. `source` names the responses in errors.
    """
    x = _as_unit_matrix(responses, positions, source)
    bar = None
    callback: ProgressCallback | None
    if progress is True:
        from tqdm import tqdm

        bar = tqdm(unit="step", unit_scale=True, desc=f"swap {positions.block}")

        def callback(done: int, total: int, _accepted: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

    else:
        callback = progress or None
    try:
        slot_of_unit, stats = _native.swap_optimize(
            x,
            np.ascontiguousarray(positions.coordinates, dtype=np.float64),
            positions.sheet_side_mm,
            positions.neighbourhood_width_mm,
            steps,
            steps_per_window=steps_per_window,
            max_units=max_units,
            min_fill=min_fill,
            seed=seed,
            allow_constant_units=allow_constant_units,
            progress=callback,
            # About a hundred reports a run, at most every 100k steps (and the last).
            progress_every=100_000 if steps is None else max(1, min(steps // 100, 100_000)),
        )
    except _native.SwapError as err:
        raise ResponsesError(f"{source} ({positions.block}): {err}") from None
    finally:
        if bar is not None:
            bar.close()
    return positions.permuted(slot_of_unit), stats
