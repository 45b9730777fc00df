"""Direction tuning of units: preference, selectivity, width and class.

A tuning curve holds a unit's responses to motion in D evenly spaced
directions (degrees, the conventions of `stdann.stimuli`: 0 deg rightward,
counter-clockwise). The responses are taken **as recorded**: nothing is
subtracted or clipped before a metric. The response to a mean-grey blank, b,
plays the part of a neuron's spontaneous rate and enters only the metrics
that are defined relative to it. Each metric is written here once, with its
source; the report repeats these definitions.

With r_k the response to direction theta_k, the circular harmonics

    F_n = sum_k r_k exp(i n theta_k),    n = 0, 1, 2

(F_0 the summed response) give:

- the preferred direction, the angle of F_1 (the vector sum);
- the direction circular variance CV = 1 - |F_1| / F_0 and the axial
  circular variance 1 - |F_2| / F_0 (Ringach, Shapley & Hawken 2002, J
  Neurosci 22:5639, as used by the VH-Lab and InVivoTools code). They are
  defined for responses >= 0 (firing rates; the post-ReLU block outputs
  stdann records are), NaN for a curve with a negative response;
- the axis-of-motion vector F_2 / F_0, whose angle is twice the preferred
  axis: the axial map is made of these (`stdann.analysis.maps`).

With R_pref the largest sampled response (at direction d*) and R_null the
curve at d* + 180 deg (linearly interpolated around the circle when that
direction was not sampled):

- DSI = (R_pref - R_null) / (R_pref + R_null), on the raw responses (the
  indices of this family are reviewed by Mazurek, Kager & Van Hooser 2014,
  Front Neural Circuits 8:92);
- the blank-relative direction index DI_b = 1 - (R_null - b) / (R_pref - b),
  defined where R_pref > b and not clipped: it exceeds 1 where the null
  response falls below the blank, as physiology reports for firing below the
  spontaneous rate;
- the preferred/null ratio above background (R_pref - b) / (R_null - b),
  defined where R_null > b: the statistic Maunsell & Van Essen (1983, J
  Neurophysiol 49:1127) averaged over 168 MT units (mean 10.9). Where the
  null response is at or below the blank a ratio cannot be formed; the
  summary counts those units instead of dropping them silently.

A unit is *responsive* when its peak exceeds the blank by more than a stated
fraction of the block's median peak (`TuningThresholds.responsive_fraction`);
the class of a responsive unit follows `TuningThresholds`. A metric that has
no value for a unit is NaN; summaries report how many units have a value.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from stdann.errors import StdannError

#: Classes of a unit, in the order the summary lists them.
CLASSES = ("direction-selective", "bidirectional", "non-selective", "unresponsive")

#: Columns a drifting-grating table must have for `grating_tuning`
#: (those of `stdann.stimuli.drifting_gratings`; others are ignored).
GRATING_TABLE_COLUMNS = (
    "direction_deg",
    "spatial_frequency_cpd",
    "temporal_frequency_hz",
    "phase_deg",
    "contrast",
    "blank",
)

#: Per-unit arrays of a `DirectionTuning`, as `stdann analyze` saves them.
UNIT_ARRAYS = (
    "directions_deg",
    "curves",
    "blank",
    "preferred_deg",
    "vector",
    "axial_vector",
    "dsi",
    "di_blank",
    "ratio_above_blank",
    "cv",
    "axial_cv",
    "axial_ratio",
    "fwhm_deg",
    "bandwidth_deg",
    "peak_above_blank",
    "responsive",
)

# A harmonic smaller than this fraction of F_0 is rounding error: a flat or an
# exactly two-peaked curve has no first harmonic and so no preferred direction.
# Responses are recorded in float32, whose rounding over a curve of a few dozen
# samples leaves a harmonic of up to ~1e-6 of F_0; 1e-5 sits above that and
# far below any real tuning.
_NUMERICAL_ZERO = 1e-5

# Directions count as evenly spaced when every gap is within this of 360 / D.
_SPACING_TOLERANCE_DEG = 1e-6


class TuningError(StdannError, ValueError):
    """Responses, directions or a stimulus table that a tuning analysis cannot use."""


@dataclass(frozen=True)
class TuningThresholds:
    """Where the classes of `DirectionTuning.classes` begin.

    - responsive: the peak exceeds the blank, R_pref - b, by more than
      `responsive_fraction` times the median over the block's units of
      their peak R_pref (stdann's criterion: a physiologist's "responds
      above the spontaneous rate", scaled to the block, so that a unit
      whose peak is a sliver above the blank is not classed);
    - direction-selective: responsive and DSI >= `direction_selective_dsi`.
      The default 1/3 is a preferred response at least twice the null one
      (DI = 1 - null / pref >= 0.5), on the raw responses;
    - bidirectional: responsive, not direction-selective, the second circular
      harmonic at least `bidirectional_axial_ratio` times the first (the
      curve is more axial than directional) and the axial circular variance
      at most `bidirectional_axial_cv` (the axial tuning is real: a curve
      1 + m cos(2 theta) has axial CV 1 - m / 2, so 0.8 asks m >= 0.4);
    - non-selective: every other responsive unit.
    """

    responsive_fraction: float = 0.1
    direction_selective_dsi: float = 1.0 / 3.0
    bidirectional_axial_ratio: float = 1.0
    bidirectional_axial_cv: float = 0.8

    def __post_init__(self) -> None:
        checks = {
            "responsive_fraction": np.isfinite(self.responsive_fraction)
            and self.responsive_fraction >= 0,
            "direction_selective_dsi": 0 <= self.direction_selective_dsi <= 1,
            "bidirectional_axial_ratio": np.isfinite(self.bidirectional_axial_ratio)
            and self.bidirectional_axial_ratio >= 0,
            "bidirectional_axial_cv": 0 <= self.bidirectional_axial_cv <= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise TuningError(
                f"thresholds out of range: {', '.join(f'{n}={getattr(self, n)}' for n in bad)} "
                "(responsive_fraction and bidirectional_axial_ratio >= 0; "
                "direction_selective_dsi and bidirectional_axial_cv in [0, 1])"
            )

    @classmethod
    def of(cls, options: dict[str, float]) -> TuningThresholds:
        """Thresholds from keyword options, the defaults for those not given."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - names)
        if unknown:
            raise TuningError(
                f"unknown tuning thresholds {unknown}; the thresholds are {sorted(names)}"
            )
        return cls(**{k: float(v) for k, v in options.items()})


