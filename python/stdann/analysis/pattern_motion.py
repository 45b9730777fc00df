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

`plaid_experiment` runs the experiment as those papers did, from recorded
responses and the stimulus tables: each direction-selective unit's grating
and plaid curves are taken at the same (spatial, temporal) frequency pair, its
best, averaged over the same phases, with the grating curve at the
components' contrast (half the plaid's) where the gratings were shown at it;
the other units are not classed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from stdann.analysis.tuning import (
    GRATING_TABLE_COLUMNS,
    TuningError,
    interpolate_tuning_curve,
    median_and_quartiles,
    sorted_directions,
    stimulus_columns,
)

#: Classes of a unit.
PATTERN_CLASSES = ("pattern", "component", "unclassed")

#: The class `plaid_experiment` gives the units it does not class (those not
#: direction-selective); they are not among the "unclassed".
NOT_CLASSED = "not classed"

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
    - `classes` (U,) str: "pattern", "component" or "unclassed", or
      `NOT_CLASSED` for the units left out of `classed`;
    - `criterion`: the z-score threshold of the classes;
    - `classed` (U,) bool: the units that were classed (`plaid_experiment`:
      the direction-selective ones); None when every unit was;
    - `spatial_frequency_cpd`, `temporal_frequency_hz` (U,): the frequency
      pair each unit's curves were taken at (NaN where none was given), None
      when the caller gave the curves;
    - `grating_contrast`, `component_contrast`, `plaid_contrast`: the
      contrast of the gratings the grating curves were taken at, of each
      plaid component (half the plaid's) and of the plaids; None when the
      caller gave the curves.

    Units whose plaid or grating curve is flat (no correlation to compute)
    have NaN correlations and scores and are unclassed; units with no curves
    (`plaid_experiment`, a unit not classed with no frequency pair) have NaN
    curves too.
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
    classed: np.ndarray | None = None
    spatial_frequency_cpd: np.ndarray | None = None
    temporal_frequency_hz: np.ndarray | None = None
    grating_contrast: float | None = None
    component_contrast: float | None = None
    plaid_contrast: float | None = None

    def summary(self, responsive: npt.ArrayLike | None = None) -> dict[str, Any]:
        """Pattern and component cells over the classed units, as plain JSON data.

        The units are the classed ones (`classed`: for `plaid_experiment` the
        direction-selective units, so the fractions are among
        direction-selective units, as Movshon et al. 1985 and Smith, Majaj &
        Movshon 2005 count them; in macaque MT about 25% pattern and 50%
        component, as Wandell restates them), and of them those `responsive`
        (U,) bool picks, when given. Keys:

        - `units`: how many units are classed; `not_classed`: how many
          (among the `responsive`, when given) are not;
        - `counts` {pattern, component, unclassed}: units of each class;
        - `class_fractions`: the counts over `units`, None where there are none;
        - `undefined`: classed units with no score (flat curves), which are
          among the unclassed;
        - `zp`, `zc`: how many scores and their quartiles (`median_and_quartiles`);
        - `plaid_angle_deg`, `criterion`, and `grating_contrast`,
          `component_contrast`, `plaid_contrast` (None when the caller gave
          the curves).
        """
        pool = np.ones(len(self.classes), bool)
        if responsive is not None:
            pool = np.asarray(responsive, dtype=bool)
            if pool.shape != self.classes.shape:
                raise TuningError(
                    f"responsive must be (U,) bool with U = {len(self.classes)}, got {pool.shape}"
                )
        classed = pool if self.classed is None else pool & np.asarray(self.classed, dtype=bool)
        count = int(classed.sum())
        counts = {c: int(np.sum(self.classes[classed] == c)) for c in PATTERN_CLASSES}
        return {
            "units": count,
            "not_classed": int(np.sum(pool & ~classed)),
            "counts": counts,
            "class_fractions": {c: (n / count if count else None) for c, n in counts.items()},
            "undefined": int(np.sum(np.isnan(self.zp[classed]) | np.isnan(self.zc[classed]))),
            "zp": median_and_quartiles(self.zp[classed]),
            "zc": median_and_quartiles(self.zc[classed]),
            "plaid_angle_deg": float(self.plaid_angle_deg),
            "criterion": float(self.criterion),
            "grating_contrast": _optional_float(self.grating_contrast),
            "component_contrast": _optional_float(self.component_contrast),
            "plaid_contrast": _optional_float(self.plaid_contrast),
        }


def _optional_float(value: float | None) -> float | None:
    return None if value is None else float(value)


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


#: Columns `plaid_experiment` needs in a grating table and in a plaid table
#: (those `stdann.stimuli.drifting_gratings` and `plaids` write; others are ignored).
GRATING_COLUMNS = GRATING_TABLE_COLUMNS
PLAID_COLUMNS = (*GRATING_COLUMNS[:1], "plaid_angle_deg", *GRATING_COLUMNS[1:])

# Stimulus parameters written from the same numbers agree exactly; this only
# absorbs rounding (a contrast halved, an angle taken modulo 360).
_RTOL, _ATOL = 1e-9, 1e-9


def _same(values: np.ndarray, value: float) -> np.ndarray:
    return np.isclose(values, value, rtol=_RTOL, atol=_ATOL)


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values of `values`, ascending, those within rounding counted once."""
    v = np.unique(values)
    if len(v) < 2:
        return v
    return v[np.concatenate([[True], ~_same(v[1:], v[:-1])])]


def _same_set(a: np.ndarray, b: np.ndarray) -> bool:
    return len(a) == len(b) and bool(np.all(_same(a, b)))


def _columns(
    responses: npt.ArrayLike, table: dict[str, np.ndarray], needed: tuple[str, ...], what: str
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    r, columns = stimulus_columns(responses, table, needed, what)
    if not np.all(np.isfinite(r)):
        raise TuningError(f"{what} responses are NaN or infinite")
    columns = {
        k: (v.astype(bool) if k == "blank" else v.astype(np.float64)) for k, v in columns.items()
    }
    for k in ("direction_deg", "phase_deg"):
        columns[k] = np.mod(columns[k], 360.0)
    return r, columns


def _curves_at_pair(
    responses: np.ndarray,
    columns: dict[str, np.ndarray],
    rows: np.ndarray,
    directions: np.ndarray,
    phases: np.ndarray,
    sf: float,
    tf: float,
    what: str,
) -> np.ndarray:
    """(D, U): the mean response at each direction to the `rows` at (sf, tf),
    averaged over the repeats of each phase and then over the phases."""
    at_pair = (
        rows
        & _same(columns["spatial_frequency_cpd"], sf)
        & _same(columns["temporal_frequency_hz"], tf)
    )
    if not at_pair.any():
        raise TuningError(
            f"no {what} at spatial frequency {sf:g} cpd, temporal frequency {tf:g} Hz, the "
            "best pair of some units: the gratings and the plaids must both be shown at every "
            "pair a unit is measured at"
        )
    curves = np.zeros((len(directions), responses.shape[1]))
    for i, d in enumerate(directions):
        # The circle: a direction within rounding of 360 is 0.
        at_d = at_pair & (
            _same(columns["direction_deg"], d) | _same(columns["direction_deg"] - 360.0, d)
        )
        for phase in phases:
            shown = at_d & _same(columns["phase_deg"], phase)
            if not shown.any():
                raise TuningError(
                    f"no {what} at direction {d:g} deg, phase {phase:g} deg, spatial frequency "
                    f"{sf:g} cpd, temporal frequency {tf:g} Hz: every direction must be shown "
                    "at every phase of the unit's frequency pair"
                )
            curves[i] += responses[shown].mean(axis=0)
    return curves / len(phases)


def plaid_experiment(
    grating_responses: npt.ArrayLike,
    grating_table: dict[str, np.ndarray],
    plaid_responses: npt.ArrayLike,
    plaid_table: dict[str, np.ndarray],
    best_sf: npt.ArrayLike,
    best_tf: npt.ArrayLike,
    selective: npt.ArrayLike,
    criterion: float = SMITH_CRITERION,
) -> PatternComponent:
    """Pattern and component cells among U units, as Movshon, Adelson, Gizzi &
    Newsome (1985) and Smith, Majaj & Movshon (2005) class them.

    `grating_responses` (N, U) and `plaid_responses` (M, U) are the units'
    responses to the rows of `grating_table` and `plaid_table` (dicts of
    columns, `GRATING_COLUMNS` and `PLAID_COLUMNS`, as
    `stdann.stimuli.drifting_gratings` and `plaids` write them; blank rows are
    ignored). The plaids are made of the gratings: every plaid row's
    components are gratings of the same spatial and temporal frequency and
    phase at half the plaid's contrast, at the plaid's direction -+ its angle
    / 2, and there must be one plaid contrast and one plaid angle.

    Each unit u is measured at its best pair (`best_sf`[u], `best_tf`[u],
    (U,): the pair its direction tuning was taken at): its grating curve and
    its plaid curve are the mean responses at that pair at every direction,
    each averaged over the repeats of each phase and then over the phases
    (the same phases for both). The grating curve is taken at the
    components' contrast (the plaid's / 2) where the grating set has rows at
    it, else at its highest contrast; the result records which. The
    responses are used raw, nothing subtracted or clipped: the correlations
    ignore an offset and a gain, so subtracting the blank would change
    nothing. `pattern_component` then classes the curves.

    Only the units `selective` (U,) bool marks (the direction-selective ones,
    as in both papers) are classed; the others are `NOT_CLASSED`, whatever
    their curves (computed where they have a pair; a unit not selective may
    have a NaN pair and then has NaN curves).

    Raises TuningError unless the plaid set matches the gratings: the same
    directions (at least 4), the same phases, and every frequency pair a unit
    is measured at shown at every direction and phase in both sets.
    """
    g, g_cols = _columns(grating_responses, grating_table, GRATING_COLUMNS, "grating")
    p, p_cols = _columns(plaid_responses, plaid_table, PLAID_COLUMNS, "plaid")
    units = g.shape[1]
    sf = np.asarray(best_sf, dtype=np.float64)
    tf = np.asarray(best_tf, dtype=np.float64)
    chosen = np.asarray(selective)
    if p.shape[1] != units or any(x.shape != (units,) for x in (sf, tf, chosen)):
        raise TuningError(
            f"grating responses have U = {units} units: plaid responses must be (M, U) and "
            f"best_sf, best_tf, selective (U,); got {p.shape}, {sf.shape}, {tf.shape}, "
            f"{chosen.shape}"
        )
    if chosen.dtype != bool:
        raise TuningError(f"selective must be a bool mask, got dtype {chosen.dtype}")
    has_pair = np.isfinite(sf) & np.isfinite(tf)
    if np.any(chosen & ~has_pair):
        raise TuningError(
            f"{int(np.sum(chosen & ~has_pair))} selective units have no best frequency pair "
            "(NaN best_sf or best_tf)"
        )

    plaid_rows = ~p_cols["blank"]
    if not plaid_rows.any():
        raise TuningError("the plaid table has no plaid rows (only blanks)")
    plaid_contrasts = _distinct(p_cols["contrast"][plaid_rows])
    angles = _distinct(p_cols["plaid_angle_deg"][plaid_rows])
    if len(plaid_contrasts) != 1 or len(angles) != 1:
        raise TuningError(
            f"the plaids must share one contrast and one plaid angle, got contrasts "
            f"{plaid_contrasts.tolist()} and angles {angles.tolist()} deg"
        )
    plaid_contrast, plaid_angle = float(plaid_contrasts[0]), float(angles[0])
    component_contrast = plaid_contrast / 2

    grating_rows = ~g_cols["blank"]
    if not grating_rows.any():
        raise TuningError("the grating table has no grating rows (only blanks)")
    at_component = grating_rows & _same(g_cols["contrast"], component_contrast)
    if at_component.any():
        grating_rows, grating_contrast = at_component, component_contrast
    else:
        grating_contrast = float(g_cols["contrast"][grating_rows].max())
        grating_rows = grating_rows & _same(g_cols["contrast"], grating_contrast)

    directions = _distinct(g_cols["direction_deg"][grating_rows])
    if len(directions) > 1 and _same(directions[-1] - 360.0, directions[0]):
        directions = directions[:-1]
    plaid_directions = _distinct(p_cols["direction_deg"][plaid_rows])
    if len(plaid_directions) > 1 and _same(plaid_directions[-1] - 360.0, plaid_directions[0]):
        plaid_directions = plaid_directions[:-1]
    if not _same_set(directions, plaid_directions):
        raise TuningError(
            f"the plaids' directions {plaid_directions.tolist()} deg are not the gratings' "
            f"{directions.tolist()} deg (contrast {grating_contrast:g})"
        )
    if len(directions) < 4:
        raise TuningError(
            f"pattern and component cells need at least 4 directions, got {len(directions)}: "
            f"{directions.tolist()} deg"
        )
    phases = _distinct(g_cols["phase_deg"][grating_rows])
    plaid_phases = _distinct(p_cols["phase_deg"][plaid_rows])
    if not _same_set(phases, plaid_phases):
        raise TuningError(
            f"the plaids' phases {plaid_phases.tolist()} deg are not the gratings' "
            f"{phases.tolist()} deg (contrast {grating_contrast:g}): the curves must be "
            "averaged over the same phases"
        )

    grating_curves = np.full((len(directions), units), np.nan)
    plaid_curves = np.full((len(directions), units), np.nan)
    pairs = _distinct_pairs(sf[has_pair], tf[has_pair])
    for pair_sf, pair_tf in pairs:
        members = has_pair & _same(sf, pair_sf) & _same(tf, pair_tf)
        for rows, cols, responses, curves, what in (
            (grating_rows, g_cols, g, grating_curves, f"grating at contrast {grating_contrast:g}"),
            (plaid_rows, p_cols, p, plaid_curves, "plaid"),
        ):
            curves[:, members] = _curves_at_pair(
                responses[:, members], cols, rows, directions, phases, pair_sf, pair_tf, what
            )

    pc = _classify_columns(grating_curves, plaid_curves, directions, plaid_angle, criterion)
    pc.classes[~chosen] = NOT_CLASSED
    pc.classed = chosen.copy()
    pc.spatial_frequency_cpd = np.where(has_pair, sf, np.nan)
    pc.temporal_frequency_hz = np.where(has_pair, tf, np.nan)
    pc.grating_contrast = float(grating_contrast)
    pc.component_contrast = float(component_contrast)
    pc.plaid_contrast = plaid_contrast
    return pc


def _distinct_pairs(sf: np.ndarray, tf: np.ndarray) -> list[tuple[float, float]]:
    pairs: list[tuple[float, float]] = []
    for a, b in np.unique(np.stack([sf, tf], axis=1), axis=0):
        if not any(_same(a, x) and _same(b, y) for x, y in pairs):
            pairs.append((float(a), float(b)))
    return pairs


def _classify_columns(
    grating_curves: np.ndarray,
    plaid_curves: np.ndarray,
    directions: np.ndarray,
    plaid_angle_deg: float,
    criterion: float,
) -> PatternComponent:
    """`pattern_component` on the units whose curves are defined; the others
    NaN throughout and unclassed."""
    defined = np.isfinite(grating_curves).all(axis=0) & np.isfinite(plaid_curves).all(axis=0)
    part = pattern_component(
        grating_curves[:, defined], plaid_curves[:, defined], directions, plaid_angle_deg, criterion
    )
    units = grating_curves.shape[1]
    width = max(map(len, (*PATTERN_CLASSES, NOT_CLASSED)))
    classes = np.full(units, "unclassed", dtype=f"<U{width}")
    classes[defined] = part.classes
    fields: dict[str, Any] = {}
    for name in (
        "plaid_curves",
        "pattern_prediction",
        "component_prediction",
        "r_pattern",
        "r_component",
        "r_pattern_component",
        "rp",
        "rc",
        "zp",
        "zc",
    ):
        value = getattr(part, name)
        full = np.full((*value.shape[:-1], units), np.nan)
        full[..., defined] = value
        fields[name] = full
    return PatternComponent(
        directions_deg=part.directions_deg,
        classes=classes,
        plaid_angle_deg=part.plaid_angle_deg,
        criterion=part.criterion,
        **fields,
    )
