"""Cortical sheets, unit positions, neighbourhoods, the spatial loss and swap optimisation."""

from stdann.topo.errors import (
    PositionsFileError,
    PositionsMismatchError,
    ResponsesError,
    TopographyError,
)
from stdann.topo.initial import initial_positions
from stdann.topo.neighbourhoods import neighbourhood_size, sample_neighbourhoods
from stdann.topo.placement import retinotopic_positions
from stdann.topo.positions import (
    FORMAT_VERSION,
    BlockPositions,
    load_positions,
    positions_path,
    save_positions,
)
from stdann.topo.sheets import CorticalSheet, block_alpha, block_sheets
from stdann.topo.spatial_loss import (
    SpatialLoss,
    proximity,
    spatial_loss_abs,
    spatial_loss_rel,
    unit_correlations,
)
from stdann.topo.swap import swap_optimize, swap_settings

__all__ = [
    "FORMAT_VERSION",
    "BlockPositions",
    "CorticalSheet",
    "PositionsFileError",
    "PositionsMismatchError",
    "ResponsesError",
    "SpatialLoss",
    "TopographyError",
    "block_alpha",
    "block_sheets",
    "initial_positions",
    "load_positions",
    "neighbourhood_size",
    "positions_path",
    "proximity",
    "retinotopic_positions",
    "sample_neighbourhoods",
    "save_positions",
    "spatial_loss_abs",
    "spatial_loss_rel",
    "swap_optimize",
    "swap_settings",
    "unit_correlations",
]
