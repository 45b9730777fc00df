"""Cortical areas, their sheets, and which block of r3d_18 plays which area.

Every number comes from the experiment config's `topography` section
(configs/paper.yaml and the configs built on it), never from code: the
defaults there are the paper's, some known only second-hand.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stdann.config import Config, ConfigError, load_config
from stdann.model.backbone import BLOCK_NAMES
from stdann.topo.errors import SheetConfigError


@dataclass(frozen=True)
class CorticalSheet:
    """A square sheet of cortex for one area, with the width of its neighbourhoods."""

    area: str
    area_mm2: float
    neighbourhood_width_mm: float

    def __post_init__(self) -> None:
        if not (self.area_mm2 > 0 and math.isfinite(self.area_mm2)):
            raise SheetConfigError(f"area {self.area!r}: sheet area must be > 0 mm^2")
        if not (self.neighbourhood_width_mm > 0 and math.isfinite(self.neighbourhood_width_mm)):
            raise SheetConfigError(f"area {self.area!r}: neighbourhood width must be > 0 mm")
        if self.neighbourhood_width_mm > self.side_mm:
            raise SheetConfigError(
                f"area {self.area!r}: neighbourhood width {self.neighbourhood_width_mm} mm is "
                f"larger than the sheet side {self.side_mm:.3g} mm"
            )

    @property
    def side_mm(self) -> float:
        """Side of the square sheet whose area is `area_mm2`."""
        return math.sqrt(self.area_mm2)


@dataclass(frozen=True)
class TopographyConfig:
    """Sheets per block, spatial-loss weights and the sampling settings."""

    sheets: dict[str, CorticalSheet]
    alpha: dict[str, float]
    loss: str
    neighbourhoods_per_step: int
    neighbourhoods_per_block: int
    max_units: int
    min_fill: float
    jitter: float
    clip: tuple[int, int, int]
    swap_steps: int
    swap_steps_per_window: int
    seed: int
    source: str = "<dict>"
    #: Channels of layer1 (64 for r3d_18): with `clip`, it fixes each block's unit count.
    width: int = 64


def _need(d: dict[str, Any], key: str, where: str) -> Any:
    if key not in d:
        raise SheetConfigError(f"{where}: missing {key!r}")
    return d[key]


def topography_config_from_dict(data: dict[str, Any], source: str = "<dict>") -> TopographyConfig:
    """Build and check a TopographyConfig from parsed YAML."""
    if not isinstance(data, dict):
        raise SheetConfigError(f"{source}: expected a mapping at the top level")
    areas = _need(data, "areas", source)
    blocks = _need(data, "blocks", source)
    sheets = {}
    for block in BLOCK_NAMES:
        area = _need(blocks, block, f"{source}: blocks")
        spec = _need(areas, area, f"{source}: areas")
        try:
            sheets[block] = CorticalSheet(
                area=area,
                area_mm2=float(_need(spec, "sheet_area_mm2", f"{source}: areas.{area}")),
                neighbourhood_width_mm=float(
                    _need(spec, "neighbourhood_width_mm", f"{source}: areas.{area}")
                ),
            )
        except SheetConfigError as err:
            raise SheetConfigError(f"{source}: {err}") from None
    unknown = set(blocks) - set(BLOCK_NAMES)
    if unknown:
        raise SheetConfigError(f"{source}: unknown blocks {sorted(unknown)}; known: {BLOCK_NAMES}")
    alpha_spec = _need(data, "alpha", source)
    if isinstance(alpha_spec, dict):
        alpha = {b: float(_need(alpha_spec, b, f"{source}: alpha")) for b in BLOCK_NAMES}
    else:
        alpha = dict.fromkeys(BLOCK_NAMES, float(alpha_spec))
    if any(a < 0 or not math.isfinite(a) for a in alpha.values()):
        raise SheetConfigError(f"{source}: alpha must be finite and >= 0, got {alpha}")
    loss = _need(data, "spatial_loss", source)
    nb = _need(data, "neighbourhoods", source)
    placement = _need(data, "placement", source)
    swap = _need(data, "swap", source)
    clip = _need(data, "clip", source)
    cfg = TopographyConfig(
        sheets=sheets,
        alpha=alpha,
        loss=str(_need(loss, "kind", f"{source}: spatial_loss")),
        neighbourhoods_per_step=int(
            _need(loss, "neighbourhoods_per_step", f"{source}: spatial_loss")
        ),
        neighbourhoods_per_block=int(_need(nb, "per_block", f"{source}: neighbourhoods")),
        max_units=int(_need(nb, "max_units", f"{source}: neighbourhoods")),
        min_fill=float(_need(nb, "min_fill", f"{source}: neighbourhoods")),
        jitter=float(_need(placement, "jitter", f"{source}: placement")),
        clip=(
            int(_need(clip, "frames", f"{source}: clip")),
            int(_need(clip, "height", f"{source}: clip")),
            int(_need(clip, "width", f"{source}: clip")),
        ),
        swap_steps=int(_need(swap, "steps", f"{source}: swap")),
        swap_steps_per_window=int(_need(swap, "steps_per_window", f"{source}: swap")),
        seed=int(data.get("seed", 0)),
        source=source,
    )
    if cfg.loss not in ("rel", "abs"):
        raise SheetConfigError(
            f"{source}: spatial_loss.kind must be 'rel' or 'abs', got {cfg.loss!r}"
        )
    if cfg.neighbourhoods_per_step < 1 or cfg.neighbourhoods_per_block < 1:
        raise SheetConfigError(f"{source}: neighbourhood counts must be >= 1")
    if cfg.max_units < 3:
        raise SheetConfigError(f"{source}: neighbourhoods.max_units must be >= 3")
    if not 0 < cfg.min_fill <= 1:
        raise SheetConfigError(f"{source}: neighbourhoods.min_fill must be in (0, 1]")
    if cfg.jitter < 0:
        raise SheetConfigError(f"{source}: placement.jitter must be >= 0")
    return cfg


def topography_from_config(config: Config, source: str = "<config>") -> TopographyConfig:
    """The topography of an experiment config: its `topography` section with the
    clip shape, network width and seed it applies to."""
    section = config.to_dict()["topography"]
    section.pop("positions", None)
    data = {
        **section,
        "clip": {
            "frames": config.data.frames,
            "height": config.data.size,
            "width": config.data.size,
        },
        "seed": config.seed,
    }
    return dataclasses.replace(
        topography_config_from_dict(data, source=source), width=config.model.width
    )


def load_topography_config(
    path: str | Path, overrides: list[str] | tuple[str, ...] = ()
) -> TopographyConfig:
    """The topography of an experiment config file (configs/paper.yaml and the
    configs built on it), with `section.key=value` overrides applied."""
    path = Path(path)
    try:
        config = load_config(path, overrides)
    except ConfigError as err:
        raise SheetConfigError(str(err)) from None
    return topography_from_config(config, source=f"'{path}'")
