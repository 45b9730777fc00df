"""Direction maps on the cortical sheet, and how smoothly preference changes across it.

Every unit of a block has a position on the sheet, ``(x, y)`` in millimetres
(`stdann.topo.BlockPositions.coordinates`), and a complex tuning vector whose
angle is its preferred direction and whose length its selectivity.

- `direction_map` smooths the units' vectors into a map on a pixel grid, and
  `map_topology` measures the map's column spacing and, only where the map
  has a characteristic wavelength over enough columns, its pinwheels and
  pinwheel density with a bootstrap interval, with the native finder
  (`stdann.analysis.pinwheels`).
- The axis-of-motion map is smoothed the same way from each unit's second
  circular harmonic F2 / F0 (complex, its phase twice the axis of motion) and
  analysed with period 180. It is not the direction map's angle doubled:
  that map's singularities are only the direction map's own, counted again.
- `smoothness`, `opposite_direction_fraction` and
  `nearest_neighbour_direction_difference` compare the preferences of units at
  known cortical distances with the same units at shuffled positions, the
  chance level: nearby MT units prefer similar directions (Maunsell & Van Essen
  1983), and neighbouring columns of one axis of motion prefer opposite
  directions (Albright, Desimone & Gross 1984).

Pixel ``z[row, col]`` of a map sits at ``x = (col + 0.5) * pixel_mm``,
``y = (row + 0.5) * pixel_mm``, so the pinwheel finder's x is the column and
its y the row, as everywhere in `stdann.analysis`. Bad arguments raise
`MapError`, a ValueError.
"""

from __future__ import annotations

import inspect
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from stdann.analysis.pinwheels import (
    MapError,
    NoSpectralPeakError,
    NothingToAnalyseError,
    peak_clarity,
    pinwheel_density,
)

FloatArray = npt.NDArray[np.float64]
ComplexArray = npt.NDArray[np.complex128]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

DEFAULT_MAX_PAIRS = 20_000
"""Pairs sampled per distance bin: the mean difference of uniform random
preferences (period 360) then has a standard error of about 0.4 degrees."""

FINE_GRID_PER_SIGMA = 5
"""Nodes per sigma of the grid the units are binned onto before smoothing."""


@dataclass(frozen=True, eq=False)
class DirectionMap:
    """A direction map: the units' tuning vectors smoothed onto a square grid.

    `z[row, col]` is the Gaussian-weighted mean of the vectors of the units
    around the pixel centre ``((col + 0.5) * pixel_mm, (row + 0.5) * pixel_mm)``:
    its angle is the preferred direction there and its length the local
    selectivity (shortened where nearby units disagree). NaN where no unit is
    near enough to weigh. Smoothed from the units' F2 / F0 vectors, the same
    grid is an axis-of-motion map, its phase twice the axis (`map_topology`
    with period 180).
    """

    z: ComplexArray
    pixel_mm: float
    sigma_mm: float
    sheet_side_mm: float

    def __post_init__(self) -> None:
        z = self.z
        if not (isinstance(z, np.ndarray) and z.ndim == 2 and z.shape[0] == z.shape[1]):
            raise MapError(f"z must be a square 2-D complex array, got {np.shape(z)}")
        if z.dtype.kind != "c":
            raise MapError(f"z must be complex, got dtype {z.dtype}")

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.z.shape[0]), int(self.z.shape[1]))

    @property
    def centres_mm(self) -> FloatArray:
        """Pixel centres along either axis, in mm: ``(i + 0.5) * pixel_mm``."""
        return (np.arange(self.z.shape[0]) + 0.5) * self.pixel_mm

    @property
    def angle_deg(self) -> FloatArray:
        """The direction map in degrees, in [0, 360); NaN where `z` is NaN."""
        a = np.degrees(np.angle(self.z)) % 360.0
        # A tiny negative angle modulo 360 rounds to 360.0 itself.
        a[a == 360.0] = 0.0
        return a


