"""Pattern and component direction selectivity from plaids.

A plaid moving in direction theta is two gratings moving in theta -+ a / 2
(a, the plaid angle; the conventions of `stdann.stimuli`). A *component*
unit responds to each grating as if alone, so its plaid tuning curve is
predicted by the sum of its grating tuning curve shifted by -+ a / 2; a
*pattern* unit responds to the motion of the whole plaid, so its plaid curve
is predicted by the grating curve itself (Movshon, Adelson, Gizzi & Newsome
1985, in Pattern Recognition Mechanisms, 117-151).

Each prediction is correlated with the plaid curve over directions (r_p, r_c;
r_pc between the two predictions); the partial correlations remove the part
one prediction shares with the other, and their Fisher z-scores classify the
unit (Smith, Majaj & Movshon 2005, Nat Neurosci 8:220, Methods). Correlations
ignore an additive offset and a gain, so the curves may or may not have the
blank subtracted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from stdann.analysis.tuning import (
    TuningError,
    interpolate_tuning_curve,
    median_and_quartiles,
    sorted_directions,
)

#: Classes of a unit.
PATTERN_CLASSES = ("pattern", "component", "unclassed")

#: The z-score a class needs, and its lead over the other: 1.28, the one-sided
#: 90% point of the normal distribution (Smith, Majaj & Movshon 2005).
SMITH_CRITERION = 1.28

# A correlation this close to +-1 is a perfect fit up to rounding.
_PERFECT = 1e-12


@dataclass
class PatternComponent:
    """Pattern and component selectivity of U units measured at D plaid directions.

    - `directions_deg` (D,): the plaid directions, ascending in [0, 360);
    - `plaid_curves`, `pattern_prediction`, `component_prediction` (D, U):
      the measured plaid curves, the grating curves, and the sums of the
      grating curves at the directions -+ `plaid_angle_deg` / 2;
    - `r_pattern`, `r_component`, `r_pattern_component` (U,): the Pearson
      correlations r_p, r_c (data with each prediction) and r_pc (between the
      predictions) over directions;
    - `rp`, `rc` (U,): the partial correlations R_p, R_c;
    - `zp`, `zc` (U,): their Fisher z-scores, normalised by the degrees of
      freedom D - 3;
    - `classes` (U,) str: "pattern", "component" or "unclassed";
    - `criterion`: the z-score threshold of the classes.

    Units whose plaid or grating curve is flat (no correlation to compute)
    have NaN correlations and scores and are unclassed.
    """

    directions_deg: np.ndarray
    plaid_curves: np.ndarray
    pattern_prediction: np.ndarray
    component_prediction: np.ndarray
    r_pattern: np.ndarray
    r_component: np.ndarray
    r_pattern_component: np.ndarray
    rp: np.ndarray
    rc: np.ndarray
    zp: np.ndarray
    zc: np.ndarray
    classes: np.ndarray
    plaid_angle_deg: float
    criterion: float = SMITH_CRITERION

    def summary(self, responsive: npt.ArrayLike | None = None) -> dict[str, Any]:
        """Fractions of each class and quartiles of Zp and Zc over the units
        (those `responsive` (U,) bool picks, when given), as plain JSON data;
        None where nothing is defined. `undefined` counts the units with no
        score (flat curves), which are among the unclassed."""
        keep = np.ones(len(self.classes), bool)
        if responsive is not None:
            keep = np.asarray(responsive, dtype=bool)
            if keep.shape != self.classes.shape:
                raise TuningError(
                    f"responsive must be (U,) bool with U = {len(self.classes)}, got {keep.shape}"
                )
        count = int(keep.sum())
        return {
            "units": count,
            "class_fractions": {
                c: (float(np.mean(self.classes[keep] == c)) if count else None)
                for c in PATTERN_CLASSES
            },
            "undefined": int(np.sum(np.isnan(self.zp[keep]) | np.isnan(self.zc[keep]))),
            "zp": median_and_quartiles(self.zp[keep]),
            "zc": median_and_quartiles(self.zc[keep]),
            "plaid_angle_deg": float(self.plaid_angle_deg),
            "criterion": float(self.criterion),
        }


def _correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of the columns of a and b (D, U); NaN where one is flat."""
    centred_a, centred_b = a - a.mean(axis=0), b - b.mean(axis=0)
    norm_a = np.sqrt((centred_a**2).sum(axis=0))
    norm_b = np.sqrt((centred_b**2).sum(axis=0))
    # A column whose spread is rounding error of its mean is flat: no correlation.
    flat = (norm_a <= 1e-10 * np.sqrt((a**2).sum(axis=0))) | (
        norm_b <= 1e-10 * np.sqrt((b**2).sum(axis=0))
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (centred_a * centred_b).sum(axis=0) / (norm_a * norm_b)
    return np.clip(np.where(flat, np.nan, r), -1.0, 1.0)


def partial_correlations(
    r_p: npt.ArrayLike, r_c: npt.ArrayLike, r_pc: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """(R_p, R_c) from the correlations of the data with the pattern and the
    component predictions (r_p, r_c) and of the predictions with each other (r_pc):

        R_p = (r_p - r_c r_pc) / sqrt((1 - r_c^2) (1 - r_pc^2)),  R_c symmetrically

    (Smith, Majaj & Movshon 2005, Methods). Where the data is exactly one
    prediction (|r| = 1), that partial correlation is +-1 and the other 0 (the
    other prediction explains nothing beyond it); where the predictions are
    collinear (|r_pc| = 1) neither is defined (NaN).
    """
    r_p, r_c, r_pc = (np.clip(np.asarray(r, dtype=np.float64), -1.0, 1.0) for r in (r_p, r_c, r_pc))
    r_p, r_c, r_pc = (np.where(np.abs(r) >= 1 - _PERFECT, np.sign(r), r) for r in (r_p, r_c, r_pc))
    with np.errstate(divide="ignore", invalid="ignore"):
        big_rp = (r_p - r_c * r_pc) / np.sqrt((1 - r_c**2) * (1 - r_pc**2))
        big_rc = (r_c - r_p * r_pc) / np.sqrt((1 - r_p**2) * (1 - r_pc**2))
    distinct = np.abs(r_pc) < 1
    exact_c = distinct & (np.abs(r_c) == 1)
    exact_p = distinct & (np.abs(r_p) == 1)
    big_rp = np.where(exact_c, 0.0, np.where(exact_p, r_p, big_rp))
    big_rc = np.where(exact_p, 0.0, np.where(exact_c, r_c, big_rc))
    big_rp = np.where(distinct, big_rp, np.nan)
    big_rc = np.where(distinct, big_rc, np.nan)
    return np.clip(big_rp, -1.0, 1.0), np.clip(big_rc, -1.0, 1.0)


def fisher_z(partial: npt.ArrayLike, n: int) -> np.ndarray:
    """Z = 0.5 ln((1 + R) / (1 - R)) / sqrt(1 / (n - 3)) for n directions
    (Fisher's z of a correlation in units of its standard error; Smith, Majaj &
    Movshon 2005, Methods); +-inf for R = +-1."""
    if n < 4:
        raise TuningError(f"Fisher's z needs at least 4 directions (n - 3 > 0), got {n}")
    with np.errstate(divide="ignore"):
        return np.arctanh(np.asarray(partial, dtype=np.float64)) / np.sqrt(1.0 / (n - 3))


def pattern_component(
    grating_curves: npt.ArrayLike,
    plaid_curves: npt.ArrayLike,
    directions_deg: npt.ArrayLike,
    plaid_angle_deg: float = 120.0,
    criterion: float = SMITH_CRITERION,
) -> PatternComponent:
    """Pattern and component selectivity of U units.

    `grating_curves` and `plaid_curves` (D, U) are the units' responses to
    gratings and to plaids moving in `directions_deg` (D,, at least 4
    distinct directions; the grating curve is read between samples by linear
    interpolation around the circle where -+ plaid_angle_deg / 2 misses a
    sample). A unit is pattern if Zp - Zc >= criterion and Zp >= criterion,
    component if Zc - Zp >= criterion and Zc >= criterion, else unclassed
    (Smith, Majaj & Movshon 2005: criterion 1.28).
    """
    order = sorted_directions(directions_deg, evenly_spaced=False)
    grating = np.asarray(grating_curves, dtype=np.float64)
    plaid = np.asarray(plaid_curves, dtype=np.float64)
    d = len(order)
    if grating.ndim != 2 or grating.shape[0] != d or plaid.shape != grating.shape:
        raise TuningError(
            f"grating and plaid curves must both be (D, U) with D = {d} directions, got "
            f"{grating.shape} and {plaid.shape}"
        )
    if not (np.all(np.isfinite(grating)) and np.all(np.isfinite(plaid))):
        raise TuningError("grating or plaid curves are NaN or infinite")
    if not 0 < plaid_angle_deg < 360 or not criterion >= 0:
        raise TuningError(
            f"the plaid angle ({plaid_angle_deg} deg) must lie in (0, 360) and the criterion "
            f"({criterion}) must be >= 0"
        )
    directions = np.mod(np.asarray(directions_deg, dtype=np.float64), 360.0)[order]
    grating, plaid = grating[order], plaid[order]
    half = plaid_angle_deg / 2
    # Movshon et al. 1985: a component unit sums its responses to the two gratings.
    component = interpolate_tuning_curve(grating, directions, directions - half)
    component = component + interpolate_tuning_curve(grating, directions, directions + half)
    r_p = _correlation(plaid, grating)
    r_c = _correlation(plaid, component)
    r_pc = _correlation(grating, component)
    rp, rc = partial_correlations(r_p, r_c, r_pc)
    zp, zc = fisher_z(rp, d), fisher_z(rc, d)
    classes = np.full(grating.shape[1], "unclassed", dtype=f"<U{max(map(len, PATTERN_CLASSES))}")
    with np.errstate(invalid="ignore"):  # inf - inf where both fit perfectly
        classes[(zp - zc >= criterion) & (zp >= criterion)] = "pattern"
        classes[(zc - zp >= criterion) & (zc >= criterion)] = "component"
    return PatternComponent(
        directions_deg=directions,
        plaid_curves=plaid,
        pattern_prediction=grating,
        component_prediction=component,
        r_pattern=r_p,
        r_component=r_c,
        r_pattern_component=r_pc,
        rp=rp,
        rc=rc,
        zp=zp,
        zc=zc,
        classes=classes,
        plaid_angle_deg=float(plaid_angle_deg),
        criterion=float(criterion),
    )
