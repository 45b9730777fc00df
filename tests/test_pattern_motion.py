"""Pattern and component selectivity: synthetic pattern and component units,
the formulas of Smith, Majaj & Movshon (2005) against hand computations, and
the whole experiment (`plaid_experiment`) on synthetic units whose responses
to the rows of real grating and plaid tables come from a known model."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from stdann.analysis.pattern_motion import (
    NOT_CLASSED,
    PATTERN_CLASSES,
    SMITH_CRITERION,
    fisher_z,
    partial_correlations,
    pattern_component,
    plaid_experiment,
)
from stdann.analysis.tuning import TuningError, grating_tuning
from stdann.stimuli import drifting_gratings, plaids


def directions(count: int) -> np.ndarray:
    return np.arange(count) * 360.0 / count


def von_mises(dirs_deg, preferred_deg, kappa=2.0):
    return 10.0 * np.exp(kappa * (np.cos(np.deg2rad(np.asarray(dirs_deg) - preferred_deg)) - 1))


PREFERRED = [0.0, 37.0, 100.0, 222.5, 300.0]


@pytest.mark.parametrize("count", [12, 16])
def test_component_units_are_classed_component(count):
    # The plaid curve is the sum of the grating curve at the two component
    # directions, written analytically (with 16 directions, +-60 deg misses the
    # samples and the prediction interpolates).
    d = directions(count)
    grating = np.stack([von_mises(d, p) for p in PREFERRED], axis=1)
    plaid = np.stack([von_mises(d - 60, p) + von_mises(d + 60, p) for p in PREFERRED], axis=1)
    pc = pattern_component(grating, plaid, d, plaid_angle_deg=120.0)
    assert pc.classes.tolist() == ["component"] * len(PREFERRED)
    assert np.all(pc.zc > SMITH_CRITERION) and np.all(pc.zc - pc.zp > SMITH_CRITERION)
    if count == 12:  # the prediction is exact: a perfect fit
        assert np.all(pc.rc == 1.0) and np.all(pc.zc == np.inf) and np.all(pc.rp == 0.0)


@pytest.mark.parametrize("count", [12, 16])
def test_pattern_units_are_classed_pattern(count):
    d = directions(count)
    grating = np.stack([von_mises(d, p) for p in PREFERRED], axis=1)
    # Responses to the plaid: the grating curve at the plaid's direction, with
    # a different gain and offset (correlations ignore both).
    plaid = 0.7 * grating + 3.0
    pc = pattern_component(grating, plaid, d)
    assert pc.classes.tolist() == ["pattern"] * len(PREFERRED)
    assert np.all(pc.zp - pc.zc > SMITH_CRITERION)
    assert pc.pattern_prediction == pytest.approx(grating)


def test_noisy_mixtures_and_the_criterion():
    rng = np.random.default_rng(0)
    d = directions(16)
    grating = von_mises(d, 90.0)[:, None]
    component = von_mises(d - 60, 90.0) + von_mises(d + 60, 90.0)
    # Halfway between the predictions: neither class clearly.
    mixed = 0.5 * grating[:, 0] / grating.max() + 0.5 * component / component.max()
    noisy_pattern = grating[:, 0] + rng.normal(0, 0.3, 16)
    pc = pattern_component(
        np.repeat(grating, 2, axis=1), np.stack([mixed, noisy_pattern], axis=1), d
    )
    assert pc.classes.tolist() == ["unclassed", "pattern"]
    lenient = pattern_component(
        np.repeat(grating, 2, axis=1), np.stack([mixed, noisy_pattern], axis=1), d, criterion=0.0
    )
    assert lenient.classes[0] in ("pattern", "component")


def test_partial_correlations_and_z_by_hand():
    # r_p = 0.8, r_c = 0.5, r_pc = 0.4:
    # R_p = (0.8 - 0.2) / sqrt(0.75 * 0.84) = 0.6 / sqrt(0.63)
    # R_c = (0.5 - 0.32) / sqrt(0.36 * 0.84) = 0.18 / sqrt(0.3024)
    rp, rc = partial_correlations(0.8, 0.5, 0.4)
    assert float(rp) == pytest.approx(0.6 / math.sqrt(0.63), abs=1e-15)
    assert float(rc) == pytest.approx(0.18 / math.sqrt(0.3024), abs=1e-15)
    # Z = 0.5 ln((1 + R) / (1 - R)) / sqrt(1 / (n - 3)), n = 16 directions.
    r = 0.6 / math.sqrt(0.63)
    assert float(fisher_z(r, 16)) == pytest.approx(
        0.5 * math.log((1 + r) / (1 - r)) / math.sqrt(1 / 13), abs=1e-12
    )
    assert fisher_z([1.0, -1.0, 0.0], 8).tolist() == [np.inf, -np.inf, 0.0]
    with pytest.raises(TuningError, match="at least 4"):
        fisher_z(0.5, 3)


def test_pattern_component_applies_the_formulas_to_the_curves():
    rng = np.random.default_rng(7)
    d = directions(8)
    grating = rng.uniform(0, 4, (8, 3))
    plaid = rng.uniform(0, 4, (8, 3))
    pc = pattern_component(grating, plaid, d, plaid_angle_deg=90.0)
    for u in range(3):
        # 90-deg plaids at 45-deg steps: the components are one sample either side.
        component = np.roll(grating[:, u], 1) + np.roll(grating[:, u], -1)
        assert pc.component_prediction[:, u] == pytest.approx(component)
        r_p = np.corrcoef(plaid[:, u], grating[:, u])[0, 1]
        r_c = np.corrcoef(plaid[:, u], component)[0, 1]
        r_pc = np.corrcoef(grating[:, u], component)[0, 1]
        assert pc.r_pattern[u] == pytest.approx(r_p)
        assert pc.r_component[u] == pytest.approx(r_c)
        assert pc.r_pattern_component[u] == pytest.approx(r_pc)
        big_rp = (r_p - r_c * r_pc) / math.sqrt((1 - r_c**2) * (1 - r_pc**2))
        big_rc = (r_c - r_p * r_pc) / math.sqrt((1 - r_p**2) * (1 - r_pc**2))
        assert pc.rp[u] == pytest.approx(big_rp)
        assert pc.rc[u] == pytest.approx(big_rc)
        assert pc.zp[u] == pytest.approx(math.atanh(big_rp) * math.sqrt(5))
        assert pc.zc[u] == pytest.approx(math.atanh(big_rc) * math.sqrt(5))


def test_flat_curves_are_unclassed_with_nan_scores():
    d = directions(8)
    grating = np.stack([np.full(8, 2.0), von_mises(d, 0.0)], axis=1)
    plaid = np.stack([von_mises(d, 0.0), np.zeros(8)], axis=1)
    pc = pattern_component(grating, plaid, d)
    assert pc.classes.tolist() == ["unclassed", "unclassed"]
    assert np.all(np.isnan(pc.zp)) and np.all(np.isnan(pc.zc))


def test_directions_in_any_order():
    d = directions(12)
    grating = von_mises(d, 45.0)[:, None]
    plaid = (von_mises(d - 60, 45.0) + von_mises(d + 60, 45.0))[:, None]
    order = np.random.default_rng(1).permutation(12)
    pc = pattern_component(grating[order], plaid[order], d[order])
    assert pc.directions_deg.tolist() == d.tolist()
    assert pc.classes[0] == "component"


def test_summary():
    d = directions(12)
    grating = np.stack([von_mises(d, p) for p in (0.0, 90.0, 180.0)], axis=1)
    plaid = grating.copy()
    plaid[:, 0] = von_mises(d - 60, 0.0) + von_mises(d + 60, 0.0)
    plaid[:, 2] = 1.0
    pc = pattern_component(grating, plaid, d)
    s = pc.summary()
    assert s["units"] == 3 and s["undefined"] == 1 and s["not_classed"] == 0
    assert s["counts"] == {"pattern": 1, "component": 1, "unclassed": 1}
    # Curves given by the caller: no stimulus contrasts to report.
    assert s["grating_contrast"] is s["component_contrast"] is s["plaid_contrast"] is None
    assert s["class_fractions"] == pytest.approx(
        {"pattern": 1 / 3, "component": 1 / 3, "unclassed": 1 / 3}
    )
    assert s["zp"]["n"] == 2 and s["plaid_angle_deg"] == 120.0
    only = pc.summary(responsive=[False, True, False])
    assert only["class_fractions"] == {"pattern": 1.0, "component": 0.0, "unclassed": 0.0}
    none = pc.summary(responsive=[False, False, False])
    assert none["class_fractions"] == dict.fromkeys(("pattern", "component", "unclassed"))
    json.dumps(none)
    with pytest.raises(TuningError, match="responsive"):
        pc.summary(responsive=[True])


def test_bad_inputs():
    d = directions(8)
    with pytest.raises(TuningError, match=r"\(D, U\)"):
        pattern_component(np.ones((8, 2)), np.ones((8, 3)), d)
    with pytest.raises(TuningError, match="NaN"):
        pattern_component(np.full((8, 1), np.nan), np.ones((8, 1)), d)
    with pytest.raises(TuningError, match="plaid angle"):
        pattern_component(np.ones((8, 1)), np.ones((8, 1)), d, plaid_angle_deg=0.0)


# ---------------------------------------------------------------------------
# plaid_experiment: the experiment from recorded responses and stimulus tables.
#
# Tiny sets (2 frames of 16 px over 8 deg: spatial Nyquist 1 cpd, temporal
# 6.25 Hz): only the tables matter. The plaids are made of the very gratings
# of the tuning set, which also holds gratings at the components' contrast.

ANGLE = 120.0
SFS, TFS, PHASES = (0.25, 0.5), (1.0, 2.0), (0.0, 90.0)
TINY = {"frames": 2, "size": 16}


def grating_table(directions=12, sfs=SFS, tfs=TFS, phases=PHASES, contrasts=(1.0, 0.5)):
    return drifting_gratings(
        directions=directions,
        spatial_frequencies_cpd=sfs,
        temporal_frequencies_hz=tfs,
        phases_deg=phases,
        contrasts=contrasts,
        **TINY,
    ).table


def plaid_table(directions=12, sfs=SFS, tfs=TFS, phases=PHASES, contrast=1.0):
    return plaids(
        directions=directions,
        plaid_angle_deg=ANGLE,
        spatial_frequencies_cpd=sfs,
        temporal_frequencies_hz=tfs,
        phases_deg=phases,
        contrast=contrast,
        **TINY,
    ).table


def vm(d, preferred, kappa=2.5):
    return von_mises(d, preferred, kappa)


# (kind, preferred direction, best (sf, tf), direction-selective). Every pair is
# some unit's best; "mixed" answers plaids halfway between the two
# predictions, "flat" not at all (no score).
UNITS = [
    ("component", 0.0, (0.25, 1.0), True),
    ("component", 100.0, (0.5, 2.0), True),
    ("component", 250.0, (0.5, 1.0), True),
    ("pattern", 45.0, (0.25, 2.0), True),
    ("pattern", 200.0, (0.5, 1.0), True),
    ("mixed", 300.0, (0.25, 1.0), True),
    ("flat", 30.0, (0.5, 2.0), True),
    ("component", 60.0, (0.25, 2.0), False),
    ("pattern", 160.0, (0.5, 2.0), False),
]
EXPECTED = ["component"] * 3 + ["pattern"] * 2 + ["unclassed"] * 2 + [NOT_CLASSED] * 2
BASE = 5.0  # the blank's response: spontaneous activity, never subtracted


def component_contrast_curve(unit, d):
    """The unit's response to a grating at the components' contrast at its best pair."""
    return BASE + vm(d, unit[1])


def phase_term(unit, d, phase):
    """A direction-dependent response of opposite sign at the two phases:
    gone from the mean over phases, wrong at either phase alone."""
    return (1.0 if phase == 0.0 else -1.0) * 4.0 * vm(d, unit[1] + 150.0, kappa=1.0)


def grating_response(unit, d, sf, tf, phase, contrast):
    _, preferred, best, _ = unit
    if (sf, tf) != best:  # weak, and tuned elsewhere
        r = BASE + 2.0 * vm(d, preferred + 90.0)
    elif contrast == 0.5:
        r = component_contrast_curve(unit, d)
    else:  # full contrast: stronger and broader
        r = BASE + 2.0 * vm(d, preferred, kappa=1.0)
    return r + phase_term(unit, d, phase)


def plaid_response(unit, d, sf, tf, phase):
    kind, preferred, best, _ = unit
    half = ANGLE / 2
    f = lambda x: component_contrast_curve(unit, x)  # noqa: E731
    if (sf, tf) != best:
        # Strong responses of the other kind: averaging over pairs misleads.
        if kind == "component":
            r = BASE + 30.0 * vm(d, preferred, kappa=1.5)
        else:
            r = BASE + 15.0 * (vm(d - half, preferred, 1.5) + vm(d + half, preferred, 1.5))
    elif kind == "component":  # Movshon et al. 1985: the sum of the responses to each grating
        r = f(d - half) + f(d + half)
    elif kind == "pattern":  # the grating curve at the plaid's direction
        r = f(d)
    elif kind == "mixed":
        pattern, component = vm(d, preferred), vm(d - half, preferred) + vm(d + half, preferred)
        r = BASE + 0.5 * pattern / 10.0 + 0.5 * component / component_peak(preferred)
        r = r + 0.02 * np.cos(np.deg2rad(5 * d))  # not exactly a blend of the two
    else:
        r = BASE
    return r + phase_term(unit, d, phase)


def component_peak(preferred):
    d = directions(360)
    return float(np.max(vm(d - ANGLE / 2, preferred) + vm(d + ANGLE / 2, preferred)))


def record(table, respond):
    """(N, U) responses to the rows of `table` (the blank: BASE)."""
    rows = []
    for i in range(len(table["blank"])):
        if table["blank"][i]:
            rows.append([BASE] * len(UNITS))
            continue
        d, sf, tf, ph = (
            float(table[c][i])
            for c in (
                "direction_deg",
                "spatial_frequency_cpd",
                "temporal_frequency_hz",
                "phase_deg",
            )
        )
        rows.append([respond(u, d, sf, tf, ph, float(table["contrast"][i])) for u in UNITS])
    return np.asarray(rows)


def record_gratings(table):
    return record(table, grating_response)


def record_plaids(table):
    return record(table, lambda u, d, sf, tf, ph, c: plaid_response(u, d, sf, tf, ph))


BEST_SF = np.array([u[2][0] for u in UNITS])
BEST_TF = np.array([u[2][1] for u in UNITS])
SELECTIVE = np.array([u[3] for u in UNITS])


@pytest.fixture(scope="module")
def experiment():
    g, p = grating_table(), plaid_table()
    return g, record_gratings(g), p, record_plaids(p)


def test_plaid_experiment_classes_the_synthetic_units(experiment):
    g, g_resp, p, p_resp = experiment
    pc = plaid_experiment(g_resp, g, p_resp, p, BEST_SF, BEST_TF, SELECTIVE)
    assert pc.classes.tolist() == EXPECTED
    assert pc.classed.tolist() == SELECTIVE.tolist()
    assert pc.directions_deg.tolist() == directions(12).tolist()
    assert pc.plaid_angle_deg == ANGLE
    assert (pc.grating_contrast, pc.component_contrast, pc.plaid_contrast) == (0.5, 0.5, 1.0)
    assert pc.spatial_frequency_cpd.tolist() == BEST_SF.tolist()
    assert pc.temporal_frequency_hz.tolist() == BEST_TF.tolist()
    # Each curve at the unit's best pair and the components' contrast,
    # averaged over both phases, raw (the blank's BASE still in it).
    d = directions(12)
    for u, unit in enumerate(UNITS):
        assert pc.pattern_prediction[:, u] == pytest.approx(component_contrast_curve(unit, d))
        plaid = [plaid_response(unit, x, *unit[2], 0.0) - phase_term(unit, x, 0.0) for x in d]
        assert pc.plaid_curves[:, u] == pytest.approx(plaid)
    # The component and pattern units fit their prediction exactly (12
    # directions, +-60 deg on the samples), also those not classed.
    for u in (0, 1, 2, 7):
        assert pc.zc[u] == np.inf and pc.rp[u] == pytest.approx(0.0, abs=1e-6)
    for u in (3, 4, 8):
        assert pc.zp[u] == np.inf and pc.rc[u] == pytest.approx(0.0, abs=1e-6)
    assert np.isnan(pc.zp[6]) and np.isnan(pc.zc[6])
    assert np.isfinite(pc.zp[5]) and abs(pc.zp[5] - pc.zc[5]) < SMITH_CRITERION


def test_the_best_pairs_are_those_of_grating_tuning(experiment):
    # The caller passes the pair each unit's direction tuning was taken at.
    g, g_resp, _, _ = experiment
    tuning = grating_tuning(g_resp, g)
    assert tuning.condition["spatial_frequency_cpd"].tolist() == BEST_SF.tolist()
    assert tuning.condition["temporal_frequency_hz"].tolist() == BEST_TF.tolist()


def test_plaid_experiment_summary_counts_direction_selective_units(experiment):
    g, g_resp, p, p_resp = experiment
    s = plaid_experiment(g_resp, g, p_resp, p, BEST_SF, BEST_TF, SELECTIVE).summary()
    json.dumps(s)
    assert s["units"] == 7 and s["not_classed"] == 2 and s["undefined"] == 1
    assert s["counts"] == {"pattern": 2, "component": 3, "unclassed": 2}
    assert s["class_fractions"] == pytest.approx(
        {"pattern": 2 / 7, "component": 3 / 7, "unclassed": 2 / 7}
    )
    assert s["zp"]["n"] == 6 and s["zc"]["n"] == 6
    assert s["plaid_angle_deg"] == ANGLE and s["criterion"] == SMITH_CRITERION
    assert (s["grating_contrast"], s["component_contrast"], s["plaid_contrast"]) == (0.5, 0.5, 1.0)
    # Restricted further by the caller: of the first two units, both component.
    only = plaid_experiment(g_resp, g, p_resp, p, BEST_SF, BEST_TF, SELECTIVE).summary(
        responsive=np.arange(len(UNITS)) < 2
    )
    assert only["units"] == 2 and only["counts"]["component"] == 2
    # No direction-selective units: nothing classed, fractions undefined.
    none = plaid_experiment(g_resp, g, p_resp, p, BEST_SF, BEST_TF, np.zeros(len(UNITS), bool))
    s = none.summary()
    assert none.classes.tolist() == [NOT_CLASSED] * len(UNITS)
    assert s["units"] == 0 and s["not_classed"] == len(UNITS)
    assert s["counts"] == dict.fromkeys(PATTERN_CLASSES, 0)
    assert s["class_fractions"] == dict.fromkeys(PATTERN_CLASSES)
    json.dumps(s)


def test_the_wrong_pair_or_averaging_over_pairs_or_one_phase_gives_wrong_classes(experiment):
    # What the experiment guards against, on the same responses.
    g, g_resp, p, p_resp = experiment
    right = plaid_experiment(g_resp, g, p_resp, p, BEST_SF, BEST_TF, SELECTIVE)
    kinds = slice(0, 5)  # the component and pattern units
    # Every unit measured at the next pair, not its best: none is classed.
    pairs = [(sf, tf) for sf in SFS for tf in TFS]
    moved = [pairs[(pairs.index(u[2]) + 1) % len(pairs)] for u in UNITS]
    wrong = plaid_experiment(
        g_resp, g, p_resp, p, [m[0] for m in moved], [m[1] for m in moved], SELECTIVE
    )
    assert wrong.classes[kinds].tolist() == ["unclassed"] * 5
    d = directions(12)
    plaid_rows = ~p["blank"]
    # The plaid curve averaged over every pair and phase, the grating curve at
    # the best pair (the old analysis): the component units look pattern and
    # the pattern units component.
    averaged = np.stack([p_resp[plaid_rows & (p["direction_deg"] == x)].mean(axis=0) for x in d])
    old = pattern_component(right.pattern_prediction, averaged, d, ANGLE)
    assert old.classes[kinds].tolist() == ["pattern"] * 3 + ["component"] * 2
    # The curves at one phase only: the component units look pattern.
    one_phase = np.stack([[grating_response(u, x, *u[2], 0.0, 0.5) for u in UNITS] for x in d])
    one_plaid = np.stack([[plaid_response(u, x, *u[2], 0.0) for u in UNITS] for x in d])
    single = pattern_component(one_phase, one_plaid, d, ANGLE)
    assert single.classes[kinds].tolist() == ["pattern"] * 5


def test_plaid_experiment_without_component_contrast_gratings_uses_the_highest():
    g, p = grating_table(contrasts=(0.25, 1.0)), plaid_table()
    pc = plaid_experiment(record_gratings(g), g, record_plaids(p), p, BEST_SF, BEST_TF, SELECTIVE)
    assert (pc.grating_contrast, pc.component_contrast, pc.plaid_contrast) == (1.0, 0.5, 1.0)
    d = directions(12)
    for u, unit in enumerate(UNITS):
        full = BASE + 2.0 * vm(d, unit[1], kappa=1.0)
        assert pc.pattern_prediction[:, u] == pytest.approx(full)
    s = pc.summary()
    assert (s["grating_contrast"], s["component_contrast"], s["plaid_contrast"]) == (1.0, 0.5, 1.0)


def test_plaid_experiment_at_another_plaid_contrast():
    # Plaids at contrast 0.5: components at 0.25, which the gratings include.
    g, p = grating_table(contrasts=(1.0, 0.25)), plaid_table(contrast=0.5)
    pc = plaid_experiment(
        np.ones((len(g["blank"]), 2)),
        g,
        np.ones((len(p["blank"]), 2)),
        p,
        [0.25, 0.5],
        [1.0, 2.0],
        [True, True],
    )
    assert (pc.grating_contrast, pc.component_contrast, pc.plaid_contrast) == (0.25, 0.25, 0.5)
    # Flat responses: no scores, unclassed.
    assert pc.classes.tolist() == ["unclassed", "unclassed"]


def test_units_not_selective_may_have_no_pair(experiment):
    g, g_resp, p, p_resp = experiment
    sf, tf = BEST_SF.copy(), BEST_TF.copy()
    sf[7] = tf[8] = np.nan
    pc = plaid_experiment(g_resp, g, p_resp, p, sf, tf, SELECTIVE)
    assert pc.classes.tolist() == EXPECTED
    assert np.all(np.isnan(pc.plaid_curves[:, 7:])) and np.all(np.isnan(pc.zp[7:]))
    sf[0] = np.nan
    with pytest.raises(TuningError, match="no best frequency pair"):
        plaid_experiment(g_resp, g, p_resp, p, sf, tf, SELECTIVE)


def mismatch(g, p):
    plaid_experiment(record_gratings(g), g, record_plaids(p), p, BEST_SF, BEST_TF, SELECTIVE)


def test_plaid_experiment_rejects_plaids_that_are_not_the_gratings():
    g = grating_table()
    with pytest.raises(TuningError, match="phases"):
        mismatch(g, plaid_table(phases=(0.0,)))
    with pytest.raises(TuningError, match=r"no plaid at spatial frequency 0\.5"):
        mismatch(g, plaid_table(sfs=(0.25,)))
    with pytest.raises(TuningError, match="directions"):
        mismatch(g, plaid_table(directions=8))
    with pytest.raises(TuningError, match="at least 4 directions"):
        mismatch(grating_table(directions=3), plaid_table(directions=3))
    # Gratings at the components' contrast shown at one pair only: the other
    # units' best pairs are missing from them.
    partial = grating_table(contrasts=(1.0,))
    half = grating_table(sfs=(0.25,), tfs=(1.0,), contrasts=(0.5,))
    merged = {k: np.concatenate([partial[k], half[k]]) for k in partial}
    with pytest.raises(TuningError, match=r"no grating at contrast 0\.5 at spatial frequency"):
        mismatch(merged, plaid_table())


def test_plaid_experiment_bad_inputs(experiment):
    g, g_resp, p, p_resp = experiment
    with pytest.raises(TuningError, match=r"\(U,\)"):
        plaid_experiment(g_resp, g, p_resp, p, BEST_SF[:3], BEST_TF, SELECTIVE)
    with pytest.raises(TuningError, match="bool"):
        plaid_experiment(g_resp, g, p_resp, p, BEST_SF, BEST_TF, SELECTIVE.astype(int))
    with pytest.raises(TuningError, match="row per table row"):
        plaid_experiment(g_resp[1:], g, p_resp, p, BEST_SF, BEST_TF, SELECTIVE)
    with pytest.raises(TuningError, match="lacks columns"):
        no_angle = {k: v for k, v in p.items() if k != "plaid_angle_deg"}
        plaid_experiment(g_resp, g, p_resp, no_angle, BEST_SF, BEST_TF, SELECTIVE)
    two = {k: v.copy() for k, v in p.items()}
    two["contrast"][0] = 0.5
    with pytest.raises(TuningError, match="one contrast"):
        plaid_experiment(g_resp, g, p_resp, two, BEST_SF, BEST_TF, SELECTIVE)