def direction_map(
    coordinates: npt.ArrayLike,
    vector: npt.ArrayLike,
    sheet_side_mm: float,
    pixel_mm: float,
    sigma_mm: float,
    min_weight: float = 0.01,
) -> DirectionMap:
    """The units' complex tuning vectors smoothed onto a square grid over the sheet.

    Pixel centres lie at ``(i + 0.5) * pixel_mm`` for ``i < ceil(sheet_side_mm
    / pixel_mm)``. Each pixel holds ``sum_u w_u v_u / sum_u w_u`` with the
    Gaussian weight ``w_u = exp(-d_u**2 / (2 sigma_mm**2))`` of unit u at
    distance d_u; units whose vector is NaN are left out. Where the summed
    weight is below `min_weight` (as if the only unit were more than about
    3 sigma away) the pixel is NaN.

    The sum is computed by binning, not unit by unit: each unit's vector and
    weight are split bilinearly between the four nearest nodes of a grid of
    pitch ``h <= min(pixel_mm, sigma_mm / 5)``, which keeps each unit's total
    weight and centre of mass exactly, and the exact Gaussian is then applied
    separably, rows then columns, from those nodes to the pixel centres. The
    weight a unit gives a pixel is off by at most about ``h**2 / (8 sigma**2)``
    (1/200) of the peak weight per axis, the second-order term of the
    Gaussian's Taylor series over the split; a unit within h/2 of the sheet's
    edge is moved onto the outermost node.
    """
    xy = _coordinates(coordinates)
    v = np.asarray(vector)
    if v.dtype.kind != "c":
        raise MapError(
            "the vector of each unit must be complex (selectivity * exp(i * preferred "
            f"direction)), got dtype {v.dtype}"
        )
    v = v.astype(np.complex128)
    _check_per_unit(v, len(xy), "vector")
    side = _positive(sheet_side_mm, "the sheet side")
    pixel = _positive(pixel_mm, "the pixel size")
    sigma = _positive(sigma_mm, "the smoothing width sigma")
    floor = _positive(min_weight, "the least weight of a pixel")
    if pixel > side:
        raise MapError(f"the pixel size {pixel} mm is larger than the sheet side {side} mm")
    if xy.min() < 0 or xy.max() > side:
        raise MapError(
            f"coordinates leave the sheet [0, {side:.4g}] mm "
            f"(they span {xy.min():.4g} to {xy.max():.4g} mm)"
        )
    keep = np.isfinite(v.real) & np.isfinite(v.imag)
    if not keep.any():
        raise MapError("no unit has a finite vector: there is nothing to map")
    xy, v = xy[keep], v[keep]

    n = max(1, math.ceil(side / pixel - 1e-9))
    m = max(2, math.ceil(side / min(pixel, sigma / FINE_GRID_PER_SIGMA)))
    h = side / m
    binned = _bilinear_bins(xy / h - 0.5, m, (v.real, v.imag, np.ones(len(v))))
    centres = (np.arange(n) + 0.5) * pixel
    nodes = (np.arange(m) + 0.5) * h
    gauss = np.exp(-0.5 * ((centres[:, None] - nodes[None, :]) / sigma) ** 2)
    # Separable Gaussian: sum over nodes (a, b) of g[row, a] binned[a, b] g[col, b].
    real, imag, weight = gauss @ binned @ gauss.T
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (real + 1j * imag) / weight
    z[~(weight >= floor)] = np.nan + 1j * np.nan
    return DirectionMap(z=z, pixel_mm=pixel, sigma_mm=sigma, sheet_side_mm=side)


MIN_PEAK_CLARITY = 5.0
"""Least `pinwheels.peak_clarity` of a map with a characteristic wavelength.

Measured with Lambda from the native fit, on complex fields of 48 to 256 px:
- smoothed white noise (a Gaussian low-pass of sigma 0.5, 1, 2, 3, 4 and
  8 px; 60 to 200 maps of each size and width, about 5,000 in all): medians
  1.2 to 1.7, 99th percentiles at most 3.3; the three largest of all 3.9,
  4.0 and 5.0, each on a map of under 10 Lambda^2, where no density is
  reported anyway;
- thin-ring band-pass fields (Lambda 8 to 32 px, 4 to 32 columns across,
  240 maps): 12.3 to 484, median 91;
- Gaussian rings of relative width 0.3: 5.4 to 31, median 18; of relative
  width 0.5, a broad band: 2.1 to 10, median 5.2, about half below.
The test fields (tests/test_map_topology.py): thin rings of Lambda 16 px on
256 px, 160 to 195; smoothed noise of sigma 1, 2 and 4 px on 128 px, 1.2 to
2.2. A broad band is sometimes judged to have no clear peak: no Lambda is
better than a Lambda read from noise."""

MIN_COLUMNS_ACROSS = 3.0
"""The sheet side over Lambda below which no pinwheel density is reported."""

MIN_AREA_IN_COLUMNS = 10.0
"""The analysed area in Lambda^2 below which no pinwheel density is reported."""

COLLAPSE_THRESHOLD = 0.2
"""The map resultant above which a map is flagged as dominated by one direction."""

BOOTSTRAP_RESAMPLES = 2000
"""Resamples of the tile bootstrap of the pinwheel density."""


