"""Analyses of trained networks: map topology (pinwheels, column spacing, density)."""

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

__all__ = [
    "ColumnSpacing",
    "MapError",
    "NoSpectralPeakError",
    "NothingToAnalyseError",
    "PinwheelDensity",
    "column_spacing",
    "find_pinwheels",
    "local_pinwheel_density",
    "pinwheel_density",
]
