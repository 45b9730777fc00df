"""Speed tuning: the log-Gaussian of Nover, Anderson & DeAngelis (2005)
recovered from noise-free curves, and curves it cannot fit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stdann.analysis.speed import SpeedTuning, log_gaussian, speed_tuning
from stdann.analysis.tuning import TuningError

SPEEDS = np.array([0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0])

# (A, b, v0, sigma, s0): sigma near the MT mean of 1.22 (Anderson, Nover &
# DeAngelis 2003) and around it; s0 from 0 to beyond the slowest speed.
KNOWN = [
    (10.0, 2.0, 6.0, 1.0, 0.5),
    (3.0, 0.0, 20.0, 0.6, 0.0),
    (5.0, 1.0, 1.5, 1.5, 2.0),
    (4.0, -1.0, 40.0, 0.8, 1.0),
    (2.0, 3.0, 3.0, 2.5, 0.2),
    (1.0, 0.0, 0.3, 1.22, 0.1),
]


def curves_of(params, speeds=SPEEDS):
    return np.stack([a * log_gaussian(speeds, v0, s, s0) + b for a, b, v0, s, s0 in params], 1)


def test_log_gaussian_by_hand():
    # q = (v + s0) / (v0 + s0); at v = v0 the shape is 1, one sigma of ln q away exp(-1/2).
    assert log_gaussian(8.0, 8.0, 1.0, 0.5) == 1.0
    v = (8.0 + 0.5) * np.e - 0.5  # ln q = 1
    assert log_gaussian(v, 8.0, 1.0, 0.5) == pytest.approx(np.exp(-0.5))
    assert log_gaussian(v, 8.0, 2.0, 0.5) == pytest.approx(np.exp(-1 / 8))
    assert log_gaussian(0.0, 8.0, 1.0, 0.0) == 0.0  # ln 0: the shape vanishes, no NaN


def test_known_parameters_are_recovered_from_noise_free_curves():
    fit = speed_tuning(curves_of(KNOWN), SPEEDS)
    assert isinstance(fit, SpeedTuning) and fit.fitted.all() and not fit.at_bound.any()
    a, b, v0, sigma, s0 = np.array(KNOWN).T
    assert fit.preferred_speed == pytest.approx(v0, rel=1e-6)
    assert fit.sigma == pytest.approx(sigma, rel=1e-6)
    assert fit.offset == pytest.approx(s0, abs=1e-6)
    assert fit.amplitude == pytest.approx(a, rel=1e-6)
    assert fit.baseline == pytest.approx(b, abs=1e-6)
    assert fit.r_squared == pytest.approx(1.0, abs=1e-9)
    assert fit.predict([3.0, 50.0]) == pytest.approx(curves_of(KNOWN, np.array([3.0, 50.0])))


def test_grid_alone_lands_near_the_answer():
    fit = speed_tuning(curves_of(KNOWN[:2]), SPEEDS, refine=False)
    # One grid step of v0 is (64 * 2 / (0.5 / 2)) ** (1 / 31), about 22%.
    assert fit.preferred_speed == pytest.approx([6.0, 20.0], rel=0.25)
    assert np.all(fit.r_squared > 0.95)


def test_half_maximum_ratio():
    # With s0 = 0 the half-maximum speeds are v0 exp(-+sigma sqrt(2 ln 2)).
    fit = speed_tuning(curves_of([(1.0, 0.0, 8.0, 1.0, 0.0), (1.0, 0.0, 8.0, 0.5, 3.0)]), SPEEDS)
    assert fit.half_maximum_ratio[0] == pytest.approx(np.exp(2 * np.sqrt(2 * np.log(2))))
    w = 0.5 * np.sqrt(2 * np.log(2))
    expected = (11 * np.exp(w) - 3) / (11 * np.exp(-w) - 3)
    assert fit.half_maximum_ratio[1] == pytest.approx(expected)
    # A curve still above half its peak at zero speed has no finite ratio.
    wide = speed_tuning(curves_of([(1.0, 0.0, 2.0, 2.0, 5.0)]), SPEEDS)
    assert wide.half_maximum_ratio[0] == np.inf


def test_flat_and_zero_responses_are_not_fitted():
    responses = np.stack([np.full(9, 3.0), np.zeros(9), curves_of(KNOWN[:1])[:, 0]], axis=1)
    fit = speed_tuning(responses, SPEEDS)
    assert fit.fitted.tolist() == [False, False, True]
    for name in ("preferred_speed", "sigma", "offset", "amplitude", "baseline", "r_squared"):
        assert np.all(np.isnan(getattr(fit, name)[:2])), name
    assert not fit.at_bound[:2].any()


def test_monotonic_curves_sit_at_a_bound():
    low_pass = 5.0 / (1.0 + SPEEDS)
    high_pass = np.log1p(SPEEDS)
    fit = speed_tuning(np.stack([low_pass, high_pass], axis=1), SPEEDS)
    assert fit.fitted.all() and fit.at_bound.all()
    assert fit.preferred_speed == pytest.approx(list(fit.v0_range))
    assert fit.v0_range == (0.25, 128.0)


def test_speeds_in_any_order_and_determinism():
    order = np.random.default_rng(2).permutation(len(SPEEDS))
    curves = curves_of(KNOWN)
    shuffled = speed_tuning(curves[order], SPEEDS[order])
    assert shuffled.speeds_deg_per_s.tolist() == SPEEDS.tolist()
    assert shuffled.preferred_speed == pytest.approx([k[2] for k in KNOWN], rel=1e-6)
    # Many noisy units: the same fits again, and unit by unit as in a batch.
    rng = np.random.default_rng(5)
    noisy = np.repeat(curves, 400, axis=1) + rng.normal(0, 0.3, (9, 2400))
    first = speed_tuning(noisy, SPEEDS)
    again = speed_tuning(noisy, SPEEDS)
    alone = speed_tuning(noisy[:, 7:8], SPEEDS)
    assert np.array_equal(first.preferred_speed, again.preferred_speed, equal_nan=True)
    assert alone.preferred_speed[0] == pytest.approx(first.preferred_speed[7], rel=1e-9)
    # Noise of 0.3 on amplitudes of 1-10 moves the median v0 of unit 0 little.
    assert np.median(first.preferred_speed[:400]) == pytest.approx(6.0, rel=0.1)


def test_summary():
    responses = np.concatenate(
        [curves_of(KNOWN[:3]), np.full((9, 1), 1.0), (5.0 / (1 + SPEEDS))[:, None]], axis=1
    )
    fit = speed_tuning(responses, SPEEDS)
    s = fit.summary()
    assert s["units"] == 5 and s["fitted"] == 4 and s["fraction_fitted"] == 0.8
    assert s["fraction_at_bound"] == 0.25
    # v0 over the tuned units only: 6, 20, 1.5.
    assert s["preferred_speed_deg_per_s"]["n"] == 3
    assert s["preferred_speed_deg_per_s"]["median"] == pytest.approx(6.0)
    assert s["sigma"]["n"] == 4
    only = fit.summary(responsive=[False, False, False, True, False])
    assert only["fitted"] == 0 and only["fraction_at_bound"] is None
    assert only["r_squared"]["median"] is None
    json.dumps(only)
    with pytest.raises(TuningError, match="responsive"):
        fit.summary(responsive=[True])


def test_bad_inputs():
    with pytest.raises(TuningError, match="at least 5 distinct"):
        speed_tuning(np.ones((4, 1)), [1.0, 2.0, 4.0, 8.0])
    with pytest.raises(TuningError, match="at least 5 distinct"):
        speed_tuning(np.ones((5, 1)), [1.0, 2.0, 2.0, 4.0, 8.0])
    with pytest.raises(TuningError, match=">= 0"):
        speed_tuning(np.ones((5, 1)), [-1.0, 2.0, 3.0, 4.0, 8.0])
    with pytest.raises(TuningError, match=r"reshape to \(S, 1\)"):
        speed_tuning(np.ones(9), SPEEDS)
    with pytest.raises(TuningError, match=r"units \[0\]"):
        speed_tuning(np.full((9, 1), np.nan), SPEEDS)
    with pytest.raises(TuningError, match="extend"):
        speed_tuning(np.ones((9, 1)), SPEEDS, extend=0.5)
