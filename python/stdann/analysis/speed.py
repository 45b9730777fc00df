"""Speed tuning: a Gaussian in log speed fitted to each unit's speed curve.

The model is that of Nover, Anderson & DeAngelis 2005 (J Neurosci 25:10049):

    R(v) = A exp(-(ln q(v))^2 / (2 sigma^2)) + b,    q(v) = (v + s0) / (v0 + s0)

with v0 the preferred speed (the model peaks there), sigma the width in
natural-log units, s0 >= 0 an offset that keeps the logarithm finite and lets
the curve flatten toward zero speed, A > 0 the amplitude and b the baseline.

The fit is deterministic and vectorised over units: a grid search over
(v0, sigma, s0), with A and b solved by least squares at every grid point,
then Levenberg-Marquardt on all five parameters from the best grid point,
within the grid's bounds (sigma in [0.15, 6], s0 in [0, the fastest speed]).
The grid keeps the fit out of the wrong local minimum; the refinement makes
it exact on noise-free curves. v0 is searched between the slowest nonzero speed divided by
`extend` and the fastest multiplied by it; a unit whose best v0 lies on that
edge is low- or high-pass over the speeds shown (`at_bound`), and its v0 is
the edge, not a peak.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from stdann.analysis.tuning import TuningError, median_and_quartiles

# Grids of the first search: natural-log widths, and s0 in units of the slowest
# nonzero speed (0 first: the plain log-Gaussian).
_SIGMA_RANGE = (0.15, 6.0)
_SIGMA_POINTS = 16
_V0_POINTS = 32
_S0_GRID = np.concatenate([[0.0], np.geomspace(0.05, 20.0, 8)])
_REFINE_STEPS = 200  # a ceiling: each unit stops when its steps no longer help
_UNITS_PER_CHUNK = 1024


@dataclass
class SpeedTuning:
    """Log-Gaussian speed tuning of U units measured at S speeds.

    - `speeds_deg_per_s` (S,): the speeds, ascending; `curves` (S, U): the
      responses fitted, in that order;
    - `preferred_speed` (U,): v0, deg/s; `sigma` (U,): the width in natural-log
      units; `offset` (U,): s0, deg/s; `amplitude` (U,): A; `baseline` (U,): b;
    - `r_squared` (U,): 1 - residual / total sum of squares;
    - `half_maximum_ratio` (U,): the fastest over the slowest speed at which
      the fitted curve is half its peak above the baseline (inf when the
      slower lies at or below zero speed);
    - `fitted` (U,) bool: a tuned curve (A > 0) was found; where not (a flat
      curve, or one no log-Gaussian with A > 0 fits better than a constant)
      every parameter is NaN;
    - `at_bound` (U,) bool: v0 lies at an end of its search range
      (`v0_range`), so the unit is low- or high-pass over the speeds shown.
    """

    speeds_deg_per_s: np.ndarray
    curves: np.ndarray
    preferred_speed: np.ndarray
    sigma: np.ndarray
    offset: np.ndarray
    amplitude: np.ndarray
    baseline: np.ndarray
    r_squared: np.ndarray
    half_maximum_ratio: np.ndarray
    fitted: np.ndarray
    at_bound: np.ndarray
    v0_range: tuple[float, float]

    def predict(self, speeds_deg_per_s: npt.ArrayLike) -> np.ndarray:
        """The fitted curves (Q, U) at speeds (Q,) deg/s; NaN for units not fitted."""
        v = np.asarray(speeds_deg_per_s, dtype=np.float64).reshape(-1, 1)
        shape = log_gaussian(v, self.preferred_speed, self.sigma, self.offset)
        return self.amplitude * shape + self.baseline

    def summary(self, responsive: npt.ArrayLike | None = None) -> dict[str, Any]:
        """Population numbers as plain JSON data, over the units `responsive`
        (U,) bool picks (all when None): how many were fitted and how many of
        those sit at a bound of v0, and the quartiles over fitted units of v0
        (only those not at a bound: an edge is not a preference), sigma, the
        half-maximum speed ratio and R^2. None where nothing is defined."""
        keep = np.ones(len(self.fitted), bool)
        if responsive is not None:
            keep = np.asarray(responsive, dtype=bool)
            if keep.shape != self.fitted.shape:
                raise TuningError(
                    f"responsive must be (U,) bool with U = {len(self.fitted)}, got {keep.shape}"
                )
        fitted = keep & self.fitted
        tuned = fitted & ~self.at_bound
        count, n_fitted = int(keep.sum()), int(fitted.sum())
        return {
            "units": count,
            "fitted": n_fitted,
            "fraction_fitted": n_fitted / count if count else None,
            "fraction_at_bound": float(np.mean(self.at_bound[fitted])) if n_fitted else None,
            "preferred_speed_deg_per_s": median_and_quartiles(self.preferred_speed[tuned]),
            "sigma": median_and_quartiles(self.sigma[fitted]),
            "half_maximum_ratio": median_and_quartiles(self.half_maximum_ratio[fitted]),
            "r_squared": median_and_quartiles(self.r_squared[fitted]),
            "v0_range_deg_per_s": [float(x) for x in self.v0_range],
        }


def log_gaussian(
    speeds: npt.ArrayLike, v0: npt.ArrayLike, sigma: npt.ArrayLike, s0: npt.ArrayLike
) -> np.ndarray:
    """exp(-(ln((v + s0) / (v0 + s0)))^2 / (2 sigma^2)) (Nover et al. 2005),
    broadcast over its arguments; 0 at v = 0 when s0 = 0."""
    v, v0, sigma, s0 = (np.asarray(x, dtype=np.float64) for x in (speeds, v0, sigma, s0))
    with np.errstate(divide="ignore"):
        log_q = np.log(v + s0) - np.log(v0 + s0)
    return np.exp(-(log_q**2) / (2 * sigma**2))


def _least_squares(shapes: np.ndarray, centred: np.ndarray, total: np.ndarray):
    """Residual sum of squares and amplitude of the best R = A shape + b with A > 0.

    `shapes` (..., U, S) per unit, `centred` (U, S) the responses minus their
    mean, `total` (U,) their sum of squares. Where no A > 0 helps (or the
    shape is constant over the speeds), the residual is `total` and A is 0.
    """
    shapes = shapes - shapes.mean(axis=-1, keepdims=True)
    covariance = (shapes * centred).sum(axis=-1)
    variance = (shapes**2).sum(axis=-1)
    usable = (covariance > 0) & (variance > 1e-12)
    safe = np.where(usable, variance, 1.0)
    amplitude = np.where(usable, covariance / safe, 0.0)
    residual = np.where(usable, total - covariance**2 / safe, total)
    return np.maximum(residual, 0.0), amplitude


def _model(v: np.ndarray, params: np.ndarray):
    """Predictions (U, S) of params (U, 5) = (A, b, ln v0, ln sigma, s0), and
    the pieces of the Jacobian: g, ln q (finite where g > 0), v0, sigma, s0."""
    amplitude, baseline = params[:, 0:1], params[:, 1:2]
    v0, sigma, s0 = np.exp(params[:, 2:3]), np.exp(params[:, 3:4]), params[:, 4:5]
    with np.errstate(divide="ignore"):
        log_q = np.log(v + s0) - np.log(v0 + s0)
    g = np.exp(-(log_q**2) / (2 * sigma**2))
    return amplitude * g + baseline, g, log_q, v0, sigma, s0


def _jacobian(v: np.ndarray, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(predictions (U, S), Jacobian (U, S, 5)) of the model at params (U, 5)."""
    predictions, g, log_q, v0, sigma, s0 = _model(v, params)
    amplitude = params[:, 0:1]
    live = g > 0  # where g = 0 (v = s0 = 0) every derivative is 0
    log_q = np.where(live, log_q, 0.0)
    lg = log_q * g
    with np.errstate(divide="ignore"):
        inverse = np.where(live, 1 / np.where(live, v + s0, 1.0), 0.0)
    # d ln q / d ln v0 = -v0 / (v0 + s0); d ln q / d s0 = 1 / (v + s0) - 1 / (v0 + s0).
    d_log_v0 = amplitude * lg * v0 / (sigma**2 * (v0 + s0))
    d_log_sigma = amplitude * log_q * lg / sigma**2
    d_s0 = -amplitude * lg * (inverse - 1 / (v0 + s0)) / sigma**2
    jacobian = np.stack([g, np.ones_like(g), d_log_v0, d_log_sigma, d_s0], axis=-1)
    return predictions, jacobian


