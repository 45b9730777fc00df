"""Pattern and component selectivity: synthetic pattern and component units,
and the formulas of Smith, Majaj & Movshon (2005) against hand computations."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from stdann.analysis.pattern_motion import (
    SMITH_CRITERION,
    fisher_z,
    partial_correlations,
    pattern_component,
)
from stdann.analysis.tuning import TuningError


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
    assert s["units"] == 3 and s["undefined"] == 1
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
