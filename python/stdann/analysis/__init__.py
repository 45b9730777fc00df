"""Analyses of trained networks: direction tuning, pattern motion, speed tuning,
direction maps on the cortical sheet and their topology (pinwheels, column
spacing, density), macaque baselines, figures and the report."""

from stdann.analysis.maps import (
    DirectionMap,
    direction_map,
    map_topology,
    nearest_neighbour_direction_difference,
    opposite_direction_fraction,
    smoothness,
)
from stdann.analysis.pattern_motion import PatternComponent, pattern_component
from stdann.analysis.pinwheels import (
    ColumnSpacing,
    MapError,
    NoSpectralPeakError,
    NothingToAnalyseError,
    PinwheelDensity,
    column_spacing,
    find_pinwheels,
    local_pinwheel_density,
    pinwheel_density,
)
from stdann.analysis.speed import SpeedTuning, speed_tuning
from stdann.analysis.tuning import (
    DirectionTuning,
    TuningError,
    direction_tuning,
    grating_tuning,
    summarize,
)

__all__ = [
    "ColumnSpacing",
    "DirectionMap",
    "DirectionTuning",
    "MapError",
    "NoSpectralPeakError",
    "NothingToAnalyseError",
    "PatternComponent",
    "PinwheelDensity",
    "SpeedTuning",
    "TuningError",
    "column_spacing",
    "direction_map",
    "direction_tuning",
    "find_pinwheels",
    "grating_tuning",
    "local_pinwheel_density",
    "map_topology",
    "nearest_neighbour_direction_difference",
    "opposite_direction_fraction",
    "pattern_component",
    "pinwheel_density",
    "smoothness",
    "speed_tuning",
    "summarize",
]
