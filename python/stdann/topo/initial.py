"""Initial positions of every block from an experiment config."""

from __future__ import annotations

import numpy as np

from stdann.config import Config
from stdann.model.backbone import unit_shapes
from stdann.topo.neighbourhoods import sample_neighbourhoods
from stdann.topo.placement import retinotopic_positions
from stdann.topo.positions import BlockPositions
from stdann.topo.sheets import block_sheets


def initial_positions(config: Config, seed: int | None = None) -> dict[str, BlockPositions]:
    """Retinotopic positions and precomputed neighbourhoods for the eight blocks,
    for the config's clip and network width (its seed, unless `seed` is given)."""
    topo = config.topography
    rng = np.random.default_rng(config.seed if seed is None else seed)
    sheets = block_sheets(topo)
    d = config.data
    out = {}
    for block, shape in unit_shapes(d.frames, d.size, d.size, channels=config.model.width).items():
        sheet = sheets[block]
        coords = retinotopic_positions(shape, sheet.side_mm, topo.placement.jitter, rng)
        neighbourhoods = sample_neighbourhoods(
            coords,
            sheet.side_mm,
            sheet.neighbourhood_width_mm,
            topo.neighbourhoods.per_block,
            topo.neighbourhoods.max_units,
            topo.neighbourhoods.min_fill,
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
