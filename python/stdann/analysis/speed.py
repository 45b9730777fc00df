"""Speed tuning: a Gaussian in log speed fitted to each unit's speed curve.

The model is that of Nover, Anderson & DeAngelis 2005 (J Neurosci 25:10049),
in their notation:

    R(v) = A exp(-(ln q)^2 / (2 sigma^2)) + b,    q = (v + s0) / (v_pref + s0)

- `preferred_speed` v_pref (deg/s): the peak; the curve is largest there;
- `offset` s0 >= 0 (deg/s): a constant added to every speed, which keeps the
  logarithm finite at v = 0 and flattens the curve's slow flank. It is not a
  preferred speed: Anderson, Nover & DeAngelis 2003's "v0 (mean = 0.30
  deg/sec)" is this offset (see `stdann.analysis.macaque`);
- `sigma`: the width in natural-log units (their mean 1.22);
- A > 0 the amplitude and b the baseline. Responses go in raw (not
  blank-subtracted, nothing clipped): b absorbs the blank.

The fit is deterministic. A grid search over (v_pref, sigma, s0), vectorised
over units, with A and b solved by least squares at every grid point, finds a
start away from the wrong local minima; `scipy.optimize.least_squares`
(trust-region reflective, within bounds, analytic Jacobian) then refines each
unit on its own, so a unit's fit does not depend on the other units. It
searches (ln v_pref, ln sigma, s0) with A >= 0 and b solved by least squares
at every step (variable projection: Golub & Pereyra 1973, with Kaufman's 1975
Jacobian), which takes fewer steps than searching all five. v_pref is
searched well beyond the speeds shown, between the slowest nonzero speed
divided by `extend` and the fastest multiplied by it (8 by default: three
octaves either side); sigma in [0.15, 6]; s0 in [0, the fastest speed shown].
About 2 ms a unit (2,000 units of 8 speeds in 3-4 s on 2 shared cores).

Each unit is classed by where its fitted peak lies against the speeds shown
(`SPEED_CLASSES`), none dropped:

- `tuned`: v_pref within [slowest nonzero speed, fastest speed] shown (within
  0.1%, the fit's precision, of either end): the response falls on both sides
  of a peak that the speeds bracket;
- `low-pass`: v_pref below the slowest nonzero speed: over the speeds shown
  the fitted curve only falls;
- `high-pass`: v_pref above the fastest speed: the fitted curve only rises;
- `unfitted`: a flat curve, or one that no log-Gaussian with A > 0 fits better
  than a constant (or the refinement failed); every parameter is NaN.

A zero speed, when shown, constrains s0 and b but does not widen the range of
`tuned`: on a log axis the span from 0 to the slowest nonzero speed is not
sampled. Lagae, Raiguel & Orban 1993 classed macaque MT cells as low pass,
tuned and broadband (`stdann.analysis.macaque`); their broadband is not our
high-pass, so set the two class lists side by side with that caveat. The
preferred speeds of low- and high-pass units are the fit's extrapolation (or
the edge of the search when `at_bound`), not measured peaks: the summary's
quartiles of v_pref, s0 and sigma are over tuned units only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import least_squares

from stdann.analysis.tuning import TuningError, median_and_quartiles

#: The classes of `SpeedTuning.speed_class`, in the order the summary lists them.
SPEED_CLASSES = ("tuned", "low-pass", "high-pass", "unfitted")

#: The model, as the summary states it.
MODEL = (
    "R(v) = A exp(-(ln q)^2 / (2 sigma^2)) + b, q = (v + s0) / (v_pref + s0) "
    "(Nover, Anderson & DeAngelis 2005)"
)

_SIGMA_RANGE = (0.15, 6.0)
# Grids of the first search: v_pref over its search range, natural-log widths,
# and s0 in units of the slowest nonzero speed (0 first: the plain log-Gaussian).
_V_PREF_POINTS = 40
_SIGMA_POINTS = 16
_S0_GRID = np.concatenate([[0.0], np.geomspace(0.05, 20.0, 8)])
_UNITS_PER_CHUNK = 256
# A peak within this relative distance of an end speed shown counts as inside.
_EDGE_TOLERANCE = 1e-3
# The refinement: least_squares' ftol, xtol and gtol, and its most evaluations a unit.
_TOLERANCE = 1e-9
_MAX_EVALUATIONS = 200


@dataclass
class SpeedTuning:
    """Log-Gaussian speed tuning of U units measured at S speeds.

    - `speeds_deg_per_s` (S,): the speeds, ascending; `curves` (S, U): the
      responses fitted, in that order;
    - `preferred_speed` (U,): v_pref, deg/s, the peak; `offset` (U,): s0,
      deg/s; `sigma` (U,): the width in natural-log units; `amplitude` (U,): A;
      `baseline` (U,): b (NaN where `speed_class` is unfitted);
    - `r_squared` (U,): 1 - residual / total sum of squares;
    - `half_maximum_ratio` (U,): the fastest over the slowest speed at which
      the fitted curve is half its peak above the baseline (inf when the
      slower lies at or below zero speed);
    - `speed_class` (U,) str: one of `SPEED_CLASSES` (see the module);
    - `at_bound` (U,) bool: v_pref lies at an end of its search range
      `preferred_speed_search_range`, so it is an edge, not a fitted peak;
    - `tested_range` (slowest nonzero, fastest) deg/s: the range of `tuned`;
    - `blank` (U,): the blank response handed in, NaN where none was.
    """

    speeds_deg_per_s: np.ndarray
    curves: np.ndarray
    preferred_speed: np.ndarray
    offset: np.ndarray
    sigma: np.ndarray
    amplitude: np.ndarray
    baseline: np.ndarray
    r_squared: np.ndarray
    half_maximum_ratio: np.ndarray
    speed_class: np.ndarray
    at_bound: np.ndarray
    preferred_speed_search_range: tuple[float, float]
    tested_range: tuple[float, float]
    blank: np.ndarray = field(default_factory=lambda: np.empty(0))

    @property
    def fitted(self) -> np.ndarray:
        """(U,) bool: the units with a fit (every class but unfitted)."""
        return self.speed_class != "unfitted"

    @property
    def sigma_at_bound(self) -> np.ndarray:
        """(U,) bool: sigma at the lower end of its search range, a curve that
        peaks on one speed sample: its width is below what the speeds shown
        resolve (an octave apart, ln 2 = 0.69 in sigma's units)."""
        with np.errstate(invalid="ignore"):
            return self.sigma <= _SIGMA_RANGE[0] * (1 + 1e-3)

    @property
    def tuned(self) -> np.ndarray:
        """(U,) bool: the units whose peak lies inside the speeds shown."""
        return self.speed_class == "tuned"

    def predict(self, speeds_deg_per_s: npt.ArrayLike) -> np.ndarray:
        """The fitted curves (Q, U) at speeds (Q,) deg/s; NaN for units not fitted."""
        v = np.asarray(speeds_deg_per_s, dtype=np.float64).reshape(-1, 1)
        shape = log_gaussian(v, self.preferred_speed, self.sigma, self.offset)
        return self.amplitude * shape + self.baseline

    def summary(self, responsive: npt.ArrayLike | None = None) -> dict[str, Any]:
        """Population numbers as plain JSON data, over the units `responsive`
        (U,) bool picks (all when None).

        Keys: `units` (counted), `fitted` and `fraction_fitted`; `classes`:
        {class: {"count", "fraction"}} for each of `SPEED_CLASSES`, fractions
        of the units counted; `preferred_speed_deg_per_s` (v_pref),
        `offset_deg_per_s` (s0), `sigma` (over the tuned units whose sigma is not
        at its lower bound, counted in `sigma_at_lower_bound`), `half_maximum_ratio` and
        `baseline_minus_blank` (b minus the blank, where one was handed in):
        {"n", "q1", "median", "q3"} over the tuned units; `r_squared` the same
        over every fitted unit; `speeds_deg_per_s`, `tested_range_deg_per_s`,
        `preferred_speed_search_range_deg_per_s` and `model`. None where
        nothing is defined.
        """
        classes = self.speed_class
        keep = np.ones(len(classes), bool)
        if responsive is not None:
            keep = np.asarray(responsive, dtype=bool)
            if keep.shape != classes.shape:
                raise TuningError(
                    f"responsive must be (U,) bool with U = {len(classes)}, got {keep.shape}"
                )
        count = int(keep.sum())
        counts = {c: int((keep & (classes == c)).sum()) for c in SPEED_CLASSES}
        fitted = keep & self.fitted
        tuned = keep & self.tuned
        n_fitted = int(fitted.sum())
        blank = self.blank if len(self.blank) == len(classes) else np.full(len(classes), np.nan)
        return {
            "units": count,
            "fitted": n_fitted,
            "fraction_fitted": n_fitted / count if count else None,
            "classes": {
                c: {"count": n, "fraction": n / count if count else None} for c, n in counts.items()
            },
            "preferred_speed_deg_per_s": median_and_quartiles(self.preferred_speed[tuned]),
            "offset_deg_per_s": median_and_quartiles(self.offset[tuned]),
            # A width at the search's lower bound is a peak on one speed sample:
            # narrower than the sampling can tell, so not a measured width.
            "sigma": median_and_quartiles(self.sigma[tuned & ~self.sigma_at_bound]),
            "sigma_at_lower_bound": int((tuned & self.sigma_at_bound).sum()),
            "half_maximum_ratio": median_and_quartiles(self.half_maximum_ratio[tuned]),
            "baseline_minus_blank": median_and_quartiles((self.baseline - blank)[tuned]),
            "r_squared": median_and_quartiles(self.r_squared[fitted]),
            "speeds_deg_per_s": [float(x) for x in self.speeds_deg_per_s],
            "tested_range_deg_per_s": [float(x) for x in self.tested_range],
            "preferred_speed_search_range_deg_per_s": [
                float(x) for x in self.preferred_speed_search_range
            ],
            "model": MODEL,
        }


def log_gaussian(
    speeds: npt.ArrayLike,
    preferred_speed: npt.ArrayLike,
    sigma: npt.ArrayLike,
    offset: npt.ArrayLike,
) -> np.ndarray:
    """exp(-(ln q)^2 / (2 sigma^2)), q = (v + s0) / (v_pref + s0) (Nover et al.
    2005), broadcast over its arguments; 0 at v = 0 when s0 = 0."""
    v, v_pref, sigma, s0 = (
        np.asarray(x, dtype=np.float64) for x in (speeds, preferred_speed, sigma, offset)
    )
    with np.errstate(divide="ignore"):
        log_q = np.log(v + s0) - np.log(v_pref + s0)
    return np.exp(-(log_q**2) / (2 * sigma**2))


def _profile(v: np.ndarray, data: np.ndarray, q: np.ndarray):
    """The fit at nonlinear parameters q = (ln v_pref, ln sigma, s0), with A >= 0
    and b solved by least squares (variable projection, Golub & Pereyra 1973):
    residuals (S,), their Jacobian (S, 3) in Kaufman's (1975) form, A and b.
    `v` (S,) ascending. Written for speed on one unit: it runs ~10 times a fit."""
    v_pref, sigma, s0 = math.exp(q[0]), math.exp(q[1]), float(q[2])
    shifted, peak = v + s0, v_pref + s0
    if shifted[0] > 0:
        log_q = np.log(shifted) - math.log(peak)
        inverse = 1 / shifted
        g = np.exp(log_q * log_q * (-0.5 / sigma**2))
    else:  # v = s0 = 0: the shape is 0 there, and so is every derivative
        live = shifted > 0
        log_q = np.zeros_like(v)
        log_q[live] = np.log(shifted[live]) - math.log(peak)
        inverse = np.zeros_like(v)
        inverse[live] = 1 / shifted[live]
        g = np.where(live, np.exp(log_q * log_q * (-0.5 / sigma**2)), 0.0)
    c = log_q * g / sigma**2  # d g / d ln q = -c
    # d ln q / d ln v_pref = -v_pref / (v_pref + s0); d ln q / d s0 = 1 / (v + s0) - 1 / (v_pref + s0).
    dg = np.empty((len(v), 3))
    dg[:, 0] = c * (v_pref / peak)
    dg[:, 1] = c * log_q
    dg[:, 2] = c * (1 / peak - inverse)
    n = len(v)
    g_centred = g - g.sum() / n
    variance = g_centred @ g_centred
    mean = data.sum() / n
    amplitude = max(g_centred @ data / variance, 0.0) if variance > 1e-300 else 0.0
    baseline = mean - amplitude * (g.sum() / n)
    # The residual A g + b - y moves with q through g only; projecting A dg/dq off
    # the span of (1, g) gives Kaufman's Jacobian of the projected residual.
    dg -= dg.sum(axis=0) / n
    dg *= amplitude
    if variance > 1e-300:
        dg -= np.outer(g_centred, (g_centred @ dg) / variance)
    return amplitude * g + baseline - data, dg, amplitude, baseline


def _refine(
    v: np.ndarray, data: np.ndarray, start: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> tuple[np.ndarray, bool]:
    """least_squares over (ln v_pref, ln sigma, s0) from `start` (3,) within
    [lower, upper]; (A, b, ln v_pref, ln sigma, s0) and whether it ran."""
    last: dict[bytes, tuple] = {}

    def profile(q: np.ndarray) -> tuple:
        key = q.tobytes()
        if key not in last:  # the residuals and the Jacobian come from one evaluation
            last.clear()
            last[key] = _profile(v, data, q)
        return last[key]

    result = least_squares(
        lambda q: profile(q)[0],
        np.clip(start, lower, upper),
        jac=lambda q: profile(q)[1],
        bounds=(lower, upper),
        method="trf",
        x_scale="jac",
        ftol=_TOLERANCE,
        xtol=_TOLERANCE,
        gtol=_TOLERANCE,
        max_nfev=_MAX_EVALUATIONS,
    )
    _, _, amplitude, baseline = _profile(v, data, result.x)
    params = np.concatenate([[amplitude, baseline], result.x])
    return params, bool(result.status >= 0 and np.all(np.isfinite(params)))


def speed_tuning(
    responses: npt.ArrayLike,
    speeds_deg_per_s: npt.ArrayLike,
    extend: float = 8.0,
    refine: bool = True,
    blank: npt.ArrayLike | None = None,
) -> SpeedTuning:
    """Fit the log-Gaussian of Nover et al. 2005 to each unit's responses (S, U)
    to S speeds (deg/s, >= 0, at least 5 distinct, two of them nonzero).

    Responses are raw (post-ReLU, not blank-subtracted, nothing clipped): the
    baseline b absorbs the blank. `blank` (U,), optional, is each unit's
    response to the blank, kept for the summary's `baseline_minus_blank`; the
    fit does not use it. v_pref is searched in [slowest nonzero speed / extend,
    fastest * extend]; `refine` runs least_squares after the grid (without
    it, the parameters are the best grid point's). Deterministic: the same
    inputs give the same fits, whatever the number of units.
    """
    r = np.asarray(responses, dtype=np.float64)
    v = np.asarray(speeds_deg_per_s, dtype=np.float64)
    if v.ndim != 1 or not np.all(np.isfinite(v)) or np.any(v < 0):
        raise TuningError(f"speeds must be finite and >= 0 (S,), got {v}")
    if len(np.unique(v)) != len(v) or len(v) < 5 or np.count_nonzero(v) < 2:
        raise TuningError(
            f"speeds must be at least 5 distinct values, two of them nonzero, for the "
            f"5 parameters of the fit; got {v}"
        )
    if r.ndim != 2 or r.shape[0] != len(v):
        raise TuningError(
            f"responses must be (S, U) with S = {len(v)} speeds (one unit: reshape to (S, 1)), "
            f"got {r.shape}"
        )
    if not np.all(np.isfinite(r)):
        bad = np.unique(np.nonzero(~np.isfinite(r))[1])
        raise TuningError(f"responses are NaN or infinite for units {bad[:10].tolist()}")
    if not (np.isfinite(extend) and extend >= 1):
        raise TuningError(f"extend must be a number >= 1, got {extend}")
    units = r.shape[1]
    if blank is None:
        blank_values = np.full(units, np.nan)
    else:
        blank_values = np.asarray(blank, dtype=np.float64)
        if blank_values.shape != (units,):
            raise TuningError(f"blank must be (U,) with U = {units}, got {blank_values.shape}")

    order = np.argsort(v)
    v, r = v[order], r[order]
    slowest, fastest = float(v[v > 0].min()), float(v.max())
    search = (slowest / extend, fastest * extend)
    lower = np.array([np.log(search[0]), np.log(_SIGMA_RANGE[0]), 0.0])
    upper = np.array([np.log(search[1]), np.log(_SIGMA_RANGE[1]), fastest])

    centred = (r - r.mean(axis=0)).T  # (U, S)
    total = (centred**2).sum(axis=1)
    flat = total <= 1e-20 * np.maximum((r**2).sum(axis=0), 1e-300)

    # Grid search: the shapes do not depend on the unit, so (K, S) @ (S, U).
    grid = [
        x.ravel()
        for x in np.meshgrid(
            np.geomspace(*search, _V_PREF_POINTS),
            np.geomspace(*_SIGMA_RANGE, _SIGMA_POINTS),
            _S0_GRID * slowest,
        )
    ]
    shapes = log_gaussian(v[None, :], *(x[:, None] for x in grid))
    shapes = shapes - shapes.mean(axis=1, keepdims=True)
    variance = (shapes**2).sum(axis=1)
    best = np.zeros(units, dtype=np.int64)
    usable_any = np.zeros(units, dtype=bool)
    for start in range(0, units, _UNITS_PER_CHUNK):
        part = slice(start, start + _UNITS_PER_CHUNK)
        covariance = shapes @ centred[part].T  # (K, chunk)
        usable = (covariance > 0) & (variance[:, None] > 1e-12)
        gain = np.where(usable, covariance**2 / np.where(usable, variance[:, None], 1.0), 0.0)
        best[part] = np.argmax(gain, axis=0)
        usable_any[part] = usable.any(axis=0)
    covariance = (shapes[best] * centred).sum(axis=1)
    amplitude = np.where(usable_any, covariance / np.maximum(variance[best], 1e-300), 0.0)
    g_v_pref, g_sigma, g_s0 = (x[best] for x in grid)
    g_shape = log_gaussian(v[None, :], g_v_pref[:, None], g_sigma[:, None], g_s0[:, None])
    params = np.stack(
        [
            amplitude,
            r.mean(axis=0) - amplitude * g_shape.mean(axis=1),
            np.log(g_v_pref),
            np.log(g_sigma),
            g_s0,
        ],
        axis=1,
    )
    candidate = usable_any & ~flat & (amplitude > 0)
    converged = candidate.copy()
    if refine:
        columns = np.ascontiguousarray(r.T)  # a unit's data alike in a batch and alone
        for u in np.flatnonzero(candidate):
            params[u], converged[u] = _refine(v, columns[u], params[u, 2:], lower, upper)

    amplitude, baseline = params[:, 0], params[:, 1]
    v_pref, sigma, s0 = np.exp(params[:, 2]), np.exp(params[:, 3]), params[:, 4]
    predictions = amplitude[:, None] * log_gaussian(v, v_pref[:, None], sigma[:, None], s0[:, None])
    residual = ((predictions + baseline[:, None] - r.T) ** 2).sum(axis=1)
    fitted = converged & (amplitude > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r_squared = 1 - residual / total
    low = v_pref < slowest * (1 - _EDGE_TOLERANCE)
    high = v_pref > fastest * (1 + _EDGE_TOLERANCE)
    speed_class = np.where(
        ~fitted, "unfitted", np.where(low, "low-pass", np.where(high, "high-pass", "tuned"))
    )
    at_bound = fitted & ((params[:, 2] <= lower[0] + 1e-6) | (params[:, 2] >= upper[0] - 1e-6))
    # Half maximum where (ln q)^2 = 2 ln 2 sigma^2: v = (v_pref + s0) exp(+-w) - s0.
    width = sigma * np.sqrt(2 * np.log(2))
    fast = (v_pref + s0) * np.exp(width) - s0
    slow = (v_pref + s0) * np.exp(-width) - s0
    with np.errstate(divide="ignore"):
        ratio = np.where(slow > 0, fast / np.where(slow > 0, slow, 1.0), np.inf)

    def defined(x: np.ndarray) -> np.ndarray:
        return np.where(fitted, x, np.nan)

    return SpeedTuning(
        speeds_deg_per_s=v,
        curves=r,
        preferred_speed=defined(v_pref),
        offset=defined(s0),
        sigma=defined(sigma),
        amplitude=defined(amplitude),
        baseline=defined(baseline),
        r_squared=defined(r_squared),
        half_maximum_ratio=defined(ratio),
        speed_class=speed_class,
        at_bound=at_bound,
        preferred_speed_search_range=(float(search[0]), float(search[1])),
        tested_range=(slowest, fastest),
        blank=blank_values,
    )