@dataclass
class DirectionTuning:
    """Direction tuning of U units measured at D directions (definitions: the
    module docstring).

    - `directions_deg` (D,): the directions, in [0, 360), ascending;
    - `curves` (D, U): the responses as recorded, nothing subtracted or clipped;
    - `blank` (U,): the response to the blank, b (0 when none was shown);
    - `preferred_deg` (U,): the angle of F_1, in [0, 360); NaN without one;
    - `vector` (U,) complex: F_1 / F_0 (modulus 1 - `cv`);
    - `axial_vector` (U,) complex: F_2 / F_0, angle twice the preferred axis;
    - `dsi` (U,): (R_pref - R_null) / (R_pref + R_null), raw responses;
    - `di_blank` (U,): 1 - (R_null - b) / (R_pref - b), NaN where R_pref <= b;
    - `ratio_above_blank` (U,): (R_pref - b) / (R_null - b), NaN where R_null <= b;
    - `cv` (U,), `axial_cv` (U,): 1 - |F_1| / F_0 and 1 - |F_2| / F_0;
    - `axial_ratio` (U,): |F_2| / |F_1|, inf for a purely axial curve;
    - `fwhm_deg` (U,): full width at half maximum around the peak, the half
      level halfway between the curve's minimum and its peak, crossings
      linearly interpolated between samples; 360 when the curve never falls
      to the half level (a flat curve);
    - `bandwidth_deg` (U,): the circular standard deviation of the curve
      read as a distribution of directions, sqrt(-2 ln(1 - cv)) in degrees
      (Mardia & Jupp 2000, Directional Statistics, section 2.3); inf for a
      curve with cv = 1;
    - `peak_above_blank` (U,): R_pref - b;
    - `responsive` (U,) bool and `classes` (U,) str: see `TuningThresholds`;
      `response_threshold` is the peak above the blank a responsive unit
      exceeds, in the units of the responses;
    - `condition`: per-unit values (U,) of the stimulus parameters the curves
      were taken at (`grating_tuning`: spatial and temporal frequency,
      contrast); empty when the caller gave the curves.
    """

    directions_deg: np.ndarray
    curves: np.ndarray
    blank: np.ndarray
    preferred_deg: np.ndarray
    vector: np.ndarray
    axial_vector: np.ndarray
    dsi: np.ndarray
    di_blank: np.ndarray
    ratio_above_blank: np.ndarray
    cv: np.ndarray
    axial_cv: np.ndarray
    axial_ratio: np.ndarray
    fwhm_deg: np.ndarray
    bandwidth_deg: np.ndarray
    peak_above_blank: np.ndarray
    responsive: np.ndarray
    classes: np.ndarray
    response_threshold: float
    thresholds: TuningThresholds = field(default_factory=TuningThresholds)
    condition: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def units(self) -> int:
        """U, the number of units."""
        return self.curves.shape[1]

    @property
    def direction_selective(self) -> np.ndarray:
        """(U,) bool: the units classed direction-selective."""
        return self.classes == "direction-selective"


