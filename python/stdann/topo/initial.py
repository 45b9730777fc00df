"""Initial positions of every block from a topography config."""

from __future__ import annotations

import numpy as np

from stdann.model.backbone import unit_shapes
from stdann.topo.neighbourhoods import sample_neighbourhoods
from stdann.topo.placement import retinotopic_positions
from stdann.topo.positions import BlockPositions
from stdann.topo.sheets import TopographyConfig


def initial_positions(
    config: TopographyConfig, seed: int | None = None
) -> dict[str, BlockPositions]:
    """Retinotopic positions and precomputed neighbourhoods for the eight blocks."""
    rng = np.random.default_rng(config.seed if seed is None else seed)
    out = {}
    for block, shape in unit_shapes(*config.clip, channels=config.width).items():
        sheet = config.sheets[block]
        coords = retinotopic_positions(shape, sheet.side_mm, config.jitter, rng)
        neighbourhoods = sample_neighbourhoods(
            coords,
            sheet.side_mm,
            sheet.neighbourhood_width_mm,
            config.neighbourhoods_per_block,
            config.max_units,
            config.min_fill,
            rng,
        )
        out[block] = BlockPositions(
            block=block,
            area=sheet.area,
            unit_shape=shape,
            coordinates=coords,
            neighbourhoods=neighbourhoods,
            sheet_side_mm=sheet.side_mm,
            neighbourhood_width_mm=sheet.neighbourhood_width_mm,
        )
    return out
