"""Speed tuning: the log-Gaussian of Nover, Anderson & DeAngelis (2005)
recovered from noise-free curves, units classed by where their peak lies,
and curves it cannot fit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stdann.analysis.speed import SPEED_CLASSES, SpeedTuning, log_gaussian, speed_tuning
from stdann.analysis.tuning import TuningError

# The paper's dot speeds (configs/paper.yaml), and the same with a zero speed.
SPEEDS = np.array([0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0])
WITH_ZERO = np.concatenate([[0.0], SPEEDS])

# (A, b, v_pref, sigma, s0): sigma near the MT mean of 1.22 and s0 near the MT
# mean offset of 0.30 deg/s (Anderson, Nover & DeAngelis 2003) and around them;
# v_pref from below the slowest speed shown to above the fastest, 32 deg/s the
# macaque peak (Maunsell & Van Essen 1983).
KNOWN = [
    (10.0, 2.0, 6.0, 1.0, 0.5),
    (3.0, 0.0, 20.0, 0.6, 0.0),
    (5.0, 1.0, 1.5, 1.5, 2.0),
    (4.0, -1.0, 40.0, 0.8, 1.0),
    (2.0, 3.0, 3.0, 2.5, 0.2),
    (1.0, 0.5, 32.0, 1.22, 0.3),
    (2.0, 0.0, 64.0, 1.22, 0.3),
    (1.5, 0.2, 128.0, 1.0, 0.3),
    (1.0, 0.0, 0.3, 1.22, 0.1),
]
KNOWN_CLASSES = ["tuned"] * 7 + ["high-pass", "low-pass"]


def curves_of(params, speeds=SPEEDS):
    return np.stack([a * log_gaussian(speeds, v, s, s0) + b for a, b, v, s, s0 in params], 1)


def test_log_gaussian_by_hand():
    # q = (v + s0) / (v_pref + s0); at v = v_pref the shape is 1, one sigma of ln q away exp(-1/2).
    assert log_gaussian(8.0, 8.0, 1.0, 0.5) == 1.0
    v = (8.0 + 0.5) * np.e - 0.5  # ln q = 1
    assert log_gaussian(v, 8.0, 1.0, 0.5) == pytest.approx(np.exp(-0.5))
    assert log_gaussian(v, 8.0, 2.0, 0.5) == pytest.approx(np.exp(-1 / 8))
    assert log_gaussian(0.0, 8.0, 1.0, 0.0) == 0.0  # ln 0: the shape vanishes, no NaN


@pytest.mark.parametrize("speeds", [SPEEDS, WITH_ZERO], ids=["octaves", "with zero"])
def test_known_parameters_are_recovered_from_noise_free_curves(speeds):
    fit = speed_tuning(curves_of(KNOWN, speeds), speeds)
    assert isinstance(fit, SpeedTuning) and fit.fitted.all() and not fit.at_bound.any()
    a, b, v_pref, sigma, s0 = np.array(KNOWN).T
    # v_pref within 1% asked; noise-free, the fit does far better.
    assert fit.preferred_speed == pytest.approx(v_pref, rel=1e-3)
    assert fit.sigma == pytest.approx(sigma, rel=1e-3)
    assert fit.offset == pytest.approx(s0, abs=1e-3)
    assert fit.amplitude == pytest.approx(a, rel=1e-3)
    assert fit.baseline == pytest.approx(b, abs=1e-3)
    assert fit.r_squared == pytest.approx(1.0, abs=1e-9)
    assert fit.speed_class.tolist() == KNOWN_CLASSES
    assert fit.tuned.tolist() == [c == "tuned" for c in KNOWN_CLASSES]
    wanted = curves_of(KNOWN, np.array([3.0, 50.0]))
    assert fit.predict([3.0, 50.0]) == pytest.approx(wanted, rel=1e-4, abs=1e-4)


def test_the_search_reaches_eight_times_beyond_the_speeds_shown():
    fit = speed_tuning(curves_of(KNOWN[:1]), SPEEDS)
    assert fit.preferred_speed_search_range == (0.0625, 512.0)
    assert fit.tested_range == (0.5, 64.0)
    zero = speed_tuning(curves_of(KNOWN[:1], WITH_ZERO), WITH_ZERO, extend=2.0)
    assert zero.preferred_speed_search_range == (0.25, 128.0)  # the slowest nonzero speed
    assert zero.tested_range == (0.5, 64.0)


def test_peaks_on_the_end_speeds_are_tuned():
    fit = speed_tuning(curves_of([(1.0, 0.0, 0.5, 1.0, 0.1), (1.0, 0.0, 64.0, 1.0, 0.1)]), SPEEDS)
    assert fit.speed_class.tolist() == ["tuned", "tuned"]
    assert fit.preferred_speed == pytest.approx([0.5, 64.0], rel=1e-4)


def test_grid_alone_lands_near_the_answer():
    fit = speed_tuning(curves_of(KNOWN[:2]), SPEEDS, refine=False)
    # One grid step of v_pref is (512 / 0.0625) ** (1 / 39), about 26%.
    assert fit.preferred_speed == pytest.approx([6.0, 20.0], rel=0.3)
    assert np.all(fit.r_squared > 0.95)


def test_half_maximum_ratio():
    # With s0 = 0 the half-maximum speeds are v_pref exp(-+sigma sqrt(2 ln 2)).
    fit = speed_tuning(curves_of([(1.0, 0.0, 8.0, 1.0, 0.0), (1.0, 0.0, 8.0, 0.5, 3.0)]), SPEEDS)
    assert fit.half_maximum_ratio[0] == pytest.approx(np.exp(2 * np.sqrt(2 * np.log(2))), rel=1e-4)
    w = 0.5 * np.sqrt(2 * np.log(2))
    expected = (11 * np.exp(w) - 3) / (11 * np.exp(-w) - 3)
    assert fit.half_maximum_ratio[1] == pytest.approx(expected, rel=1e-4)
    # A curve still above half its peak at zero speed has no finite ratio.
    wide = speed_tuning(curves_of([(1.0, 0.0, 2.0, 2.0, 5.0)]), SPEEDS)
    assert wide.half_maximum_ratio[0] == np.inf


def test_flat_and_zero_responses_are_unfitted():
    responses = np.stack([np.full(8, 3.0), np.zeros(8), curves_of(KNOWN[:1])[:, 0]], axis=1)
    fit = speed_tuning(responses, SPEEDS)
    assert fit.speed_class.tolist() == ["unfitted", "unfitted", "tuned"]
    assert fit.fitted.tolist() == [False, False, True]
    for name in ("preferred_speed", "sigma", "offset", "amplitude", "baseline", "r_squared"):
        assert np.all(np.isnan(getattr(fit, name)[:2])), name
    assert not fit.at_bound[:2].any()


def test_low_and_high_pass_curves_are_classed_not_dropped():
    # Monotonic curves over the speeds shown, not log-Gaussians: falling
    # (1 / (1 + v)) and rising (ln(1 + v)); and log-Gaussians peaking two octaves
    # below the slowest and above the fastest speed shown.
    responses = np.concatenate(
        [
            np.stack([5.0 / (1.0 + SPEEDS), np.log1p(SPEEDS)], axis=1),
            curves_of([(3.0, 1.0, 0.125, 1.2, 0.0), (3.0, 1.0, 256.0, 1.2, 0.3)]),
        ],
        axis=1,
    )
    fit = speed_tuning(responses, SPEEDS)
    assert fit.speed_class.tolist() == ["low-pass", "high-pass", "low-pass", "high-pass"]
    assert fit.fitted.all() and not np.isnan(fit.preferred_speed).any()
    assert np.all(fit.r_squared > 0.99)
    assert fit.preferred_speed[0] < 0.5 and fit.preferred_speed[1] > 64
    # Peaks beyond the speeds shown but inside the search are found, less
    # exactly: one flank of the curve pins the peak less than two do.
    assert fit.preferred_speed[2:] == pytest.approx([0.125, 256.0], rel=0.05)
    assert not fit.at_bound[2:].any()
    summary = fit.summary()
    assert summary["classes"]["low-pass"] == {"count": 2, "fraction": 0.5}
    assert summary["classes"]["high-pass"] == {"count": 2, "fraction": 0.5}
    assert summary["preferred_speed_deg_per_s"]["n"] == 0


def test_speeds_in_any_order_and_determinism():
    order = np.random.default_rng(2).permutation(len(WITH_ZERO))
    curves = curves_of(KNOWN[:6], WITH_ZERO)
    shuffled = speed_tuning(curves[order], WITH_ZERO[order])
    assert shuffled.speeds_deg_per_s.tolist() == WITH_ZERO.tolist()
    assert shuffled.preferred_speed == pytest.approx([k[2] for k in KNOWN[:6]], rel=1e-3)
    # Many noisy units: the same fits again, and unit by unit as in a batch.
    rng = np.random.default_rng(5)
    noisy = np.repeat(curves, 50, axis=1) + rng.normal(0, 0.3, (9, 300))
    first = speed_tuning(noisy, WITH_ZERO)
    again = speed_tuning(noisy, WITH_ZERO)
    alone = speed_tuning(noisy[:, 7:8], WITH_ZERO)
    assert np.array_equal(first.preferred_speed, again.preferred_speed, equal_nan=True)
    assert alone.preferred_speed[0] == pytest.approx(first.preferred_speed[7], rel=1e-9)
    # Noise of 0.3 on amplitudes of 1-10 moves the median v_pref of unit 0 little.
    assert np.median(first.preferred_speed[:50]) == pytest.approx(6.0, rel=0.1)


def test_summary():
    responses = np.concatenate(
        [
            curves_of(KNOWN[:3]),
            np.full((8, 1), 1.0),
            (5.0 / (1 + SPEEDS))[:, None],
            curves_of(KNOWN[7:8]),
        ],
        axis=1,
    )
    blank = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    fit = speed_tuning(responses, SPEEDS, blank=blank)
    s = fit.summary()
    json.dumps(s)
    assert s["units"] == 6 and s["fitted"] == 5 and s["fraction_fitted"] == 5 / 6
    assert list(s["classes"]) == list(SPEED_CLASSES)
    assert s["classes"]["tuned"] == {"count": 3, "fraction": 0.5}
    assert s["classes"]["low-pass"]["count"] == 1 and s["classes"]["high-pass"]["count"] == 1
    assert s["classes"]["unfitted"]["count"] == 1
    # v_pref, s0 and sigma over the tuned units only: (6, 20, 1.5), (0.5, 0, 2), (1, 0.6, 1.5).
    assert s["preferred_speed_deg_per_s"]["n"] == 3
    assert s["preferred_speed_deg_per_s"]["median"] == pytest.approx(6.0, rel=1e-4)
    assert s["offset_deg_per_s"]["median"] == pytest.approx(0.5, abs=1e-3)
    assert s["sigma"]["median"] == pytest.approx(1.0, rel=1e-4)
    assert s["sigma"]["n"] == 3 and s["half_maximum_ratio"]["n"] == 3
    assert s["sigma_at_lower_bound"] == 0
    # b minus the blank: 2 - 1, 0 - 0, 1 - 0.
    assert s["baseline_minus_blank"]["median"] == pytest.approx(1.0, abs=1e-3)
    assert s["r_squared"]["n"] == 5
    assert s["speeds_deg_per_s"] == SPEEDS.tolist()
    assert s["tested_range_deg_per_s"] == [0.5, 64.0]
    assert s["preferred_speed_search_range_deg_per_s"] == [0.0625, 512.0]
    assert "v_pref" in s["model"] and "s0" in s["model"]
    only = fit.summary(responsive=[False, False, False, True, False, False])
    assert only["fitted"] == 0 and only["classes"]["unfitted"] == {"count": 1, "fraction": 1.0}
    assert only["r_squared"]["median"] is None
    none = fit.summary(responsive=np.zeros(6, bool))
    assert none["fraction_fitted"] is None and none["classes"]["tuned"]["fraction"] is None
    json.dumps(none)
    no_blank = speed_tuning(responses, SPEEDS).summary()
    assert no_blank["baseline_minus_blank"]["n"] == 0
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
        speed_tuning(np.ones(8), SPEEDS)
    with pytest.raises(TuningError, match=r"units \[0\]"):
        speed_tuning(np.full((8, 1), np.nan), SPEEDS)
    with pytest.raises(TuningError, match="extend"):
        speed_tuning(np.ones((8, 1)), SPEEDS, extend=0.5)
    with pytest.raises(TuningError, match="blank"):
        speed_tuning(np.ones((8, 2)), SPEEDS, blank=[0.0])


def test_a_peak_on_one_speed_has_no_measured_width():
    # A response at one speed alone: the fit's sigma falls to its lower bound,
    # a width the octave-spaced speeds cannot resolve, left out of sigma's summary.
    spike = np.where(SPEEDS == 4.0, 5.0, 1.0)[:, None]
    fit = speed_tuning(np.concatenate([spike, curves_of(KNOWN[:1])], axis=1), SPEEDS)
    assert fit.tuned.all()
    assert fit.sigma_at_bound.tolist() == [True, False]
    assert fit.preferred_speed[0] == pytest.approx(4.0, rel=0.05)
    s = fit.summary()
    assert s["sigma"]["n"] == 1 and s["sigma_at_lower_bound"] == 1
