"""Analyses of trained networks: map topology (pinwheels, column spacing, density)."""

from stdann.analysis.pinwheels import (
    ColumnSpacing,
    MapError,
    NoSpectralPeakError,
    NothingToAnalyseError,
    PinwheelDensity,
    column_spacing,
    find_pinwheels,
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
    "pinwheel_density",
]