def map_topology(
    dmap: DirectionMap,
    period: float = 360.0,
    margin_px: int | None = None,
    *,
    min_peak_clarity: float = MIN_PEAK_CLARITY,
    min_columns_across: float = MIN_COLUMNS_ACROSS,
    min_area_in_columns: float = MIN_AREA_IN_COLUMNS,
    collapse_threshold: float = COLLAPSE_THRESHOLD,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    rng: np.random.Generator | int | None = None,
) -> dict[str, Any]:
    """Column spacing, and pinwheels and pinwheel density where they are defined.

    `period` 360 reads `dmap.z` as a direction map; 180 reads it as given as
    an axis-of-motion map whose phase is twice the axis (each unit's second
    circular harmonic F2 / F0 smoothed with `direction_map`), so that charge
    +1 there is a +1/2 pinwheel of the axis. `margin_px` (default: sigma in
    pixels, rounded up) leaves out plaquettes near the sheet's edge or a NaN
    pixel, where smoothing saw only part of its window. The *analysed area*
    is the plaquettes left, those `pinwheel_density` counts. Every map, model
    and controls alike, goes through the same tests:

    - Lambda, the column spacing, is the native fit to the peak of the
      radially averaged power spectrum of the normalised map
      (`pinwheel_density`). It is reported only where the spectrum has a
      characteristic wavelength: `pinwheels.peak_clarity` (the strongest
      ring's power over the mean power of the rings at or below half the peak
      frequency; defined and argued there) at least `min_peak_clarity`.
    - The map is *defined* (its pinwheel topology reported) where it has a
      characteristic wavelength, Lambda <= sheet side (`dmap.sheet_side_mm`)
      / `min_columns_across` (the spectrum's rings lie up to one cycle per map
      apart, so with fewer columns across one ring spans over a third of the
      peak frequency), and the analysed area holds at least
      `min_area_in_columns` Lambda^2: a density is a count over an area, and
      pinwheel densities are measured over tens of hypercolumns (Kaschube et
      al. 2010, Science 330:1113), with about pi pinwheels per Lambda^2 (ten
      Lambda^2 hold about 30).
    - The pinwheel density is pinwheels per Lambda^2 (Kaschube et al. 2010,
      who find about pi in cat, tree shrew and galago V1). An isotropic
      complex Gaussian random field has ``<k^2> / (4 pi)`` zeros per unit
      area, k the angular wavenumber: pi per Lambda^2 for a thin ring
      spectrum (Berry & Dennis 2000, Proc R Soc A 456:2059; Wolf & Geisel
      1998, Nature 395:73), so a density of pi alone does not tell a map from
      a random band-pass field.
    - Its 95% interval is a block bootstrap (`scipy.stats.bootstrap`, BCa,
      `n_resamples`, seeded by `rng`: a Generator or a seed, None meaning 0,
      so that a report is the same on every run): the analysed area's
      bounding box is cut into a grid of square tiles of side about Lambda,
      the map's correlation length, so that tiles are nearly independent;
      tiles (their pinwheel count and analysed area, paired) are resampled
      with replacement, and each resample gives ``total pinwheels / (total
      analysed area / Lambda^2)``. Lambda is held fixed: the interval is that
      of the count's sampling over the area, not of Lambda's uncertainty. The
      count's interval is the density's times the analysed area in Lambda^2.
    - The map resultant ``|mean(z / |z|)|`` over the analysed pixels (those
      whose whole margin neighbourhood is on the sheet, z != 0) is 0 for a map
      that uses every direction alike and 1 for a map of one direction; a map
      is *collapsed* above `collapse_threshold`.

    Keys: ``period``, ``margin_px``; ``criteria`` (the thresholds above);
    ``area_mm2`` (the analysed area); ``peak_clarity``; ``wavelength_mm``
    (Lambda); ``area_in_columns`` (area / Lambda^2); ``defined`` (bool);
    where defined: ``n_plus``, ``n_minus``, ``n_total`` (pinwheels of charge
    +1 and -1 in the analysed area, and both), ``density``,
    ``density_plus``, ``density_minus`` (per Lambda^2),
    ``nn_any_sign_median_mm``, ``nn_same_sign_median_mm``,
    ``nn_opposite_sign_median_mm`` (median distance from a pinwheel to its
    nearest neighbour of any, the same and the opposite sign),
    ``density_ci95`` and ``n_total_ci95`` (``[low, high]``), ``bootstrap``
    (``tiles``, ``tile_side_mm``, ``resamples``, ``method``,
    ``confidence``); ``direction_resultant`` (period 360) or
    ``axial_resultant`` (period 180), and ``collapsed``; and ``reasons``:
    for every quantity that is None, why (for a map that is not defined,
    which condition failed, with its numbers). No value is ever NaN.
    """
    if period == 360.0:
        resultant_key = "direction_resultant"
    elif period == 180.0:
        resultant_key = "axial_resultant"
    else:
        raise MapError(f"the period must be 360 (direction) or 180 (axis of motion), got {period}")
    if margin_px is None:
        margin_px = math.ceil(dmap.sigma_mm / dmap.pixel_mm - 1e-9)
    if margin_px < 0:
        raise MapError(f"the margin must be a number of pixels >= 0, got {margin_px}")
    criteria = {
        "min_peak_clarity": _positive(min_peak_clarity, "min_peak_clarity"),
        "min_columns_across": _positive(min_columns_across, "min_columns_across"),
        "min_area_in_columns": _positive(min_area_in_columns, "min_area_in_columns"),
        "collapse_threshold": float(collapse_threshold),
    }
    if not 0.0 <= criteria["collapse_threshold"] < 1.0:
        raise MapError(f"collapse_threshold must lie in [0, 1), got {collapse_threshold}")
    n_resamples = _at_least_one(n_resamples, "n_resamples")
    z = dmap.z
    out: dict[str, Any] = {"period": float(period), "margin_px": int(margin_px)}
    out.update(criteria=criteria, defined=False)
    out.update(dict.fromkeys(_TOPOLOGY_KEYS))
    out[resultant_key] = None
    out["collapsed"] = None
    reasons: dict[str, str] = {}
    out["reasons"] = reasons
    everything = (*_TOPOLOGY_KEYS, resultant_key, "collapsed")

    no_spectrum = None
    try:
        d = pinwheel_density(z, pixel_mm=dmap.pixel_mm, margin_px=margin_px)
    except NothingToAnalyseError as e:
        _none(out, reasons, everything, str(e))
        return out
    except NoSpectralPeakError as e:
        d, no_spectrum = None, f"no column spacing: {e}"
    pixels, plaquettes = _analysed_area(z, margin_px)
    area_px = int(plaquettes.sum())
    if area_px == 0:
        why = f"a margin of {margin_px} px leaves none of the {z.shape[0]} x {z.shape[1]} map"
        _none(out, reasons, everything, why)
        return out
    out["area_mm2"] = area_px * dmap.pixel_mm**2

    resultant = _resultant(z, pixels)
    if resultant is None:
        why = "every analysed pixel of the map is 0: it has no direction"
        _none(out, reasons, (resultant_key, "collapsed"), why)
    else:
        out[resultant_key] = resultant
        out["collapsed"] = resultant > criteria["collapse_threshold"]

    if d is None:
        _none(out, reasons, ("peak_clarity", *_LAMBDA_KEYS, *_DEFINED_KEYS), str(no_spectrum))
        return out
    clarity = peak_clarity(d.frequencies, d.power, d.wavelength_px)
    out["peak_clarity"] = clarity
    if clarity < criteria["min_peak_clarity"]:
        why = (
            f"no characteristic wavelength: the spectrum's peak clarity {clarity:.3g} "
            f"< {criteria['min_peak_clarity']:g}"
        )
        _none(out, reasons, (*_LAMBDA_KEYS, *_DEFINED_KEYS), why)
        return out

    wavelength_mm = d.wavelength_px * dmap.pixel_mm
    out["wavelength_mm"] = wavelength_mm
    out["area_in_columns"] = d.area_in_columns
    failed = []
    most = dmap.sheet_side_mm / criteria["min_columns_across"]
    if wavelength_mm > most:
        failed.append(
            f"Lambda {wavelength_mm:.3g} mm > sheet side / {criteria['min_columns_across']:g} "
            f"= {most:.3g} mm"
        )
    if d.area_in_columns < criteria["min_area_in_columns"]:
        failed.append(
            f"the analysed area is {d.area_in_columns:.3g} Lambda^2 "
            f"< {criteria['min_area_in_columns']:g} Lambda^2"
        )
    if failed:
        _none(out, reasons, _DEFINED_KEYS, "; ".join(failed))
        return out

    out["defined"] = True
    out.update(n_plus=d.n_plus, n_minus=d.n_minus, n_total=d.n_total)
    out.update(density=d.density, density_plus=d.density_plus, density_minus=d.density_minus)
    for key, distances in zip(
        _NN_KEYS, (d.nn_any_sign, d.nn_same_sign, d.nn_opposite_sign), strict=True
    ):
        finite = distances[np.isfinite(distances)]
        if finite.size:
            out[key] = float(np.median(finite)) * dmap.pixel_mm
        else:
            kind = key.removeprefix("nn_").removesuffix("_median_mm").replace("_", " ")
            _none(out, reasons, (key,), f"no analysed pinwheel has a neighbour of {kind}")
    boot = _tile_bootstrap(plaquettes, d.x, d.y, d.wavelength_px, n_resamples, _generator(rng))
    if isinstance(boot, str):
        _none(out, reasons, ("density_ci95", "n_total_ci95", "bootstrap"), boot)
    else:
        (low, high), about = boot
        out["density_ci95"] = [low, high]
        out["n_total_ci95"] = [low * d.area_in_columns, high * d.area_in_columns]
        about["tile_side_mm"] *= dmap.pixel_mm
        out["bootstrap"] = about
    return out