def sorted_directions(directions_deg: npt.ArrayLike, evenly_spaced: bool = True) -> np.ndarray:
    """The order that sorts `directions_deg` (taken modulo 360) ascending.

    Raises TuningError unless the directions are finite, at least four,
    distinct modulo 360 and, when `evenly_spaced`, 360 / D apart: the circular
    harmonics weigh every sample alike, so uneven sampling would bias them.
    """
    d = np.asarray(directions_deg, dtype=np.float64)
    if d.ndim != 1 or len(d) < 4 or not np.all(np.isfinite(d)):
        raise TuningError(
            f"directions must be at least 4 finite angles in degrees, got {d.shape} {d[:8]}"
        )
    order = np.argsort(np.mod(d, 360.0), kind="stable")
    ascending = np.mod(d, 360.0)[order]
    gaps = np.diff(np.append(ascending, ascending[0] + 360.0))
    if np.any(gaps <= 0):
        raise TuningError(f"directions repeat (modulo 360): {d}")
    if evenly_spaced and np.any(np.abs(gaps - 360.0 / len(d)) > _SPACING_TOLERANCE_DEG):
        raise TuningError(
            f"directions must be evenly spaced around the circle (360 / {len(d)} = "
            f"{360.0 / len(d):g} deg apart), got {ascending}"
        )
    return order


def interpolate_tuning_curve(
    curves: npt.ArrayLike, directions_deg: npt.ArrayLike, at_deg: npt.ArrayLike
) -> np.ndarray:
    """Tuning curves (D, U) sampled at `directions_deg` (D,), read at `at_deg`.

    `at_deg` is (Q,) (the same angles for every unit) or (Q, U) (an angle per
    unit); the result is (Q, U). Between samples the value is the linear
    interpolation around the circle, so a sampled direction gives its sample.
    """
    r = np.asarray(curves, dtype=np.float64)
    order = sorted_directions(directions_deg, evenly_spaced=False)
    if r.ndim != 2 or r.shape[0] != len(order):
        raise TuningError(f"curves must be (D, U) with D = {len(order)} directions, got {r.shape}")
    d = np.mod(np.asarray(directions_deg, dtype=np.float64), 360.0)[order]
    r = r[order]
    at = np.asarray(at_deg, dtype=np.float64)
    if at.ndim == 1:
        at = at[:, None]
    if at.ndim != 2 or at.shape[1] not in (1, r.shape[1]):
        raise TuningError(f"angles must be (Q,) or (Q, U) with U = {r.shape[1]}, got {at.shape}")
    at = np.broadcast_to(np.mod(at, 360.0), (at.shape[0], r.shape[1]))
    # The circle unrolled: the last sample again before 0, the first after 360.
    grid = np.concatenate([[d[-1] - 360.0], d, [d[0] + 360.0]])
    values = np.concatenate([r[-1:], r, r[:1]])
    upper = np.clip(np.searchsorted(grid, at, side="right"), 1, len(grid) - 1)
    lower = upper - 1
    weight = (at - grid[lower]) / (grid[upper] - grid[lower])
    below = np.take_along_axis(values, lower, axis=0)
    above = np.take_along_axis(values, upper, axis=0)
    return below + weight * (above - below)


