"""Pinwheels, column spacing and pinwheel density of direction and orientation maps.

A map is a 2-D array of preferred angles in degrees (period 360 for direction
maps, 180 for orientation maps; NaN marks pixels outside the sheet) or a
complex array z, the vector sum of responses, whose argument is the
preference. Pixel ``map[row, col]`` sits at ``x = col``, ``y = row``.

The work is done by the native module (stdann-cortex); this module converts
inputs and wraps results, and `peak_clarity` says how clearly a spectrum
peaks at the column spacing read from it. ``pinwheels_reference`` holds a
NumPy twin of ``find_pinwheels`` for parity tests and benches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stdann import _native

MapError = _native.MapError
NothingToAnalyseError = _native.NothingToAnalyseError
NoSpectralPeakError = _native.NoSpectralPeakError

FloatArray = npt.NDArray[np.float64]


def as_map(values: npt.ArrayLike) -> np.ndarray:
    """`values` as an array the native code reads without another copy.

    float32, float64 and complex128 pass as they are (made C-contiguous);
    other floats (float16, either byte order) and integers become float64
    degrees, and other complex arrays complex128.
    """
    a = np.asarray(values)
    if a.ndim != 2:
        raise MapError(f"a map must be a 2-D array, got shape {a.shape}")
    if a.dtype in (np.float32, np.float64, np.complex128):
        return np.ascontiguousarray(a)
    # Other float widths and byte orders (float16, big-endian '>f8') as float64.
    if a.dtype.kind == "f":
        return np.ascontiguousarray(a, dtype=np.float64)
    if a.dtype.kind in "iu":
        return np.ascontiguousarray(a, dtype=np.float64)
    if a.dtype.kind == "c":
        return np.ascontiguousarray(a, dtype=np.complex128)
    raise MapError(
        f"a map must hold angles in degrees (float or int) or complex values, got dtype {a.dtype}"
    )


def find_pinwheels(
    map: npt.ArrayLike, period: float = 360.0
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int8]]:
    """Every pinwheel of `map` as arrays ``(x, y, charge)``.

    The charge of a 2 x 2 plaquette is the sum of the wrapped phase
    differences around it over a full turn: +1 when the phase turns
    counter-clockwise in the (x, y) plane, -1 clockwise. For orientation maps
    (period 180) the phase is the doubled angle, so charge +1 is a +1/2
    pinwheel of orientation. Positions are plaquette centres for angle maps
    and the sub-pixel zero of z inside the plaquette for complex maps, whose
    argument is taken as the phase as it is (`period` is not used for them).
    Plaquettes that touch a NaN (or infinite) pixel are skipped.
    """
    return _native.find_pinwheels(as_map(map), float(period))


@dataclass(frozen=True)
class ColumnSpacing:
    """Lambda and the radially averaged power spectrum it was read from."""

    wavelength_px: float
    wavelength_mm: float | None
    frequencies: FloatArray
    """Spatial frequency of each spectrum bin in cycles per pixel."""
    power: FloatArray


def column_spacing(
    map: npt.ArrayLike, period: float = 360.0, pixel_mm: float | None = None
) -> ColumnSpacing:
    """Column spacing Lambda from a smooth (Gaussian) fit to the peak of the
    radially averaged power spectrum of the normalised complex map."""
    wavelength, frequencies, power = _native.column_spacing(as_map(map), float(period))
    mm = None if pixel_mm is None else wavelength * _pixel_mm(pixel_mm)
    return ColumnSpacing(wavelength, mm, frequencies, power)


MIN_REFERENCE_RINGS = 2
"""The fewest rings `peak_clarity` compares the peak with."""

MAX_PEAK_CLARITY = 1e12
"""`peak_clarity` where the reference rings hold no power at all (a plane wave)."""


def peak_clarity(frequencies: npt.ArrayLike, power: npt.ArrayLike, wavelength_px: float) -> float:
    """How clearly the radially averaged power spectrum of a map peaks at the
    column spacing Lambda: the power of the strongest ring over the mean power
    of the rings at or below half the peak frequency ``1 / (2 Lambda)``.

    `frequencies` (cycles per pixel, ring b at ``b / size``) and `power` are
    the spectrum `column_spacing` and `pinwheel_density` return (of the
    normalised map, its mean removed, zero-padded to a square power-of-two
    grid), and `wavelength_px` the Lambda fitted to its peak. Ring 0, the
    mean, is left out; the reference holds the rings ``1 .. floor(b / 2)``
    for the fitted peak ring ``b = size / Lambda``, and never fewer than the
    `MIN_REFERENCE_RINGS` lowest ones: the lowest ring holds only 8 Fourier
    modes, too few to be a reference on its own.

    Why: a map with a characteristic wavelength (a band-pass spectrum, as in
    the orientation maps of Kaschube et al., Science 330:1113, 2010) has
    little power at wavelengths beyond 2 Lambda, so the ratio is large (tens
    to hundreds for a thin ring spectrum). A low-pass spectrum, such as
    smoothed white noise (units at shuffled positions, smoothed onto the
    sheet), has about as much power at every frequency below its cutoff, so
    the ring that happens to be strongest stands about 1 to 3 times above the
    rings below half its frequency; and a peak at the lowest resolvable
    frequencies is compared with itself, a ratio near 1. Neither is a
    characteristic wavelength. Where the reference holds no power the ratio
    is `MAX_PEAK_CLARITY`.
    """
    f = np.asarray(frequencies, dtype=np.float64)
    p = np.asarray(power, dtype=np.float64)
    if f.ndim != 1 or f.shape != p.shape or f.size < MIN_REFERENCE_RINGS + 1:
        raise MapError(
            f"a spectrum needs at least {MIN_REFERENCE_RINGS + 1} rings of frequencies "
            f"and power of one shape, got {f.shape} and {p.shape}"
        )
    if not (np.isfinite(p).all() and (p >= 0).all() and f[1] > 0):
        raise MapError("the spectrum's power must be finite and >= 0, its frequencies > 0")
    wavelength = float(wavelength_px)
    if not (np.isfinite(wavelength) and wavelength > 0):
        raise MapError(f"Lambda must be a positive number of pixels, got {wavelength_px}")
    peak_ring = 1.0 / (f[1] * wavelength)
    last = max(MIN_REFERENCE_RINGS, math.floor(peak_ring / 2.0 + 1e-9))
    reference = float(p[1 : min(last, p.size - 1) + 1].mean())
    top = float(p[1:].max())
    if top <= 0.0:
        return 0.0
    return min(top / reference, MAX_PEAK_CLARITY) if reference > 0 else MAX_PEAK_CLARITY


@dataclass(frozen=True)
class PinwheelDensity:
    """Pinwheels per Lambda^2 over the analysed area of a map.

    Positions (`x`, `y`, `charge`) and nearest-neighbour distances (pixels,
    NaN where a pinwheel has no neighbour of that kind) cover the pinwheels
    inside the analysed area only.
    """

    n_plus: int
    n_minus: int
    density: float
    density_plus: float
    density_minus: float
    wavelength_px: float
    area_px: float
    pixel_mm: float | None
    x: FloatArray
    y: FloatArray
    charge: npt.NDArray[np.int8]
    nn_any_sign: FloatArray
    nn_same_sign: FloatArray
    nn_opposite_sign: FloatArray
    frequencies: FloatArray
    power: FloatArray

    @property
    def n_total(self) -> int:
        return self.n_plus + self.n_minus

    @property
    def area_in_columns(self) -> float:
        """The analysed area in units of Lambda^2."""
        return self.area_px / self.wavelength_px**2

    @property
    def wavelength_mm(self) -> float | None:
        return None if self.pixel_mm is None else self.wavelength_px * self.pixel_mm

    @property
    def area_mm2(self) -> float | None:
        return None if self.pixel_mm is None else self.area_px * self.pixel_mm**2


def pinwheel_density(
    map: npt.ArrayLike,
    period: float = 360.0,
    pixel_mm: float | None = None,
    margin_px: int = 0,
) -> PinwheelDensity:
    """Pinwheel density of `map`: pinwheels per Lambda^2, by sign and in total.

    `margin_px` leaves out plaquettes within that many pixels of the map's
    edge or of a NaN pixel, with their pinwheels. A random field with a thin
    ring spectrum has density pi; so, near enough, do the orientation maps of
    cat, tree shrew and galago V1 (Kaschube et al., Science 2010).
    """
    if margin_px < 0:
        raise MapError(f"the margin must be a number of pixels >= 0, got {margin_px}")
    mm = None if pixel_mm is None else _pixel_mm(pixel_mm)
    d = _native.pinwheel_density(as_map(map), float(period), int(margin_px), mm)
    return PinwheelDensity(pixel_mm=mm, **d)


def local_pinwheel_density(
    map: npt.ArrayLike,
    period: float = 360.0,
    window_columns: float = 1.0,
    margin_px: int = 0,
) -> FloatArray:
    """Pinwheels per Lambda^2 around every pixel: the Gaussian-weighted count
    of pinwheels over the Gaussian-weighted analysed area, with a window of
    sigma = `window_columns` Lambda. NaN off the analysed area."""
    if margin_px < 0:
        raise MapError(f"the margin must be a number of pixels >= 0, got {margin_px}")
    return _native.local_pinwheel_density(
        as_map(map), float(period), float(window_columns), int(margin_px)
    )


def _pixel_mm(pixel_mm: float) -> float:
    mm = float(pixel_mm)
    if not (np.isfinite(mm) and mm > 0):
        raise MapError(f"the pixel size must be a positive number of millimetres, got {pixel_mm}")
    return mm