_NN_KEYS = ("nn_any_sign_median_mm", "nn_same_sign_median_mm", "nn_opposite_sign_median_mm")
_DEFINED_KEYS = (
    "n_plus",
    "n_minus",
    "n_total",
    "density",
    "density_plus",
    "density_minus",
    *_NN_KEYS,
    "density_ci95",
    "n_total_ci95",
    "bootstrap",
)
_LAMBDA_KEYS = ("wavelength_mm", "area_in_columns")
_TOPOLOGY_KEYS = ("area_mm2", "peak_clarity", *_LAMBDA_KEYS, *_DEFINED_KEYS)


def _none(out: dict[str, Any], reasons: dict[str, str], keys: tuple[str, ...], why: str) -> None:
    for key in keys:
        out[key] = None
        reasons[key] = why


def _analysed_area(z: ComplexArray, margin_px: int) -> tuple[BoolArray, BoolArray]:
    """The analysed pixels, those whose whole (2 margin + 1)^2 neighbourhood
    is on the sheet and inside the map, and the analysed plaquettes (rows - 1,
    cols - 1), those whose four corners are analysed pixels: the area
    `pinwheel_density` counts."""
    off = ~(np.isfinite(z.real) & np.isfinite(z.imag))
    padded = np.pad(off, margin_px, constant_values=True).astype(np.int64)
    table = np.pad(padded.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    k = 2 * margin_px + 1
    off_in_window = table[k:, k:] - table[:-k, k:] - table[k:, :-k] + table[:-k, :-k]
    inside = off_in_window == 0
    plaquette = inside[:-1, :-1] & inside[1:, :-1] & inside[:-1, 1:] & inside[1:, 1:]
    return inside, plaquette


def _resultant(z: ComplexArray, pixels: BoolArray) -> float | None:
    """|mean of z / |z|| over `pixels` where z != 0; None where there is none."""
    v = z[pixels]
    r = np.abs(v)
    unit = v[r > 0] / r[r > 0]
    if unit.size == 0:
        return None
    return min(1.0, float(np.abs(unit.mean())))


def _pinwheel_plaquettes(
    x: FloatArray, y: FloatArray, plaquettes: BoolArray
) -> tuple[IntArray, IntArray]:
    """(row, col) of the analysed plaquette holding each pinwheel.

    A complex map's pinwheel lies at the zero inside its plaquette,
    ``col <= x <= col + 1``: on a shared side (x or y a whole number) the
    plaquette before it is taken where the one after is not analysed."""
    rows, cols = plaquettes.shape
    r = np.clip(np.floor(y).astype(np.intp), 0, rows - 1)
    c = np.clip(np.floor(x).astype(np.intp), 0, cols - 1)
    for dr, dc in ((-1, 0), (0, -1), (-1, -1)):
        rr, cc = np.maximum(r + dr, 0), np.maximum(c + dc, 0)
        move = ~plaquettes[r, c] & plaquettes[rr, cc] & (rr + 1 >= y) & (cc + 1 >= x)
        r, c = np.where(move, rr, r), np.where(move, cc, c)
    return r, c


def _tile_bootstrap(
    plaquettes: BoolArray,
    x: FloatArray,
    y: FloatArray,
    wavelength_px: float,
    n_resamples: int,
    rng: np.random.Generator,
    confidence: float = 0.95,
) -> tuple[tuple[float, float], dict[str, Any]] | str:
    """The block bootstrap interval of the pinwheel density (see
    `map_topology`), and how it was made (tile side in pixels); or why there
    is none."""
    rows, cols = np.nonzero(plaquettes)
    r0, c0 = int(rows.min()), int(cols.min())
    extent_r, extent_c = int(rows.max()) - r0 + 1, int(cols.max()) - c0 + 1
    n_r = max(1, round(extent_r / wavelength_px))
    n_c = max(1, round(extent_c / wavelength_px))

    def tile(r: IntArray, c: IntArray) -> IntArray:
        tr = np.clip((r - r0) * n_r // extent_r, 0, n_r - 1)
        tc = np.clip((c - c0) * n_c // extent_c, 0, n_c - 1)
        return tr * n_c + tc

    area = np.bincount(tile(rows, cols), minlength=n_r * n_c).astype(np.float64)
    pr, pc = _pinwheel_plaquettes(x, y, plaquettes)
    count = np.bincount(tile(pr, pc), minlength=n_r * n_c).astype(np.float64)
    keep = (area > 0) | (count > 0)
    count, area = count[keep], area[keep]
    about: dict[str, Any] = {
        "tiles": int(keep.sum()),
        "tile_side_mm": 0.5 * (extent_r / n_r + extent_c / n_c),
        "resamples": n_resamples,
        "method": "BCa",
        "confidence": confidence,
    }
    if count.size < 2:
        return f"the analysed area makes {count.size} tile of side Lambda: nothing to resample"
    if count.sum() == 0:
        about.update(resamples=0, method="none: no tile holds a pinwheel")
        return (0.0, 0.0), about
    scale = wavelength_px**2

    def density(c: FloatArray, a: FloatArray, axis: int = -1) -> FloatArray:
        return scale * c.sum(axis=axis) / a.sum(axis=axis)

    seed = "rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = stats.bootstrap(
            (count, area),
            density,
            paired=True,
            vectorized=True,
            n_resamples=n_resamples,
            confidence_level=confidence,
            method="BCa",
            **{seed: rng},
        )
    low, high = (float(v) for v in result.confidence_interval)
    if caught or not (math.isfinite(low) and math.isfinite(high)):
        # BCa needs a spread of resampled and jackknife values; without one,
        # the plain percentiles of the resampled densities.
        tail = 50.0 * (1.0 - confidence)
        low, high = (
            float(v) for v in np.percentile(result.bootstrap_distribution, [tail, 100.0 - tail])
        )
        about["method"] = "percentile"
    return (low, high), about


@dataclass(frozen=True, eq=False)
class Smoothness:
    """Mean difference of preferred direction between units at a cortical
    distance, per distance bin, beside the same for shuffled positions."""

    bins_mm: FloatArray
    """Bin edges, ``n_bins + 1`` distances in mm; a bin holds [lower, upper)."""
    observed_deg: FloatArray
    """Mean wrapped difference, in [0, period / 2], of the sampled pairs in each
    bin; NaN where the bin holds no pair."""
    shuffled_deg: FloatArray
    """The same pairs of positions with preferences shuffled among units,
    averaged over the shuffles: the chance level, period / 4 for uniform
    preferences."""
    n_pairs: IntArray
    """Pairs sampled in each bin (at most `max_pairs`)."""
    period: float

    @property
    def centres_mm(self) -> FloatArray:
        return 0.5 * (self.bins_mm[:-1] + self.bins_mm[1:])

    @property
    def chance_deg(self) -> float:
        """The mean wrapped difference of two independent uniform preferences."""
        return self.period / 4.0


def smoothness(
    coordinates: npt.ArrayLike,
    preferred_deg: npt.ArrayLike,
    bins_mm: npt.ArrayLike,
    period: float = 360.0,
    shuffles: int = 1,
    rng: np.random.Generator | int | None = None,
    max_pairs: int = DEFAULT_MAX_PAIRS,
) -> Smoothness:
    """How the difference of preferred direction grows with cortical distance.

    For each distance bin, up to `max_pairs` pairs of units are drawn at
    random, with replacement, uniformly among all pairs whose distance lies in
    the bin; the bin's value is the mean wrapped difference of their
    preferences, ``|((a - b + period/2) mod period) - period/2|``. The chance
    level keeps the same pairs of positions and shuffles the preferences among
    the units (`shuffles` times, averaged). Units with a NaN preference are
    left out. `rng` is a Generator or a seed; None means seed 0, so that a
    report is the same on every run.
    """
    xy, p = _units_with_preferences(coordinates, preferred_deg)
    period = _positive(period, "the period")
    edges = np.asarray(bins_mm, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2:
        raise MapError(f"bins_mm must be at least two bin edges, got shape {edges.shape}")
    if not (np.isfinite(edges).all() and edges[0] >= 0 and (np.diff(edges) > 0).all()):
        raise MapError(f"bins_mm must be finite, >= 0 and increasing, got {edges}")
    if shuffles < 1:
        raise MapError(f"shuffles must be at least 1, got {shuffles}")
    max_pairs = _at_least_one(max_pairs, "max_pairs")
    gen = _generator(rng)
    shuffled_p = [p[gen.permutation(len(p))] for _ in range(shuffles)]
    n_bins = edges.size - 1
    observed = np.full(n_bins, np.nan)
    shuffled = np.full(n_bins, np.nan)
    counts = np.zeros(n_bins, dtype=np.int64)
    for b in range(n_bins):
        i, j = _pairs_at_distance(xy, edges[b], edges[b + 1], max_pairs, gen)
        counts[b] = i.size
        if i.size:
            observed[b] = _wrapped_difference(p[i], p[j], period).mean()
            shuffled[b] = np.mean(
                [_wrapped_difference(q[i], q[j], period).mean() for q in shuffled_p]
            )
    return Smoothness(edges, observed, shuffled, counts, period)


def opposite_direction_fraction(
    coordinates: npt.ArrayLike,
    preferred_deg: npt.ArrayLike,
    radius_mm: float,
    threshold_deg: float = 150.0,
    rng: np.random.Generator | int | None = None,
    max_pairs: int = DEFAULT_MAX_PAIRS,
) -> tuple[float, float]:
    """``(observed, shuffled)``: the fraction of pairs of units within
    `radius_mm` of each other whose preferred directions differ by more than
    `threshold_deg`, and the same with preferences shuffled among the units.

    Such pairs are the 180-degree reversals between neighbouring columns of
    one axis of motion (Albright, Desimone & Gross 1984). Pairs are sampled
    as in `smoothness`; for uniform preferences the shuffled fraction is
    ``(180 - threshold) / 180``, 1/6 at 150 degrees.
    """
    xy, p = _units_with_preferences(coordinates, preferred_deg)
    radius = _positive(radius_mm, "the radius")
    threshold = float(threshold_deg)
    if not 0.0 < threshold < 180.0:
        raise MapError(f"the threshold must lie between 0 and 180 degrees, got {threshold_deg}")
    max_pairs = _at_least_one(max_pairs, "max_pairs")
    gen = _generator(rng)
    perm = gen.permutation(len(p))
    i, j = _pairs_at_distance(xy, 0.0, radius, max_pairs, gen)
    if i.size == 0:
        raise MapError(f"no two units lie within {radius} mm of each other; use a larger radius")
    q = p[perm]
    observed = float((_wrapped_difference(p[i], p[j], 360.0) > threshold).mean())
    shuffled = float((_wrapped_difference(q[i], q[j], 360.0) > threshold).mean())
    return observed, shuffled


def nearest_neighbour_direction_difference(
    coordinates: npt.ArrayLike,
    preferred_deg: npt.ArrayLike,
    period: float = 360.0,
    rng: np.random.Generator | int | None = None,
) -> tuple[float, float]:
    """``(observed, shuffled)``: the median over units of the wrapped
    difference between a unit's preference and that of its nearest neighbour
    on the sheet, and the same with preferences shuffled among the units
    (90 degrees for uniform preferences, period 360). Units with a NaN
    preference are left out, as neighbours too; ties go to either unit."""
    xy, p = _units_with_preferences(coordinates, preferred_deg)
    period = _positive(period, "the period")
    nearest, _ = _nearest_neighbours(xy)
    q = p[_generator(rng).permutation(len(p))]
    observed = float(np.median(_wrapped_difference(p, p[nearest], period)))
    shuffled = float(np.median(_wrapped_difference(q, q[nearest], period)))
    return observed, shuffled


def _wrapped_difference(a: FloatArray, b: FloatArray, period: float) -> FloatArray:
    """|a - b| on a circle of `period`, in [0, period / 2]."""
    half = 0.5 * period
    return np.abs((a - b + half) % period - half)


def _bilinear_bins(
    t: FloatArray, m: int, values: tuple[FloatArray, ...]
) -> npt.NDArray[np.float64]:
    """Each value split bilinearly between the four grid nodes around its
    fractional node position `t` (x, y), on an m x m grid: (len(values), m, m)
    with rows along y."""
    t = np.clip(t, 0.0, m - 1.0)
    base = np.minimum(np.floor(t).astype(np.intp), m - 2)
    f = t - base
    fx, fy = f[:, 0], f[:, 1]
    cell = base[:, 1] * m + base[:, 0]
    index = np.concatenate([cell, cell + 1, cell + m, cell + m + 1])
    share = np.concatenate([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy])
    return np.stack(
        [np.bincount(index, weights=share * np.tile(v, 4), minlength=m * m) for v in values]
    ).reshape(len(values), m, m)


class _CellGrid:
    """Units binned into square cells of side `cell` and sorted by cell, so that
    the units of a run of cells along a row are one slice of `order`."""

    MAX_DENSE_CELLS = 1 << 24
    """Up to this many cells, where each cell's units start is a table; beyond
    it, a binary search."""

    def __init__(self, xy: FloatArray, cell: float) -> None:
        self.cell = cell
        index = np.floor((xy - xy.min(axis=0)) / cell).astype(np.int64)
        self.col, self.row = index[:, 0], index[:, 1]
        self.n_cols = int(self.col.max()) + 1
        self.n_rows = int(self.row.max()) + 1
        ids = self.row * self.n_cols + self.col
        self.order = np.argsort(ids, kind="stable")
        self.sorted_ids = ids[self.order]
        n_cells = self.n_rows * self.n_cols
        self.first = None
        if n_cells <= self.MAX_DENSE_CELLS:
            self.first = np.searchsorted(self.sorted_ids, np.arange(n_cells + 1), "left")

    def row_runs(
        self, units: IntArray, d_row: int, d_col_lo: int, d_col_hi: int
    ) -> tuple[IntArray, IntArray]:
        """(start in `order`, count) of the units in cells ``(row + d_row,
        col + d_col_lo .. col + d_col_hi)`` around each of `units`."""
        row = self.row[units] + d_row
        lo = np.maximum(self.col[units] + d_col_lo, 0)
        hi = np.minimum(self.col[units] + d_col_hi, self.n_cols - 1)
        ok = (row >= 0) & (row < self.n_rows) & (lo <= hi)
        first_id = np.clip(row, 0, self.n_rows - 1) * self.n_cols + np.minimum(lo, hi)
        last_id = first_id + np.maximum(hi - lo, 0)
        if self.first is not None:
            start, end = self.first[first_id], self.first[last_id + 1]
        else:
            start = np.searchsorted(self.sorted_ids, first_id, "left")
            end = np.searchsorted(self.sorted_ids, last_id, "right")
        return start, np.where(ok, end - start, 0)


def _pairs_at_distance(
    xy: FloatArray, r0: float, r1: float, n: int, rng: np.random.Generator
) -> tuple[IntArray, IntArray]:
    """Up to `n` ordered pairs (i, j), i != j, drawn uniformly with replacement
    from all pairs with r0 <= |xy_i - xy_j| < r1.

    Rejection sampling over cells of side r1 / 2: i is drawn uniformly and
    kept with probability N_i / max N, N_i the number of units in the 5 x 5
    cells around it (which hold every unit within r1 of it); j is drawn
    uniformly from those cells; the pair is kept if its distance is in the
    bin. Every pair in the bin is then equally likely. Empty if none is found
    within 50 n proposals of i."""
    u = len(xy)
    extent = float(np.hypot(*(xy.max(axis=0) - xy.min(axis=0))))
    if u < 2 or r0 > extent:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    k = 2
    grid = _CellGrid(xy, r1 / k)
    everyone = np.arange(u)
    runs = [grid.row_runs(everyone, d, -k, k) for d in range(-k, k + 1)]
    starts = np.stack([s for s, _ in runs], axis=1)
    cum = np.cumsum(np.stack([c for _, c in runs], axis=1), axis=1)
    total = cum[:, -1]
    most = total.max()
    found_i: list[IntArray] = []
    found_j: list[IntArray] = []
    have, proposed, rate = 0, 0, 0.5
    while have < n and proposed < 50 * n:
        batch = int(min(max(4096, 1.2 * (n - have) / max(rate, 1e-3)), 2_000_000))
        proposed += batch
        i = rng.integers(u, size=batch)
        i = i[rng.random(batch) * most < total[i]]
        pick = rng.integers(total[i])
        run = (cum[i] <= pick[:, None]).sum(axis=1)
        before = np.where(run > 0, cum[i, np.maximum(run - 1, 0)], 0)
        j = grid.order[starts[i, run] + pick - before]
        d = np.hypot(*(xy[j] - xy[i]).T)
        keep = (j != i) & (d >= r0) & (d < r1)
        found_i.append(i[keep])
        found_j.append(j[keep])
        have += int(keep.sum())
        rate = max(have / proposed, 1e-6)
    return np.concatenate(found_i)[:n], np.concatenate(found_j)[:n]


def _nearest_neighbours(xy: FloatArray) -> tuple[IntArray, FloatArray]:
    """Index of and distance to each unit's nearest other unit.

    Units are binned into cells holding about two each and searched ring by
    ring of cells: after the rings within Chebyshev distance k, a unit whose
    best distance is at most k cells is done, since no unit further out can
    be closer."""
    u = len(xy)
    extent = xy.max(axis=0) - xy.min(axis=0)
    # About two units a cell; as wide as two units' share of the longer side
    # when the units lie on a thin strip, a line or one point.
    cell = max(
        math.sqrt(2.0 * float(extent[0] * extent[1]) / u), 2.0 * float(extent.max()) / u, 1e-12
    )
    grid = _CellGrid(xy, cell)
    best = np.full(u, np.inf)
    nearest = np.zeros(u, dtype=np.int64)
    pending = np.arange(u)
    k = 0
    while pending.size:
        for d_row in range(max(-k, 1 - grid.n_rows), min(k, grid.n_rows - 1) + 1):
            # On the ring's top and bottom rows every cell; between them the two ends.
            if abs(d_row) == k:
                spans = [(-k, k)]
            else:
                spans = [(-k, -k), (k, k)]
            for lo, hi in spans:
                start, count = grid.row_runs(pending, d_row, lo, hi)
                for slot in range(int(count.max(initial=0))):
                    has = count > slot
                    who = pending[has]
                    other = grid.order[start[has] + slot]
                    d = np.hypot(*(xy[other] - xy[who]).T)
                    better = (d < best[who]) & (other != who)
                    best[who[better]] = d[better]
                    nearest[who[better]] = other[better]
        pending = pending[best[pending] > k * cell]
        k += 1
    return nearest, best


def _units_with_preferences(
    coordinates: npt.ArrayLike, preferred_deg: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Coordinates and preferences of the units whose preference is not NaN;
    at least two of them."""
    xy = _coordinates(coordinates)
    p = np.asarray(preferred_deg, dtype=np.float64)
    _check_per_unit(p, len(xy), "preferred_deg")
    if np.isinf(p).any():
        raise MapError("preferred directions must be finite degrees (NaN for no preference)")
    keep = ~np.isnan(p)
    if keep.sum() < 2:
        raise MapError(
            f"at least two units need a preferred direction, {int(keep.sum())} of {len(p)} have one"
        )
    return xy[keep], p[keep]


def _coordinates(coordinates: npt.ArrayLike) -> FloatArray:
    xy = np.asarray(coordinates, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2 or xy.shape[0] < 1:
        raise MapError(f"coordinates must be a (units, 2) array of (x, y) in mm, got {xy.shape}")
    if not np.isfinite(xy).all():
        raise MapError("coordinates must all be finite")
    return xy


def _check_per_unit(values: np.ndarray, n: int, name: str) -> None:
    if values.shape != (n,):
        raise MapError(f"{name} must hold one value per unit, shape ({n},), got {values.shape}")


def _positive(value: float, what: str) -> float:
    x = float(value)
    if not (math.isfinite(x) and x > 0):
        raise MapError(f"{what} must be a positive finite number, got {value}")
    return x


def _at_least_one(value: int, name: str) -> int:
    if int(value) != value or value < 1:
        raise MapError(f"{name} must be a whole number >= 1, got {value}")
    return int(value)


def _generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(0 if rng is None else rng)