def _harmonic(curves: np.ndarray, theta: np.ndarray, n: int) -> np.ndarray:
    """F_n = sum_k r_k exp(i n theta_k) per unit (Ringach et al. 2002)."""
    return np.exp(1j * n * theta) @ curves


def _full_width_at_half_maximum(
    curves: np.ndarray, peak: np.ndarray, step_deg: float
) -> np.ndarray:
    """FWHM (degrees) around each unit's sampled peak; 360 when flat, NaN when zero."""
    d, u = curves.shape
    units = np.arange(u)
    top = curves[peak, units]
    bottom = curves.min(axis=0)
    half = bottom + (top - bottom) / 2
    flat = top <= bottom
    steps = np.arange(d)[:, None]
    widths = np.zeros(u)
    for sign in (+1, -1):
        # walk[k] is the curve k samples from the peak, on this side.
        walk = curves[np.mod(peak[None, :] + sign * steps, d), units[None, :]]
        fallen = walk <= half[None, :]
        fallen[0] = False
        # The minimum lies at most D - 1 steps away, so every non-flat curve falls.
        k = np.where(flat, d - 1, np.argmax(fallen, axis=0))
        before, after = walk[k - 1, units], walk[k, units]
        with np.errstate(invalid="ignore", divide="ignore"):
            part = (before - half) / (before - after)
        widths += np.where(flat, d / 2, k - 1 + np.nan_to_num(part))
    fwhm = np.minimum(widths * step_deg, 360.0)
    return np.where(top > 0, fwhm, np.nan)


