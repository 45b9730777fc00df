"""The population's preferred directions: resultants, the Rayleigh test, the histogram
and the flag on a population dominated by one direction, against known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stdann.analysis.population import (
    DOMINANCE_RESULTANT,
    preferred_direction_statistics,
    rayleigh_test,
)
from stdann.analysis.tuning import direction_tuning, summarize


def test_evenly_spread_preferences_have_zero_resultants_and_a_flat_histogram():
    p = np.arange(64) * 360.0 / 64
    s = preferred_direction_statistics(p)
    assert s["n"] == 64
    assert s["resultant"] == pytest.approx(0.0, abs=1e-12)
    assert s["axial_resultant"] == pytest.approx(0.0, abs=1e-12)
    assert s["histogram"] == [4] * 16
    assert s["fractions_45deg"] == [0.125] * 8 and s["min_fraction_45deg"] == 0.125
    assert s["rayleigh_p"] == pytest.approx(1.0)
    assert not s["dominated"] and s["warning"] is None
    json.dumps(s, allow_nan=False)


def test_a_population_collapsed_onto_one_direction_is_flagged():
    rng = np.random.default_rng(0)
    p = np.mod(100.0 + rng.normal(0, 20, 500), 360)
    s = preferred_direction_statistics(p)
    # A wrapped normal of sigma 20 deg has resultant exp(-sigma^2 / 2).
    assert s["resultant"] == pytest.approx(np.exp(-(np.deg2rad(20) ** 2) / 2), abs=0.02)
    assert s["mean_direction_deg"] == pytest.approx(100.0, abs=3.0)
    assert s["dominated"] and s["resultant"] > DOMINANCE_RESULTANT
    assert "dominated by one direction" in s["warning"] and "100 deg" in s["warning"]
    assert s["rayleigh_p"] < 1e-10
    # 100 deg lies in the 45-degree bin centred on 90 deg.
    assert int(np.argmax(s["fractions_45deg"])) == 2
    assert s["min_fraction_45deg"] == 0.0


def test_opposite_directions_are_axial_not_directional():
    p = np.concatenate([np.full(50, 30.0), np.full(50, 210.0)])
    s = preferred_direction_statistics(p)
    assert s["resultant"] == pytest.approx(0.0, abs=1e-12)
    assert s["axial_resultant"] == pytest.approx(1.0)
    assert not s["dominated"]


def test_bins_are_centred_on_the_grating_directions():
    # 11 deg lies in the bin centred on 0 (-11.25, 11.25); 12 in the next; 355 in the first.
    s = preferred_direction_statistics([11.0, 12.0, 355.0, 180.0])
    assert s["histogram"][0] == 2 and s["histogram"][1] == 1 and s["histogram"][8] == 1


def test_rayleigh_p_matches_the_uniform_distribution_by_simulation():
    rng = np.random.default_rng(1)
    n = 20
    observed = np.mod(rng.vonmises(0.0, 0.5, n), 2 * np.pi)
    r_obs = np.abs(np.exp(1j * observed).mean())
    null = np.abs(np.exp(1j * rng.uniform(0, 2 * np.pi, (40_000, n))).mean(axis=1))
    empirical = float(np.mean(null >= r_obs))
    assert rayleigh_test(np.rad2deg(observed)) == pytest.approx(empirical, abs=0.01)
    assert rayleigh_test([10.0]) == 1.0


def test_too_few_units_give_none_with_the_reason():
    s = preferred_direction_statistics([10.0, np.nan, 20.0])
    assert s["n"] == 2 and s["resultant"] is None and s["dominated"] is None
    assert "fewer than 3" in s["reason"]


def test_summarize_takes_the_direction_selective_units_only():
    d = np.arange(16) * 22.5
    theta = np.deg2rad(d)
    # 40 direction-selective units all preferring 45 deg, 40 bidirectional ones
    # around the circle (axial curves; no direction preference counted).
    selective = np.exp(2 * np.cos(theta - np.pi / 4))[:, None] * np.ones(40)
    axes = np.arange(40) * np.pi / 40
    bidirectional = 1 + np.cos(2 * (theta[:, None] - axes[None, :]))
    t = direction_tuning(np.concatenate([selective, bidirectional], axis=1), d)
    s = summarize(t)["preferred_direction"]
    assert s["n"] == 40
    assert s["resultant"] == pytest.approx(1.0)
    assert s["mean_direction_deg"] == pytest.approx(45.0)
    assert s["dominated"]
