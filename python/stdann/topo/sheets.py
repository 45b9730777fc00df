"""Cortical areas, their sheets, and which block of r3d_18 plays which area.

Every number comes from the experiment config's `topography` section
(configs/paper.yaml and the configs built on it), checked by
`stdann.config.validate`, never from code: the defaults there are the
paper's, some known only second-hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stdann.config import TopographyConfig
from stdann.model.backbone import BLOCK_NAMES


@dataclass(frozen=True)
class CorticalSheet:
    """A square sheet of cortex for one area, with the width of its neighbourhoods."""

    area: str
    area_mm2: float
    neighbourhood_width_mm: float

    @property
    def side_mm(self) -> float:
        """Side of the square sheet whose area is `area_mm2`."""
        return math.sqrt(self.area_mm2)


def block_sheets(topography: TopographyConfig) -> dict[str, CorticalSheet]:
    """The sheet of each block: that of the area the config puts it in."""
    out = {}
    for block in BLOCK_NAMES:
        area = topography.blocks[block]
        spec = topography.areas[area]
        out[block] = CorticalSheet(area, spec.sheet_area_mm2, spec.neighbourhood_width_mm)
    return out


def block_alpha(topography: TopographyConfig) -> dict[str, float]:
    """The spatial loss's weight of each block: one for all, or one each (a
    block the mapping leaves out has none, alpha 0)."""
    a = topography.alpha
    if isinstance(a, dict):
        return {b: float(a.get(b, 0.0)) for b in BLOCK_NAMES}
    return dict.fromkeys(BLOCK_NAMES, float(a))
