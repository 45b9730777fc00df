"""Direction maps from units on the sheet, their topology, and how smoothly
preference changes with cortical distance, against known answers."""

from __future__ import annotations

import numpy as np
import pytest

from stdann.analysis import MapError, find_pinwheels
from stdann.analysis.maps import (
    DirectionMap,
    Smoothness,
    _nearest_neighbours,
    _pairs_at_distance,
    direction_map,
    map_topology,
    nearest_neighbour_direction_difference,
    opposite_direction_fraction,
    smoothness,
)
from stdann.analysis.synthetic_maps import planted_pinwheels, ring_field

# Planted pinwheels in mm on a 6 mm sheet: (x, y, charge).
PLANTED_MM = [(1.2, 1.1, +1), (4.0, 1.5, -1), (2.6, 3.3, +1), (5.0, 4.4, -1), (1.0, 4.6, -1)]
SIDE = 6.0
FINE = 0.01  # mm per pixel of the analytic map the units read their preference from


def planted_units(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Units on a 0.05 mm grid jittered by up to 0.02 mm, each with the unit
    vector of the planted map at its own position (the analytic map is
    evaluated on a 0.01 mm grid and the jitter moves units along it)."""
    n = round(SIDE / FINE) + 1
    z = planted_pinwheels((n, n), [(x / FINE, y / FINE, q) for x, y, q in PLANTED_MM])
    rng = np.random.default_rng(seed)
    base = np.arange(2, n - 2, 5)
    cols, rows = (a.ravel() for a in np.meshgrid(base, base))
    cols = cols + rng.integers(-2, 3, cols.size)
    rows = rows + rng.integers(-2, 3, rows.size)
    xy = np.stack([cols * FINE, rows * FINE], axis=1)
    return xy, np.exp(1j * np.angle(z[rows, cols]))


def uniform_units(n: int, side: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, side, (n, 2))


def brute_force_map(xy, v, centres, sigma):
    x, y = np.meshgrid(centres, centres)
    d2 = (x[..., None] - xy[:, 0]) ** 2 + (y[..., None] - xy[:, 1]) ** 2
    w = np.exp(-d2 / (2 * sigma**2))
    return (w * v).sum(-1) / w.sum(-1)


# direction_map


@pytest.mark.parametrize(("pixel", "sigma"), [(0.1, 0.1), (0.05, 0.2), (0.2, 0.1)])
def test_direction_map_is_the_gaussian_weighted_mean_of_the_vectors(pixel, sigma):
    rng = np.random.default_rng(3)
    xy = uniform_units(300, 2.0, 3)
    v = rng.uniform(0.2, 1.0, 300) * np.exp(1j * rng.uniform(0, 2 * np.pi, 300))
    m = direction_map(xy, v, 2.0, pixel, sigma, min_weight=1e-12)
    exact = brute_force_map(xy, v, m.centres_mm, sigma)
    assert m.z.shape == (round(2.0 / pixel),) * 2
    assert np.abs(m.z - exact).max() < 0.02
    assert np.abs(m.z - exact).mean() < 0.005


def test_a_uniform_field_maps_to_itself_and_pixels_far_from_units_are_nan():
    xy = uniform_units(2000, 4.0, 1)
    xy = xy[xy[:, 0] < 2.0]  # units on the left half only
    m = direction_map(xy, np.full(len(xy), 0.5j), 4.0, 0.1, 0.1)
    centres = m.centres_mm
    near = centres < 1.9
    far = centres > 2.0 + 3.5 * 0.1
    np.testing.assert_allclose(m.z[:, near], 0.5j, atol=1e-12)
    np.testing.assert_allclose(m.angle_deg[:, near], 90.0)
    assert np.isnan(m.z[:, far]).all() and np.isnan(m.angle_deg[:, far]).all()


def test_planted_pinwheels_are_found_where_planted_with_their_charges():
    xy, v = planted_units()
    m = direction_map(xy, v, SIDE, pixel_mm=0.1, sigma_mm=0.1)
    assert m.shape == (60, 60) and not np.isnan(m.z).any()
    x, y, charge = find_pinwheels(m.z)
    x_mm, y_mm = (x + 0.5) * m.pixel_mm, (y + 0.5) * m.pixel_mm
    assert len(x) == len(PLANTED_MM)
    for px, py, q in PLANTED_MM:
        k = int(np.argmin(np.hypot(x_mm - px, y_mm - py)))
        assert charge[k] == q
        assert np.hypot(x_mm[k] - px, y_mm[k] - py) < 0.03
    # Five pinwheels on a 6 mm sheet have no characteristic wavelength:
    # they are found, but no density is reported.
    topology = map_topology(m)
    assert topology["defined"] is False and topology["n_total"] is None
    assert "no characteristic wavelength" in topology["reasons"]["n_total"]


def test_nan_vectors_are_left_out():
    xy, v = planted_units()
    dropped = np.random.default_rng(2).random(len(v)) < 0.2
    with_nan = v.copy()
    with_nan[dropped] = np.nan
    with_nan[np.flatnonzero(dropped)[:5]] = complex(1.0, np.nan)
    a = direction_map(xy, with_nan, SIDE, 0.1, 0.1)
    b = direction_map(xy[~dropped], v[~dropped], SIDE, 0.1, 0.1)
    np.testing.assert_allclose(a.z, b.z, atol=1e-12)


def test_angle_map():
    z = np.ones((6, 6), dtype=complex)
    z[0] = [1j, -1.0, 2 * np.exp(1j * np.pi / 4), 0.0, np.nan, -1e-17 - 1e-300j]
    m = DirectionMap(z=z, pixel_mm=0.1, sigma_mm=0.1, sheet_side_mm=0.6)
    angle = m.angle_deg
    np.testing.assert_allclose(angle[0, :4], [90.0, 180.0, 45.0, 0.0])
    assert np.isnan(angle[0, 4])
    assert 0.0 <= angle[0, 5] < 360.0
    # The axis-of-motion map is smoothed from the units' F2 / F0 vectors, not
    # derived from the direction map.
    assert not hasattr(m, "axial")
    np.testing.assert_allclose(m.centres_mm, [0.05, 0.15, 0.25, 0.35, 0.45, 0.55])
    with pytest.raises(MapError, match="square"):
        DirectionMap(z=z[:3], pixel_mm=0.1, sigma_mm=0.1, sheet_side_mm=0.6)


# map_topology


def test_a_ring_field_has_its_column_spacing_and_pi_pinwheels_per_column_squared():
    # Units at the pixel centres carry the field itself; smoothing a field with
    # a thin ring spectrum only scales it, so Lambda and the pinwheels stay.
    size, wavelength, pixel = 128, 16.0, 0.05
    centres = (np.arange(size) + 0.5) * pixel
    x, y = np.meshgrid(centres, centres)
    xy = np.stack([x.ravel(), y.ravel()], axis=1)
    densities = []
    for seed in range(3):
        z = ring_field(size, wavelength, seed)
        m = direction_map(xy, z.ravel(), size * pixel, pixel, sigma_mm=pixel / 2)
        t = map_topology(m)
        assert t["reasons"] == {} and t["defined"] is True
        assert t["wavelength_mm"] == pytest.approx(wavelength * pixel, rel=0.03)
        assert t["n_total"] == t["n_plus"] + t["n_minus"]
        assert t["area_in_columns"] == pytest.approx(t["area_mm2"] / t["wavelength_mm"] ** 2)
        assert 0.3 * wavelength * pixel < t["nn_any_sign_median_mm"] < wavelength * pixel
        assert t["density_ci95"][0] < t["density"] < t["density_ci95"][1]
        densities.append(t["density"])
    assert np.mean(densities) == pytest.approx(np.pi, rel=0.1)


def no_nan(topology):
    return all(not (isinstance(v, float) and np.isnan(v)) for v in topology.values())


def test_a_uniform_map_has_no_column_spacing_and_no_pinwheel_topology():
    xy = uniform_units(500, 2.0, 0)
    m = direction_map(xy, np.full(500, 1.0 + 0j), 2.0, 0.1, 0.1)
    t = map_topology(m)
    assert no_nan(t)
    assert t["defined"] is False
    assert t["area_mm2"] == pytest.approx((20 - 1 - 2) ** 2 * 0.01)
    for key in ("peak_clarity", "wavelength_mm", "n_total", "density", "area_in_columns"):
        assert t[key] is None
        assert "no column spacing" in t["reasons"][key]
    # A map of one direction.
    assert t["direction_resultant"] == pytest.approx(1.0) and t["collapsed"] is True


def test_a_margin_that_leaves_nothing_gives_reasons_not_numbers():
    xy, v = planted_units()
    m = direction_map(xy, v, SIDE, 0.1, 0.1)
    t = map_topology(m, margin_px=40)
    assert no_nan(t)
    assert t["n_total"] is None and t["density"] is None and t["defined"] is False
    assert "margin" in t["reasons"]["n_total"]
    assert t["direction_resultant"] is None and "margin" in t["reasons"]["direction_resultant"]


def test_a_lone_pinwheel_on_a_small_map_has_no_topology_nor_neighbour_distances():
    xy, v = planted_units()
    keep = np.hypot(xy[:, 0] - 1.2, xy[:, 1] - 1.1) < 0.8  # around the first pinwheel only
    side = 2.4
    m = direction_map(xy[keep], v[keep], side, 0.1, 0.1)
    assert len(find_pinwheels(m.z)[0]) == 1
    t = map_topology(m, margin_px=0)
    assert no_nan(t) and t["defined"] is False
    assert t["n_total"] is None and t["nn_any_sign_median_mm"] is None
    assert t["reasons"]["nn_any_sign_median_mm"] == t["reasons"]["n_total"]


def test_period_180_reads_the_map_as_given_and_other_periods_are_refused():
    # The same complex map with either period: the same pinwheels and spacing
    # (for period 180 the map's phase is twice the axis of motion).
    xy, v = planted_units()
    m = direction_map(xy, v, SIDE, 0.1, 0.1)
    direction = map_topology(m, period=360, margin_px=0)
    axial = map_topology(m, period=180, margin_px=0)
    assert axial["period"] == 180.0 and direction["period"] == 360.0
    assert axial["peak_clarity"] == direction["peak_clarity"]
    assert axial["axial_resultant"] == direction["direction_resultant"]
    assert "axial_resultant" not in direction and "direction_resultant" not in axial
    with pytest.raises(MapError, match="period must be 360"):
        map_topology(m, period=90)


# smoothness


def gradient_units(n=20_000, side=6.0, wavelength=3.0, seed=0):
    """Uniform units whose preference grows by 360 degrees every `wavelength` mm along x."""
    xy = uniform_units(n, side, seed)
    return xy, (360.0 * xy[:, 0] / wavelength) % 360.0


def test_a_linear_gradient_is_smooth_with_the_analytic_mean_difference():
    wavelength = 3.0  # two full turns over the sheet: uniform preferences
    xy, p = gradient_units(wavelength=wavelength)
    edges = np.array([0.0, 0.1, 0.2, 0.5, 1.0])
    s = smoothness(xy, p, edges, shuffles=2, rng=1)
    assert isinstance(s, Smoothness)
    # Pairs uniform in an annulus: mean r = 2/3 (r1^3 - r0^3) / (r1^2 - r0^2),
    # mean |dx| = mean r * E|cos| = mean r * 2 / pi.
    r0, r1 = edges[:-1], edges[1:]
    mean_r = 2 / 3 * (r1**3 - r0**3) / (r1**2 - r0**2)
    expected = 360.0 / wavelength * mean_r * 2 / np.pi
    np.testing.assert_allclose(s.observed_deg, expected, rtol=0.03)
    np.testing.assert_allclose(s.shuffled_deg, s.chance_deg, atol=2.0)
    assert s.observed_deg[0] < 0.1 * s.chance_deg
    assert (s.n_pairs == 20_000).all()
    np.testing.assert_allclose(s.centres_mm, [0.05, 0.15, 0.35, 0.75])


def test_random_preferences_are_at_chance_at_every_distance():
    xy = uniform_units(20_000, 6.0, 4)
    p = np.random.default_rng(4).uniform(0, 360, 20_000)
    s = smoothness(xy, p, np.linspace(0, 2, 5), rng=4)
    np.testing.assert_allclose(s.observed_deg, 90.0, atol=2.0)
    np.testing.assert_allclose(s.shuffled_deg, 90.0, atol=2.0)
    orientation = smoothness(xy, p % 180, [0.0, 1.0], period=180.0, rng=4)
    assert orientation.chance_deg == 45.0
    assert orientation.observed_deg[0] == pytest.approx(45.0, abs=1.0)


def test_sampled_pairs_are_uniform_over_the_pairs_in_the_bin():
    xy = uniform_units(20_000, 6.0, 5)
    rng = np.random.default_rng(5)
    i, j = _pairs_at_distance(xy, 0.0, 0.3, 20_000, rng)
    d = np.hypot(*(xy[i] - xy[j]).T)
    assert len(i) == 20_000 and (i != j).all() and (d < 0.3).all()
    # Pair distances in a disk of radius R are distributed as 2 r / R^2: mean 2R/3.
    assert d.mean() == pytest.approx(0.2, rel=0.02)
    i, j = _pairs_at_distance(xy, 0.2, 0.3, 1000, rng)
    d = np.hypot(*(xy[i] - xy[j]).T)
    assert ((d >= 0.2) & (d < 0.3)).all()
    assert _pairs_at_distance(xy, 100.0, 101.0, 10, rng)[0].size == 0


def test_an_empty_bin_is_nan_with_no_pairs():
    xy = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    s = smoothness(xy, [0.0, 10.0, 20.0], [0.0, 0.5, 1.2], max_pairs=50)
    assert s.n_pairs[0] == 0 and np.isnan(s.observed_deg[0]) and np.isnan(s.shuffled_deg[0])
    assert s.n_pairs[1] == 50
    assert 10.0 <= s.observed_deg[1] <= 20.0


def test_smoothness_is_the_same_for_the_same_seed_and_ignores_nan_preferences():
    xy, p = gradient_units(n=5000)
    a = smoothness(xy, p, [0.0, 0.2, 0.4])
    b = smoothness(xy, p, [0.0, 0.2, 0.4])
    np.testing.assert_array_equal(a.observed_deg, b.observed_deg)
    with_nan = p.copy()
    with_nan[::3] = np.nan
    c = smoothness(xy, with_nan, [0.0, 0.2, 0.4])
    np.testing.assert_allclose(c.observed_deg, a.observed_deg, rtol=0.05)


# opposite_direction_fraction


def test_alternating_columns_of_one_axis_give_many_opposite_pairs():
    # Stripes of width w along x alternate direction (0 / 180 plus an axis that
    # turns slowly along y), so preferences are uniform overall. A pair within
    # R = w of each other lies in different stripes with probability
    # E|dx| / w = 4 / (3 pi); then its directions differ by 180 - 360 |dy| / L > 150.
    w, wavelength = 0.2, 6.0
    xy = uniform_units(40_000, 6.0, 6)
    p = (360.0 * xy[:, 1] / wavelength + 180.0 * (np.floor(xy[:, 0] / w) % 2)) % 360.0
    observed, shuffled = opposite_direction_fraction(xy, p, radius_mm=w, rng=6)
    assert observed == pytest.approx(4 / (3 * np.pi), abs=0.02)
    assert shuffled == pytest.approx(1 / 6, abs=0.015)


def test_random_preferences_have_a_sixth_of_pairs_opposite():
    xy = uniform_units(20_000, 6.0, 7)
    p = np.random.default_rng(7).uniform(0, 360, 20_000)
    observed, shuffled = opposite_direction_fraction(xy, p, radius_mm=0.3, rng=7)
    assert observed == pytest.approx(1 / 6, abs=0.015)
    assert shuffled == pytest.approx(1 / 6, abs=0.015)
    observed, _ = opposite_direction_fraction(xy, p, radius_mm=0.3, threshold_deg=90.0, rng=7)
    assert observed == pytest.approx(0.5, abs=0.02)


def test_a_smooth_map_has_no_opposite_pairs_nearby():
    xy, p = gradient_units()
    observed, shuffled = opposite_direction_fraction(xy, p, radius_mm=0.3)
    assert observed == 0.0
    assert shuffled == pytest.approx(1 / 6, abs=0.015)


# nearest_neighbour_direction_difference


def test_nearest_neighbour_difference_on_a_grid_with_a_known_neighbour():
    # Rows 0.5 mm apart, columns 1 mm apart: every unit's nearest neighbour
    # is the next row's, whose preference differs by 360 * 0.5 / L.
    wavelength = 8.0
    x, y = np.meshgrid(np.arange(40) * 1.0, np.arange(60) * 0.5)
    xy = np.stack([x.ravel(), y.ravel()], axis=1)
    p = 360.0 * xy[:, 1] / wavelength
    observed, shuffled = nearest_neighbour_direction_difference(xy, p)
    assert observed == pytest.approx(180.0 / wavelength)
    assert shuffled == pytest.approx(90.0, abs=4.0)


def test_nearest_neighbour_search_matches_brute_force():
    rng = np.random.default_rng(8)
    clustered = np.concatenate([rng.uniform(0, 1, (1500, 2)), rng.normal(5, 0.01, (300, 2))])
    duplicated = np.concatenate([clustered[:100], clustered])
    line = np.stack([rng.uniform(0, 3, 400), np.zeros(400)], axis=1)
    strip = np.stack([rng.uniform(0, 3, 400), rng.uniform(0, 1e-9, 400)], axis=1)
    pair = np.array([[0.0, 0.0], [3.0, 4.0]])
    for xy in (clustered, duplicated, line, strip, pair, np.zeros((5, 2))):
        _, distance = _nearest_neighbours(xy)
        d = np.hypot(*(xy[:, None] - xy[None]).transpose(2, 0, 1))
        np.fill_diagonal(d, np.inf)
        np.testing.assert_allclose(distance, d.min(axis=1))


def test_nearest_neighbour_difference_leaves_out_units_without_a_preference():
    xy, p = gradient_units(n=3000)
    with_nan = p.copy()
    with_nan[::4] = np.nan
    keep = ~np.isnan(with_nan)
    a = nearest_neighbour_direction_difference(xy, with_nan, rng=3)
    b = nearest_neighbour_direction_difference(xy[keep], p[keep], rng=3)
    assert a == b


# bad input


def test_bad_inputs_raise_clear_value_errors():
    xy = uniform_units(10, 1.0, 0)
    v = np.ones(10, dtype=complex)
    p = np.zeros(10)
    cases = [
        (lambda: direction_map(xy, v[:9], 1.0, 0.1, 0.1), "one value per unit"),
        (lambda: direction_map(xy[:, :1], v, 1.0, 0.1, 0.1), r"\(units, 2\)"),
        (lambda: direction_map(xy, v, 1.0, 0.0, 0.1), "pixel size must be a positive"),
        (lambda: direction_map(xy, v, 1.0, -0.1, 0.1), "pixel size must be a positive"),
        (lambda: direction_map(xy, v, 1.0, 0.1, np.nan), "sigma must be a positive"),
        (lambda: direction_map(xy, v.real, 1.0, 0.1, 0.1), "must be complex"),
        (lambda: direction_map(xy, v, 1.0, 2.0, 0.1), "larger than the sheet"),
        (lambda: direction_map(xy + 1.0, v, 1.0, 0.1, 0.1), "leave the sheet"),
        (lambda: direction_map(xy, v * np.nan, 1.0, 0.1, 0.1), "nothing to map"),
        (lambda: smoothness(xy, p[:3], [0.0, 1.0]), "one value per unit"),
        (lambda: smoothness(xy, p, [1.0, 0.5]), "increasing"),
        (lambda: smoothness(xy, p, [0.5]), "at least two bin edges"),
        (lambda: smoothness(xy, p, [0.0, 1.0], shuffles=0), "shuffles"),
        (lambda: smoothness(xy, p, [0.0, 1.0], max_pairs=0), "max_pairs"),
        (lambda: smoothness(xy, np.full(10, np.nan), [0.0, 1.0]), "at least two units"),
        (lambda: opposite_direction_fraction(xy, p, 0.0), "radius must be a positive"),
        (lambda: opposite_direction_fraction(xy, p, 0.5, threshold_deg=200), "threshold"),
        (lambda: opposite_direction_fraction(xy * 100, p, 1e-6), "larger radius"),
        (lambda: nearest_neighbour_direction_difference(xy, p[:5]), "one value per unit"),
        (lambda: nearest_neighbour_direction_difference(xy, p + np.inf), "finite"),
        (lambda: nearest_neighbour_direction_difference(xy * np.nan, p), "finite"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