def _levenberg_marquardt(
    v: np.ndarray, data: np.ndarray, params: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray:
    """Least-squares params (U, 5) for data (U, S), each unit on its own, kept
    within [lower, upper] by projection; a step is taken only when it lowers
    the residual (Marquardt 1963, with his diagonal scaling). A unit stops when
    its step no longer helps (damping at its ceiling, or a relative gain below
    1e-14), so its fit does not depend on the other units in the batch."""
    params = params.copy()
    damping = np.full(len(params), 1e-3)
    residual = ((_model(v, params)[0] - data) ** 2).sum(axis=1)
    active = np.arange(len(params))
    for _ in range(_REFINE_STEPS):
        p, y, lam, res = params[active], data[active], damping[active], residual[active]
        predictions, jacobian = _jacobian(v, p)
        normal = np.einsum("usi,usj->uij", jacobian, jacobian)
        gradient = np.einsum("usi,us->ui", jacobian, y - predictions)
        diagonal = np.einsum("uii->ui", normal)
        scale = diagonal + 1e-12 * diagonal.max(axis=1, keepdims=True)
        system = normal + lam[:, None, None] * (scale[:, :, None] * np.eye(5))
        step = np.linalg.solve(system, gradient[..., None])[..., 0]
        trial = np.clip(p + step, lower, upper)
        trial_residual = ((_model(v, trial)[0] - y) ** 2).sum(axis=1)
        better = trial_residual < res
        gain = np.where(better, res - trial_residual, 0.0)
        params[active] = np.where(better[:, None], trial, p)
        residual[active] = np.where(better, trial_residual, res)
        lam = np.clip(np.where(better, lam / 3, lam * 3), 1e-12, 1e12)
        damping[active] = lam
        active = active[(lam < 1e12) & ~(better & (gain <= 1e-14 * residual[active]))]
        if len(active) == 0:
            break
    return params


def speed_tuning(
    responses: npt.ArrayLike,
    speeds_deg_per_s: npt.ArrayLike,
    extend: float = 2.0,
    refine: bool = True,
) -> SpeedTuning:
    """Fit the log-Gaussian of Nover et al. 2005 to each unit's responses (S, U)
    to S speeds (deg/s, >= 0, at least 5 distinct, two of them nonzero).

    v0 is searched in [slowest nonzero speed / extend, fastest * extend];
    `refine` runs Levenberg-Marquardt after the grid (without it, the
    parameters are the best grid point's). Deterministic: the same
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

    order = np.argsort(v)
    v, r = v[order], r[order]
    slowest = v[v > 0].min()
    v0_range = (slowest / extend, v.max() * extend)
    s0_max = v.max()

    units = r.shape[1]
    centred = (r - r.mean(axis=0)).T  # (U, S)
    total = (centred**2).sum(axis=1)

    # Grid search: the shapes do not depend on the unit, so (K, S) @ (S, U).
    v0_grid = np.geomspace(*v0_range, _V0_POINTS)
    sigma_grid = np.geomspace(*_SIGMA_RANGE, _SIGMA_POINTS)
    s0_grid = _S0_GRID * slowest
    g_v0, g_sigma, g_s0 = (x.ravel() for x in np.meshgrid(v0_grid, sigma_grid, s0_grid))
    shapes = log_gaussian(v[None, :], g_v0[:, None], g_sigma[:, None], g_s0[:, None])
    shapes = shapes - shapes.mean(axis=1, keepdims=True)
    variance = (shapes**2).sum(axis=1)
    best = np.zeros(units, dtype=np.int64)
    for start in range(0, units, _UNITS_PER_CHUNK):
        part = slice(start, start + _UNITS_PER_CHUNK)
        covariance = shapes @ centred[part].T  # (K, chunk)
        usable = (covariance > 0) & (variance[:, None] > 1e-12)
        gain = np.where(usable, covariance**2 / np.where(usable, variance[:, None], 1.0), 0.0)
        best[part] = np.argmax(gain, axis=0)

    # Levenberg-Marquardt on all five parameters from the best grid point.
    g_shape = log_gaussian(v, g_v0[best, None], g_sigma[best, None], g_s0[best, None])
    _, grid_amplitude = _least_squares(g_shape, centred, total)
    params = np.stack(
        [
            grid_amplitude,
            r.mean(axis=0) - grid_amplitude * g_shape.mean(axis=1),
            np.log(g_v0[best]),
            np.log(g_sigma[best]),
            g_s0[best],
        ],
        axis=1,
    )
    lower = np.array([0.0, -np.inf, np.log(v0_range[0]), np.log(_SIGMA_RANGE[0]), 0.0])
    upper = np.array([np.inf, np.inf, np.log(v0_range[1]), np.log(_SIGMA_RANGE[1]), s0_max])
    if refine:
        params = _levenberg_marquardt(v, r.T, params, lower, upper)
    amplitude = params[:, 0]
    baseline = params[:, 1]
    v0, sigma, s0 = np.exp(params[:, 2]), np.exp(params[:, 3]), params[:, 4]
    residual = ((_model(v, params)[0] - r.T) ** 2).sum(axis=1)
    flat = total <= 1e-20 * np.maximum((r**2).sum(axis=0), 1e-300)
    fitted = (amplitude > 0) & ~flat
    with np.errstate(divide="ignore", invalid="ignore"):
        r_squared = 1 - residual / total
    at_bound = fitted & ((params[:, 2] <= lower[2] + 1e-9) | (params[:, 2] >= upper[2] - 1e-9))
    # Half maximum where (ln q)^2 = 2 ln 2 sigma^2: v = (v0 + s0) exp(+-w) - s0.
    width = sigma * np.sqrt(2 * np.log(2))
    fast = (v0 + s0) * np.exp(width) - s0
    slow = (v0 + s0) * np.exp(-width) - s0
    with np.errstate(divide="ignore"):
        ratio = np.where(slow > 0, fast / np.where(slow > 0, slow, 1.0), np.inf)

    def defined(x: np.ndarray) -> np.ndarray:
        return np.where(fitted, x, np.nan)

    return SpeedTuning(
        speeds_deg_per_s=v,
        curves=r,
        preferred_speed=defined(v0),
        sigma=defined(sigma),
        offset=defined(s0),
        amplitude=defined(amplitude),
        baseline=defined(baseline),
        r_squared=defined(r_squared),
        half_maximum_ratio=defined(ratio),
        fitted=fitted,
        at_bound=at_bound,
        v0_range=(float(v0_range[0]), float(v0_range[1])),
    )