def direction_tuning(
    responses: npt.ArrayLike,
    directions_deg: npt.ArrayLike,
    blank: npt.ArrayLike | None = None,
    **thresholds: float,
) -> DirectionTuning:
    """Direction tuning of U units from their responses (D, U) to D directions.

    `blank` (U,) is each unit's response to the blank, b (none: 0). The
    responses are used as given: nothing is subtracted or clipped (see the
    module docstring for every definition). `thresholds` are the fields of
    `TuningThresholds`. Directions must be evenly spaced, at least four; the
    result lists them ascending from 0.
    """
    limits = TuningThresholds.of(thresholds)
    r = np.asarray(responses, dtype=np.float64)
    order = sorted_directions(directions_deg)
    if r.ndim != 2 or r.shape[0] != len(order):
        raise TuningError(
            f"responses must be (D, U) with D = {len(order)} directions (one unit: reshape "
            f"to (D, 1)), got {r.shape}"
        )
    if not np.all(np.isfinite(r)):
        bad = np.unique(np.nonzero(~np.isfinite(r))[1])
        raise TuningError(f"responses are NaN or infinite for units {bad[:10].tolist()}")
    base = np.zeros(r.shape[1]) if blank is None else np.asarray(blank, dtype=np.float64)
    if base.shape != (r.shape[1],) or not np.all(np.isfinite(base)):
        raise TuningError(f"blank must be {r.shape[1]} finite responses (U,), got {base.shape}")

    directions = np.mod(np.asarray(directions_deg, dtype=np.float64), 360.0)[order]
    curves = r[order]
    theta = np.deg2rad(directions)
    f0 = curves.sum(axis=0)
    f1, f2 = _harmonic(curves, theta, 1), _harmonic(curves, theta, 2)
    scale = np.abs(curves).sum(axis=0)
    f1 = np.where(np.abs(f1) <= _NUMERICAL_ZERO * scale, 0, f1)
    f2 = np.where(np.abs(f2) <= _NUMERICAL_ZERO * scale, 0, f2)
    # The circular variances read the curve as a distribution of directions:
    # defined for responses >= 0 with some response.
    rates = (curves >= 0).all(axis=0) & (f0 > 0)
    safe = np.where(rates, f0, 1.0)

    vector = np.where(rates, f1 / safe, np.nan + 0j)
    axial_vector = np.where(rates, f2 / safe, np.nan + 0j)
    preferred = np.where(np.abs(f1) > 0, np.mod(np.rad2deg(np.angle(f1)), 360.0), np.nan)
    # |F_n| <= F_0 for responses >= 0; the clip only catches rounding.
    cv = np.where(rates, np.clip(1 - np.abs(f1) / safe, 0.0, 1.0), np.nan)
    axial_cv = np.where(rates, np.clip(1 - np.abs(f2) / safe, 0.0, 1.0), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        axial_ratio = np.where(rates, np.abs(f2) / np.abs(f1), np.nan)
        # Mardia & Jupp 2000, section 2.3: circular standard deviation sqrt(-2 ln R),
        # R = 1 - cv the mean resultant length (written as ln(1 / R) to keep +0).
        bandwidth = np.rad2deg(np.sqrt(2 * np.log(1 / (1 - cv))))

    units = np.arange(r.shape[1])
    peak = np.argmax(curves, axis=0)
    pref_response = curves[peak, units]
    null_response = interpolate_tuning_curve(curves, directions, (directions[peak] + 180.0)[None])[
        0
    ]
    above = pref_response - base
    with np.errstate(divide="ignore", invalid="ignore"):
        total = pref_response + null_response
        dsi = np.where(total > 0, (pref_response - null_response) / total, np.nan)
        di_blank = np.where(above > 0, 1 - (null_response - base) / above, np.nan)
        null_above = null_response - base
        ratio = np.where(null_above > 0, above / null_above, np.nan)
    fwhm = _full_width_at_half_maximum(curves, peak, 360.0 / len(directions))

    threshold = limits.responsive_fraction * float(np.median(pref_response)) if len(units) else 0
    responsive = above > threshold
    classes = np.full(r.shape[1], "non-selective", dtype=f"<U{max(map(len, CLASSES))}")
    with np.errstate(invalid="ignore"):
        bidirectional = (
            (dsi < limits.direction_selective_dsi)
            & (axial_ratio >= limits.bidirectional_axial_ratio)
            & (axial_cv <= limits.bidirectional_axial_cv)
        )
        classes[bidirectional] = "bidirectional"
        classes[dsi >= limits.direction_selective_dsi] = "direction-selective"
    classes[~responsive] = "unresponsive"
    return DirectionTuning(
        directions_deg=directions,
        curves=curves,
        blank=base,
        preferred_deg=preferred,
        vector=vector,
        axial_vector=axial_vector,
        dsi=dsi,
        di_blank=di_blank,
        ratio_above_blank=ratio,
        cv=cv,
        axial_cv=axial_cv,
        axial_ratio=axial_ratio,
        fwhm_deg=fwhm,
        bandwidth_deg=bandwidth,
        peak_above_blank=above,
        responsive=responsive,
        classes=classes,
        response_threshold=float(threshold),
        thresholds=limits,
    )


def stimulus_columns(
    responses: npt.ArrayLike, table: dict[str, np.ndarray], needed: tuple[str, ...], what: str
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(responses (N, U) as float64, the `needed` columns of a stimulus table),
    checked: every column there, and a row of responses per table row.
    `what` names the table in the errors ("drifting-grating", "plaid")."""
    r = np.asarray(responses, dtype=np.float64)
    missing = [c for c in needed if c not in table]
    if missing:
        raise TuningError(
            f"the {what} table lacks columns {missing} (a {what} table has {list(needed)})"
        )
    columns = {c: np.asarray(table[c]) for c in needed}
    n = len(columns["blank"])
    if r.ndim != 2 or r.shape[0] != n or any(v.shape != (n,) for v in columns.values()):
        raise TuningError(
            f"{what} responses must be (N, U) with a row per table row (N = {n}), got "
            f"{r.shape}; columns { ({k: v.shape for k, v in columns.items()}) }"
        )
    return r, columns


def grating_tuning(
    responses: npt.ArrayLike, table: dict[str, np.ndarray], **thresholds: float
) -> DirectionTuning:
    """Direction tuning of U units from their responses (N, U) to a drifting-grating set.

    `table` has a row per stimulus with the columns of `GRATING_TABLE_COLUMNS`
    (as `stdann.stimuli.drifting_gratings` writes them). Responses to the
    highest contrast are averaged over phases (and repeats); each unit's
    curve is taken at its preferred spatial and temporal frequency, the pair
    whose mean response over directions is largest; the blank is the mean
    response to the blank rows (0 when there are none). Every direction must
    have been shown at every frequency pair. `thresholds` as in
    `direction_tuning`.
    """
    r, columns = stimulus_columns(responses, table, GRATING_TABLE_COLUMNS, "drifting-grating")
    is_blank = columns["blank"].astype(bool)
    blank = r[is_blank].mean(axis=0) if is_blank.any() else np.zeros(r.shape[1])
    contrast = columns["contrast"].astype(np.float64)
    if not (~is_blank).any():
        raise TuningError("the stimulus table has no grating rows (only blanks)")
    shown = ~is_blank & (contrast == contrast[~is_blank].max())

    directions, d_index = np.unique(columns["direction_deg"][shown], return_inverse=True)
    frequencies = np.stack(
        [columns["spatial_frequency_cpd"][shown], columns["temporal_frequency_hz"][shown]], axis=1
    ).astype(np.float64)
    pairs, p_index = np.unique(frequencies, axis=0, return_inverse=True)
    p_index = p_index.reshape(-1)
    cells = len(directions) * len(pairs)
    cell = d_index * len(pairs) + p_index
    counts = np.bincount(cell, minlength=cells)
    if np.any(counts == 0):
        d_gap, p_gap = divmod(int(np.argmin(counts)), len(pairs))
        raise TuningError(
            f"no grating at direction {directions[d_gap]:g} deg, spatial frequency "
            f"{pairs[p_gap, 0]:g} cpd, temporal frequency {pairs[p_gap, 1]:g} Hz: "
            "every direction must be shown at every frequency pair"
        )
    sums = np.zeros((cells, r.shape[1]))
    np.add.at(sums, cell, r[shown])
    means = (sums / counts[:, None]).reshape(len(directions), len(pairs), r.shape[1])
    best = np.argmax(means.mean(axis=0), axis=0)
    curves = np.take_along_axis(means, best[None, None, :], axis=1)[:, 0, :]

    tuning = direction_tuning(curves, directions, blank, **thresholds)
    tuning.condition = {
        "spatial_frequency_cpd": pairs[best, 0],
        "temporal_frequency_hz": pairs[best, 1],
        "contrast": np.full(r.shape[1], contrast[shown][0]),
    }
    return tuning


def median_and_quartiles(values: npt.ArrayLike) -> dict[str, Any]:
    """{"n", "q1", "median", "q3"}: how many values are not NaN, and their
    quartiles as plain floats (linear interpolation between order statistics,
    NumPy's default), None when there are none.

    Written out because NumPy's interpolation turns a pair of infinities into NaN.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = np.sort(v[~np.isnan(v)])
    out: dict[str, Any] = {"n": len(v)}
    for name, q in (("q1", 0.25), ("median", 0.5), ("q3", 0.75)):
        if len(v) == 0:
            out[name] = None
            continue
        position = q * (len(v) - 1)
        lo, hi = int(np.floor(position)), int(np.ceil(position))
        a, b = v[lo], v[hi]
        out[name] = float(a if a == b else a + (position - lo) * (b - a))
    return out


def median_interval(
    values: npt.ArrayLike, confidence: float = 0.95, resamples: int = 1000, seed: int = 0
) -> list[float] | None:
    """A percentile-bootstrap interval of the median of `values` (NaN left out;
    `scipy.stats.bootstrap`, seeded so a report is reproducible); None for
    fewer than 2 finite values. Infinities count as values (an infinite
    median gives an infinite bound)."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[~np.isnan(v)]
    if v.size < 2 or np.all(v == v[0]):
        return None if v.size < 2 else [float(v[0]), float(v[0])]
    result = stats.bootstrap(
        (v,),
        np.median,
        confidence_level=confidence,
        n_resamples=resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return [float(result.confidence_interval.low), float(result.confidence_interval.high)]


#: Per-unit metrics the summary gives quartiles of, over the responsive units;
#: those marked True also get a bootstrap 95% interval of the median.
SUMMARY_METRICS = {
    "dsi": True,
    "di_blank": True,
    "cv": True,
    "axial_cv": False,
    "axial_ratio": False,
    "fwhm_deg": False,
    "bandwidth_deg": False,
}


def pref_null_ratio_summary(tuning: DirectionTuning, units: np.ndarray) -> dict[str, Any]:
    """Maunsell & Van Essen's statistic over the `units` (U,) bool: the mean
    over units of (R_pref - b) / (R_null - b), with the units where no ratio
    can be formed (R_null <= b) counted, not dropped in silence."""
    ratio = tuning.ratio_above_blank[units]
    formed = np.isfinite(ratio)
    return {
        "units": int(units.sum()),
        "n": int(formed.sum()),
        "null_at_or_below_blank": int((~formed).sum()),
        "mean": float(ratio[formed].mean()) if formed.any() else None,
        **{k: v for k, v in median_and_quartiles(ratio[formed]).items() if k != "n"},
    }


def summarize(
    tuning: DirectionTuning, seed: int = 0, channels: int | None = None
) -> dict[str, Any]:
    """Population numbers of a tuning for the report, as plain JSON data.

    The fraction of units that respond (and the response threshold used),
    the count and fraction of each class among the responsive units, the
    median and quartiles (with the count of units that have a value) of every
    metric of `SUMMARY_METRICS` over the responsive units (with a bootstrap
    95% interval of the median where marked), Maunsell & Van Essen's
    preferred/null ratio above background over the responsive units, and the
    population statistics of the direction-selective units' preferred
    directions (`stdann.analysis.population`). None wherever nothing is
    defined. The axial ratio and bandwidth may be inf (a purely axial or a
    flat curve).

    With `channels` (the block's units in (C, H, W) order, C = `channels`),
    the preferred directions are summarised once more over channels
    (`preferred_direction["by_channel"]`): each channel with a
    direction-selective unit counts once, at the circular mean of its
    direction-selective units' preferences. A convolution shares a channel's
    weights across positions and a full-field grating reaches them all alike,
    so a channel's units are near-copies: over channels, the histogram counts
    each kind of unit once, and `n` says how many kinds there are.
    """
    from stdann.analysis.population import preferred_direction_statistics

    units = tuning.units
    responsive = tuning.responsive.astype(bool)
    count = int(responsive.sum())
    counts = {c: int(np.sum(tuning.classes[responsive] == c)) for c in CLASSES[:-1]}
    fractions = {c: (counts[c] / count if count else None) for c in CLASSES[:-1]}
    metrics: dict[str, Any] = {}
    for name, interval in SUMMARY_METRICS.items():
        values = np.asarray(getattr(tuning, name), dtype=np.float64)[responsive]
        metrics[name] = median_and_quartiles(values)
        if interval:
            metrics[name]["median_ci95"] = median_interval(values, seed=seed)
    return {
        "units": units,
        "responsive": count,
        "fraction_responsive": count / units if units else None,
        "response_threshold": tuning.response_threshold,
        "class_counts": counts,
        "class_fractions": fractions,
        **metrics,
        "pref_null_ratio_above_blank": pref_null_ratio_summary(tuning, responsive),
        "preferred_direction": preferred_direction_statistics(
            tuning.preferred_deg[tuning.direction_selective]
        )
        | ({} if channels is None else {"by_channel": _by_channel(tuning, channels)}),
        "thresholds": dataclasses.asdict(tuning.thresholds),
    }


def _by_channel(tuning: DirectionTuning, channels: int) -> dict[str, Any]:
    """`preferred_direction_statistics` over channels: each channel with a
    direction-selective unit once, at its units' circular mean preference."""
    from stdann.analysis.population import preferred_direction_statistics

    if channels < 1 or tuning.units % channels:
        raise TuningError(f"{tuning.units} units do not split into {channels} channels")
    selective = (tuning.direction_selective & np.isfinite(tuning.preferred_deg)).reshape(
        channels, -1
    )
    vectors = np.where(
        selective,
        np.exp(1j * np.deg2rad(np.nan_to_num(tuning.preferred_deg))).reshape(channels, -1),
        0,
    )
    has = selective.any(axis=1)
    mean = np.rad2deg(np.angle(vectors[has].sum(axis=1)))
    return preferred_direction_statistics(mean)
