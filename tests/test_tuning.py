"""Direction tuning metrics against closed forms (von Mises, wrapped normal),
hand computations and edge cases."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stdann.analysis.tuning import (
    CLASSES,
    DirectionTuning,
    TuningError,
    TuningThresholds,
    direction_tuning,
    grating_tuning,
    interpolate_tuning_curve,
    median_and_quartiles,
    sorted_directions,
    summarize,
)
from stdann.stimuli import drifting_gratings

# Modified Bessel functions of the first kind (Abramowitz & Stegun 1964, table 9.8).
I0 = {1.0: 1.266065877752008, 2.0: 2.279585302336067}
I1 = {1.0: 0.565159103992485, 2.0: 1.590636854637329}
I2 = {1.0: 0.135747669767038, 2.0: 0.688948447698738}


def directions(count: int) -> np.ndarray:
    return np.arange(count) * 360.0 / count


def von_mises(dirs_deg, preferred_deg, kappa, amplitude=1.0, baseline=0.0):
    theta = np.deg2rad(np.asarray(dirs_deg) - preferred_deg)
    return amplitude * np.exp(kappa * np.cos(theta)) + baseline


def one(tuning: DirectionTuning, name: str) -> float:
    return float(getattr(tuning, name)[0])


@pytest.mark.parametrize("kappa", [1.0, 2.0])
def test_von_mises_against_the_bessel_function_ratios(kappa):
    # Sampled densely and evenly, the harmonics of exp(kappa cos theta) are
    # 2 pi I_n(kappa): |F_1| / F_0 = I_1 / I_0 and |F_2| / F_0 = I_2 / I_0.
    d = directions(360)
    t = direction_tuning(von_mises(d, 90.0, kappa, 3.0)[:, None], d, blank=[0.2])
    assert one(t, "cv") == pytest.approx(1 - I1[kappa] / I0[kappa], abs=1e-12)
    assert one(t, "axial_cv") == pytest.approx(1 - I2[kappa] / I0[kappa], abs=1e-12)
    assert one(t, "axial_ratio") == pytest.approx(I2[kappa] / I1[kappa], abs=1e-12)
    assert abs(t.vector[0]) == pytest.approx(1 - one(t, "cv"), abs=1e-15)
    # Peak e^kappa, null e^-kappa: DSI = tanh(kappa).
    assert one(t, "dsi") == pytest.approx(np.tanh(kappa), abs=1e-12)
    # Relative to the blank b = 0.2: 1 - (null - b) / (pref - b), and the ratio.
    pref, null = 3 * np.exp(kappa), 3 * np.exp(-kappa)
    assert one(t, "di_blank") == pytest.approx(1 - (null - 0.2) / (pref - 0.2), abs=1e-12)
    assert one(t, "ratio_above_blank") == pytest.approx((pref - 0.2) / (null - 0.2), abs=1e-9)
    assert abs(t.axial_vector[0]) == pytest.approx(I2[kappa] / I0[kappa], abs=1e-12)
    assert one(t, "preferred_deg") == pytest.approx(90.0, abs=1e-9)
    assert t.classes[0] == "direction-selective"


@pytest.mark.parametrize("kappa", [0.5, 1.0, 2.0, 8.0])
def test_fwhm_of_a_von_mises(kappa):
    # Half level between e^-kappa and e^kappa is cosh(kappa), reached at
    # cos x = ln(cosh kappa) / kappa.
    expected = np.rad2deg(2 * np.arccos(np.log(np.cosh(kappa)) / kappa))
    d = directions(3600)
    t = direction_tuning(von_mises(d, 200.0, kappa, 2.0, 1.0)[:, None], d)
    assert one(t, "fwhm_deg") == pytest.approx(expected, abs=1e-3)


def test_fwhm_interpolates_between_samples():
    # Peak 4 at 90 deg, minimum 0: the half level is 2.
    d = directions(8)
    curve = np.array([1.0, 3.0, 4.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    t = direction_tuning(curve[:, None], d)
    # Left of the peak (45 deg, then 0 deg): 3 -> 1 crosses 2 at 1.5 steps;
    # right (135 deg): 4 -> 1 crosses 2 at 2/3 of a step.
    assert one(t, "fwhm_deg") == pytest.approx((1.5 + 2 / 3) * 45.0)


@pytest.mark.parametrize("sigma_deg", [20.0, 45.0, 70.0])
def test_bandwidth_is_the_circular_standard_deviation_of_a_wrapped_normal(sigma_deg):
    # A wrapped normal has mean resultant length exp(-sigma^2 / 2), so its
    # circular standard deviation sqrt(-2 ln R) is sigma itself.
    d = directions(72)
    offset = np.deg2rad(d - 30.0)[:, None] + 2 * np.pi * np.arange(-6, 7)[None, :]
    curve = np.exp(-(offset**2) / (2 * np.deg2rad(sigma_deg) ** 2)).sum(axis=1)
    t = direction_tuning(curve[:, None], d)
    assert one(t, "bandwidth_deg") == pytest.approx(sigma_deg, rel=1e-9)
    assert one(t, "preferred_deg") == pytest.approx(30.0, abs=1e-9)


def test_metrics_match_the_direct_formulas_on_an_arbitrary_curve():
    rng = np.random.default_rng(3)
    d = directions(12)
    responses = rng.uniform(2, 5, size=(12, 6))
    blank = rng.uniform(0, 2, size=6)
    t = direction_tuning(responses, d, blank=blank)
    for u in range(6):
        r = responses[:, u]  # as recorded: nothing subtracted, nothing clipped
        f = [sum(r[k] * np.exp(1j * n * np.deg2rad(d[k])) for k in range(12)) for n in range(3)]
        assert np.allclose(t.curves[:, u], r)
        assert t.vector[u] == pytest.approx(f[1] / f[0])
        assert t.cv[u] == pytest.approx(1 - abs(f[1]) / f[0].real)
        assert t.axial_cv[u] == pytest.approx(1 - abs(f[2]) / f[0].real)
        assert t.axial_ratio[u] == pytest.approx(abs(f[2]) / abs(f[1]))
        assert t.preferred_deg[u] == pytest.approx(np.rad2deg(np.angle(f[1])) % 360)
        k = int(np.argmax(r))
        null = r[(k + 6) % 12]
        assert t.dsi[u] == pytest.approx((r[k] - null) / (r[k] + null))
        b = blank[u]
        assert t.di_blank[u] == pytest.approx(1 - (null - b) / (r[k] - b))
        assert t.ratio_above_blank[u] == pytest.approx((r[k] - b) / (null - b))
        assert t.axial_vector[u] == pytest.approx(f[2] / f[0])
        assert t.bandwidth_deg[u] == pytest.approx(
            np.rad2deg(np.sqrt(-2 * np.log(abs(f[1]) / f[0].real)))
        )


@pytest.mark.parametrize("preferred", [0.0, 11.25, 45.0, 191.25, 337.5])
def test_preference_is_exact_for_curves_symmetric_about_it(preferred):
    # With 16 directions a von Mises centred on a sample or halfway between
    # two is sampled symmetrically about its centre.
    d = directions(16)
    t = direction_tuning(von_mises(d, preferred, 1.5)[:, None], d)
    assert one(t, "preferred_deg") == pytest.approx(preferred, abs=1e-9)
    assert np.angle(t.vector[0], deg=True) % 360 == pytest.approx(preferred, abs=1e-9)


def test_opposite_equal_peaks_are_bidirectional_with_dsi_zero():
    d = directions(16)
    curve = von_mises(d, 30.0 - 7.5, 3.0) + von_mises(d, 210.0 - 7.5, 3.0)
    t = direction_tuning(curve[:, None], d)
    assert one(t, "dsi") == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(one(t, "preferred_deg"))  # no first harmonic: no direction
    assert one(t, "cv") == 1.0
    assert one(t, "axial_ratio") == np.inf
    assert t.classes[0] == "bidirectional"


def test_flat_curve_is_non_selective():
    d = directions(8)
    t = direction_tuning(np.full((8, 1), 2.0), d, blank=[1.0])
    assert t.classes[0] == "non-selective"
    assert one(t, "dsi") == 0.0
    assert one(t, "cv") == 1.0 and one(t, "axial_cv") == 1.0
    assert np.isnan(one(t, "axial_ratio")) and np.isnan(one(t, "preferred_deg"))
    assert one(t, "fwhm_deg") == 360.0
    assert one(t, "bandwidth_deg") == np.inf


def test_zero_responses_give_nan_and_unresponsive():
    d = directions(8)
    # Unit 0 silent: nothing is defined.
    responses = np.stack([np.zeros(8), np.full(8, 1.0)], axis=1)
    t = direction_tuning(responses, d, blank=[0.0, 3.0])
    assert t.curves.tolist() == responses.tolist()
    for name in (
        "preferred_deg",
        "dsi",
        "cv",
        "axial_cv",
        "axial_ratio",
        "fwhm_deg",
        "bandwidth_deg",
    ):
        assert np.isnan(getattr(t, name)[0]), name
    assert np.isnan(t.vector[0]) and np.isnan(t.axial_vector[0])
    # Unit 1 responds, flatly, below its blank: its curve has a shape (DSI 0,
    # CV 1) but no index relative to the blank, and it is not responsive.
    assert t.dsi[1] == 0.0 and t.cv[1] == 1.0
    assert np.isnan(t.di_blank[1]) and np.isnan(t.ratio_above_blank[1])
    assert t.peak_above_blank.tolist() == [0.0, -2.0]
    assert t.classes.tolist() == ["unresponsive", "unresponsive"]
    assert not t.responsive.any()


def test_nothing_is_clipped_and_a_null_below_the_blank_gives_di_above_one():
    d = directions(4)
    # Unit 0: peak 7 at 90 deg, null 6 at 270 deg, blank 5.
    # Unit 1: the same peak, a null of 3: below the blank of 5, as a neuron
    # firing below its spontaneous rate in the null direction.
    responses = np.array([[5.0, 5.0], [7.0, 7.0], [4.0, 4.0], [6.0, 3.0]])
    t = direction_tuning(responses, d, blank=[5.0, 5.0])
    assert t.curves.tolist() == responses.tolist()
    assert t.dsi.tolist() == pytest.approx([(7 - 6) / (7 + 6), (7 - 3) / (7 + 3)])
    # 1 - (null - b) / (pref - b): 1 - 1/2, and 1 - (-2)/2 = 2, not clipped to 1.
    assert t.di_blank.tolist() == pytest.approx([0.5, 2.0])
    # (pref - b) / (null - b) is 2 for unit 0; for unit 1 no ratio can be formed.
    assert t.ratio_above_blank[0] == pytest.approx(2.0)
    assert np.isnan(t.ratio_above_blank[1])
    # The raw CV, from the raw curve (F_1 of [5, 7, 4, 3] is -1 + 4i, F_0 = 19).
    assert t.cv[1] == pytest.approx(1 - np.hypot(1, 4) / 19)


def test_a_negative_response_leaves_the_circular_variance_undefined():
    d = directions(4)
    t = direction_tuning(np.array([[1.0], [3.0], [-1.0], [0.5]]), d)
    assert np.isnan(one(t, "cv")) and np.isnan(t.vector[0])
    assert np.isfinite(one(t, "dsi")) and one(t, "preferred_deg") == pytest.approx(
        np.rad2deg(np.angle(1 + 3j + 1 - 0.5j)) % 360
    )


def test_null_response_is_interpolated_when_not_sampled():
    d = directions(5)  # 0, 72, 144, 216, 288: 180 lies halfway between 144 and 216
    curve = np.array([10.0, 2.0, 3.0, 1.0, 2.0])
    t = direction_tuning(curve[:, None], d)
    assert one(t, "dsi") == pytest.approx((10 - 2) / (10 + 2))


def test_directions_in_any_order_and_beyond_360():
    d = directions(8)
    curve = von_mises(d, 135.0, 1.0)
    order = np.array([3, 0, 7, 5, 1, 6, 2, 4])
    t = direction_tuning(curve[order, None], d[order] + 720.0)
    assert t.directions_deg.tolist() == d.tolist()
    assert t.curves[:, 0] == pytest.approx(curve)
    assert one(t, "preferred_deg") == pytest.approx(135.0)


def test_thresholds_are_options():
    d = directions(8)
    curve = von_mises(d, 0.0, 0.6)  # DSI tanh(0.6) = 0.537 >= 1/3
    default = direction_tuning(curve[:, None], d)
    strict = direction_tuning(curve[:, None], d, direction_selective_dsi=0.6)
    # One unit: the block's median peak is its own, so a fraction above 1 excludes it.
    quiet = direction_tuning(curve[:, None], d, responsive_fraction=1.5)
    assert default.classes[0] == "direction-selective"
    assert strict.classes[0] == "non-selective"
    assert quiet.classes[0] == "unresponsive"
    assert strict.thresholds == TuningThresholds(direction_selective_dsi=0.6)
    # A weakly axial curve is bidirectional only below the axial CV threshold:
    # 1 + 0.3 cos(2 theta) has axial CV 1 - 0.15 = 0.85.
    weak = 1 + 0.3 * np.cos(2 * np.deg2rad(d))
    assert direction_tuning(weak[:, None], d).classes[0] == "non-selective"
    loose = direction_tuning(weak[:, None], d, bidirectional_axial_cv=0.9)
    assert loose.classes[0] == "bidirectional"


def test_bad_inputs_raise_tuning_errors():
    d = directions(8)
    good = np.ones((8, 2))
    with pytest.raises(TuningError, match="evenly spaced"):
        direction_tuning(good, d + np.r_[0, 1, 0, 0, 0, 0, 0, 0])
    with pytest.raises(TuningError, match="repeat"):
        sorted_directions([0.0, 90.0, 360.0, 180.0])
    with pytest.raises(TuningError, match="at least 4"):
        direction_tuning(np.ones((3, 2)), directions(3))
    with pytest.raises(TuningError, match=r"reshape to \(D, 1\)"):
        direction_tuning(np.ones(8), d)
    with pytest.raises(TuningError, match=r"units \[1\]"):
        direction_tuning(np.where(np.arange(2) == 1, np.nan, good), d)
    with pytest.raises(TuningError, match="blank"):
        direction_tuning(good, d, blank=[0.0])
    with pytest.raises(TuningError, match="unknown tuning thresholds"):
        direction_tuning(good, d, dsi=0.3)
    with pytest.raises(TuningError, match=r"direction_selective_dsi=1\.5"):
        direction_tuning(good, d, direction_selective_dsi=1.5)
    assert issubclass(TuningError, ValueError)


def test_interpolate_tuning_curve():
    d = directions(4)  # 0, 90, 180, 270
    curves = np.array([[0.0, 1.0], [4.0, 1.0], [8.0, 1.0], [2.0, 5.0]])
    at = interpolate_tuning_curve(curves, d, [90.0, 45.0, 315.0, -45.0, 405.0])
    assert at[:, 0].tolist() == [4.0, 2.0, 1.0, 1.0, 2.0]
    assert at[:, 1].tolist() == [1.0, 1.0, 3.0, 3.0, 1.0]
    per_unit = interpolate_tuning_curve(curves, d, [[135.0, 225.0]])
    assert per_unit.tolist() == [[6.0, 3.0]]
    with pytest.raises(TuningError, match=r"\(Q,\) or \(Q, U\)"):
        interpolate_tuning_curve(curves, d, np.zeros((1, 3)))


def test_summarize_population_numbers():
    d = directions(8)
    theta = np.deg2rad(d)
    curves = np.stack(
        [
            von_mises(d, 0.0, 2.0),  # direction-selective
            von_mises(d, 90.0, 3.0),  # direction-selective
            1 + np.cos(2 * theta),  # bidirectional
            np.ones(8),  # non-selective
            np.zeros(8),  # unresponsive
        ],
        axis=1,
    )
    t = direction_tuning(curves, d)
    s = summarize(t)
    assert t.classes.tolist() == [
        "direction-selective",
        "direction-selective",
        "bidirectional",
        "non-selective",
        "unresponsive",
    ]
    assert s["units"] == 5 and s["responsive"] == 4
    assert s["fraction_responsive"] == 0.8
    assert s["class_fractions"] == {
        "direction-selective": 0.5,
        "bidirectional": 0.25,
        "non-selective": 0.25,
    }
    dsi = np.sort(t.dsi[:4])  # 0, 0, tanh 2, tanh 3
    assert s["dsi"]["n"] == 4
    assert s["dsi"]["median"] == pytest.approx(np.median(dsi))
    assert s["dsi"]["q1"] == pytest.approx(np.quantile(dsi, 0.25))
    assert s["dsi"]["q3"] == pytest.approx(np.quantile(dsi, 0.75))
    # The flat unit has no axial ratio: three values, the largest inf.
    assert s["axial_ratio"]["n"] == 3 and s["axial_ratio"]["q3"] == np.inf
    assert s["thresholds"]["direction_selective_dsi"] == pytest.approx(1 / 3)
    assert s["class_counts"] == {
        "direction-selective": 2,
        "bidirectional": 1,
        "non-selective": 1,
    }
    lo, hi = s["dsi"]["median_ci95"]
    assert lo <= s["dsi"]["median"] <= hi
    assert type(s["cv"]["n"]) is int
    assert all(type(s["cv"][q]) is float for q in ("q1", "median", "q3"))
    json.dumps(s)


def test_preferred_directions_are_also_summarised_once_per_channel():
    """4 channels x 4 positions, (C, H, W) order: channels prefer 0, 90, 180
    and 270 degrees; the last is selective at one position alone (flat at the
    others). Over units: 13 selective units, resultant |4 + 4i - 4 - i| / 13;
    over channels: 4 channels, one each way, resultant 0."""
    d = directions(16)
    curves = []
    for preferred in (0.0, 90.0, 180.0, 270.0):
        for position in range(4):
            flat = preferred == 270.0 and position > 0
            curves.append(np.ones(16) if flat else von_mises(d, preferred, 2.0))
    t = direction_tuning(np.stack(curves, axis=1), d)
    pd = summarize(t, channels=4)["preferred_direction"]
    assert pd["n"] == 13
    assert pd["resultant"] == pytest.approx(3 / 13)
    assert pd["by_channel"]["n"] == 4
    assert pd["by_channel"]["resultant"] == pytest.approx(0.0, abs=1e-12)
    assert pd["by_channel"]["fractions_45deg"] == pytest.approx([0.25, 0, 0.25, 0] * 2)
    assert "by_channel" not in summarize(t)["preferred_direction"]
    with pytest.raises(TuningError, match="channels"):
        summarize(t, channels=3)


def test_summarize_with_nothing_defined_gives_none():
    d = directions(4)
    s = summarize(direction_tuning(np.zeros((4, 3)), d))
    assert s["fraction_responsive"] == 0.0
    assert s["class_fractions"] == dict.fromkeys(CLASSES[:3])
    assert s["dsi"] == {"n": 0, "q1": None, "median": None, "q3": None, "median_ci95": None}
    assert s["preferred_direction"]["resultant"] is None
    assert "fewer than" in s["preferred_direction"]["reason"]
    s = summarize(direction_tuning(np.zeros((4, 0)), d))
    assert s["units"] == 0 and s["fraction_responsive"] is None
    assert "NaN" not in json.dumps(s)


def grating_set():
    return drifting_gratings(
        frames=2,
        size=16,
        directions=8,
        spatial_frequencies_cpd=(0.25, 0.5),
        temporal_frequencies_hz=(1.0, 2.0),
        phases_deg=(0.0, 90.0),
        contrasts=(0.5, 1.0),
        field_of_view_deg=8.0,
        frame_rate_hz=12.5,
    )


def test_grating_tuning_picks_each_units_preferred_frequencies():
    table = grating_set().table
    blank = table["blank"]
    d, sf, tf = (
        table["direction_deg"],
        table["spatial_frequency_cpd"],
        table["temporal_frequency_hz"],
    )
    phase, contrast = table["phase_deg"], table["contrast"]
    # Unit 0 prefers 0.5 cpd at 1 Hz and 90 deg; unit 1 prefers 0.25 cpd at 2 Hz
    # and 200 deg. At half contrast both prefer other frequencies (ignored);
    # the two phases differ by +-0.5 (averaged out); the blank response is 1.
    gain0 = np.where((sf == 0.5) & (tf == 1.0), 3.0, 1.0)
    gain1 = np.where((sf == 0.25) & (tf == 2.0), 2.0, 0.5)
    low = contrast == 0.5
    gain0 = np.where(low & (sf == 0.25), 9.0, np.where(low, 0.1, gain0))
    gain1 = np.where(low & (tf == 1.0), 9.0, np.where(low, 0.1, gain1))
    wobble = np.where(phase == 0.0, 0.5, -0.5)
    r0 = 1.0 + gain0 * von_mises(d, 90.0, 1.0) + wobble
    r1 = 1.0 + gain1 * von_mises(d, 200.0, 1.0) + wobble
    responses = np.stack([np.where(blank, 1.0, r0), np.where(blank, 1.0, r1)], axis=1)

    t = grating_tuning(responses, table)
    dirs = directions(8)
    assert t.directions_deg.tolist() == dirs.tolist()
    # The curves as recorded: the blank (1) is not subtracted, but it is kept.
    assert t.curves[:, 0] == pytest.approx(1.0 + 3.0 * von_mises(dirs, 90.0, 1.0))
    assert t.curves[:, 1] == pytest.approx(1.0 + 2.0 * von_mises(dirs, 200.0, 1.0))
    assert t.blank.tolist() == [1.0, 1.0]
    assert t.condition["spatial_frequency_cpd"].tolist() == [0.5, 0.25]
    assert t.condition["temporal_frequency_hz"].tolist() == [1.0, 2.0]
    assert t.condition["contrast"].tolist() == [1.0, 1.0]
    assert one(t, "preferred_deg") == pytest.approx(90.0)


def test_grating_tuning_without_a_blank_and_with_bad_tables():
    table = {k: v[~grating_set().table["blank"]] for k, v in grating_set().table.items()}
    n = len(table["blank"])
    responses = np.full((n, 1), 2.0)
    t = grating_tuning(responses, table)
    assert t.curves[:, 0].tolist() == [2.0] * 8
    assert t.blank.tolist() == [0.0]  # no blank shown: taken as 0
    with pytest.raises(TuningError, match=r"lacks columns \['phase_deg'\]"):
        grating_tuning(responses, {k: v for k, v in table.items() if k != "phase_deg"})
    with pytest.raises(TuningError, match="a row per table row"):
        grating_tuning(responses[1:], table)
    gap = table["direction_deg"] != 45.0
    gap |= table["spatial_frequency_cpd"] != 0.5
    with pytest.raises(TuningError, match="no grating at direction 45 deg"):
        grating_tuning(responses[gap], {k: v[gap] for k, v in table.items()})


def test_median_and_quartiles():
    values = [4.0, np.nan, 1.0, 3.0, 2.0, 5.0]
    assert median_and_quartiles(values) == {"n": 5, "q1": 2.0, "median": 3.0, "q3": 4.0}
    assert median_and_quartiles([1.0, 2.0]) == {"n": 2, "q1": 1.25, "median": 1.5, "q3": 1.75}
    # NumPy would give NaN between two infinities.
    assert median_and_quartiles([1.0, np.inf, np.inf])["q3"] == np.inf
    assert median_and_quartiles([np.nan]) == {"n": 0, "q1": None, "median": None, "q3": None}
