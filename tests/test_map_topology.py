"""Map topology only where it is defined: column spacing where the spectrum
peaks clearly, pinwheel counts and density with a tile bootstrap interval
where the map also spans enough columns, the map's resultant, and the
axis-of-motion map read as given. Known answers throughout."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stdann.analysis import MapError, find_pinwheels, pinwheel_density
from stdann.analysis.maps import (
    MIN_PEAK_CLARITY,
    DirectionMap,
    _analysed_area,
    _pinwheel_plaquettes,
    direction_map,
    map_topology,
)
from stdann.analysis.pinwheels import MAX_PEAK_CLARITY, peak_clarity

PIXEL = 0.05  # mm


def band_pass_field(size: int, wavelength: float, seed: int) -> tuple[np.ndarray, float]:
    """Complex white noise filtered to the thin ring of lattice frequencies
    within half a bin of ``size / wavelength`` cycles per map, and the mean
    squared angular wavenumber <k^2> (radians per pixel, squared) over the
    ring built: the field is periodic, isotropic on average, and has
    ``<k^2> / (4 pi)`` zeros per square pixel (Berry & Dennis 2000)."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((size, size)) + 1j * rng.standard_normal((size, size))
    f = np.fft.fftfreq(size)  # cycles per pixel
    k = 2 * np.pi * np.hypot(f[:, None], f[None, :])
    ring = np.abs(np.hypot(f[:, None], f[None, :]) * size - size / wavelength) <= 0.5
    return np.fft.ifft2(np.fft.fft2(noise) * ring), float(np.mean(k[ring] ** 2))


def smoothed_noise(size: int, sigma_px: float, seed: int) -> np.ndarray:
    """Complex white noise under a Gaussian low-pass of width `sigma_px`."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((size, size)) + 1j * rng.standard_normal((size, size))
    f = np.fft.fftfreq(size)
    gauss = np.exp(-2 * np.pi**2 * sigma_px**2 * (f[:, None] ** 2 + f[None, :] ** 2))
    return np.fft.ifft2(np.fft.fft2(noise) * gauss)


def as_map(z: np.ndarray) -> DirectionMap:
    """A field as a direction map of 0.05 mm pixels over the whole grid,
    smoothed by one pixel (a margin of 1 px)."""
    return DirectionMap(z=z, pixel_mm=PIXEL, sigma_mm=PIXEL, sheet_side_mm=z.shape[0] * PIXEL)


def assert_nothing_is_nan(value) -> None:
    if isinstance(value, dict):
        for v in value.values():
            assert_nothing_is_nan(v)
    elif isinstance(value, list | tuple):
        for v in value:
            assert_nothing_is_nan(v)
    elif isinstance(value, float):
        assert math.isfinite(value)


def assert_every_none_has_a_reason(t: dict) -> None:
    assert_nothing_is_nan(t)
    for key, value in t.items():
        if value is None:
            assert t["reasons"].get(key), key
    assert set(t["reasons"]) <= {k for k, v in t.items() if v is None}


UNDEFINED_KEYS = (
    "n_plus",
    "n_minus",
    "n_total",
    "density",
    "density_plus",
    "density_minus",
    "nn_any_sign_median_mm",
    "nn_same_sign_median_mm",
    "nn_opposite_sign_median_mm",
    "density_ci95",
    "n_total_ci95",
    "bootstrap",
)


# Band-pass fields: Lambda, and the random-field density inside the interval


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_band_pass_field_has_its_wavelength_and_the_random_field_density_in_its_interval(
    seed,
):
    wavelength = 16.0
    z, mean_k2 = band_pass_field(256, wavelength, seed)
    t = map_topology(as_map(z))
    assert_every_none_has_a_reason(t)
    assert t["defined"] is True and t["reasons"] == {}
    assert t["peak_clarity"] > 20 * MIN_PEAK_CLARITY
    assert t["wavelength_mm"] == pytest.approx(wavelength * PIXEL, rel=0.03)
    lam_px = t["wavelength_mm"] / PIXEL
    # Zeros per Lambda^2, Lambda as measured (it is held fixed in the
    # interval): <k^2> / (4 pi) Lambda^2, near pi on a thin ring. Over 40
    # seeds each of Lambda 12, 14 and 16 px the interval held it 88%, 98%
    # and 95% of the time.
    theory = mean_k2 / (4 * np.pi) * lam_px**2
    assert theory == pytest.approx(np.pi, rel=0.03)
    low, high = t["density_ci95"]
    assert low <= theory <= high
    assert low < t["density"] < high
    assert high - low < 0.2 * t["density"]
    assert t["n_total_ci95"] == pytest.approx(
        [low * t["area_in_columns"], high * t["area_in_columns"]]
    )
    assert t["n_total_ci95"][0] < t["n_total"] < t["n_total_ci95"][1]
    assert t["n_total"] == t["n_plus"] + t["n_minus"]
    assert t["area_in_columns"] == pytest.approx(t["area_mm2"] / t["wavelength_mm"] ** 2)
    boot = t["bootstrap"]
    assert boot["resamples"] == 2000 and boot["method"] == "BCa" and boot["confidence"] == 0.95
    # (256 - 3) px / 16 px: 16 tiles a side of 15.8 px.
    assert boot["tiles"] == 16 * 16
    assert boot["tile_side_mm"] == pytest.approx(253 / 16 * PIXEL)
    # A periodic band-pass field uses every direction alike.
    assert t["direction_resultant"] < 0.05 and t["collapsed"] is False


def test_the_interval_is_reproducible_and_follows_its_seed():
    m = as_map(band_pass_field(128, 12.0, 5)[0])
    a, b = map_topology(m), map_topology(m, rng=0)
    assert a["density_ci95"] == b["density_ci95"] and a["n_total_ci95"] == b["n_total_ci95"]
    c = map_topology(m, rng=np.random.default_rng(7), n_resamples=500)
    assert c["density_ci95"] != a["density_ci95"]
    assert c["density_ci95"] == pytest.approx(a["density_ci95"], rel=0.05)
    assert c["bootstrap"]["resamples"] == 500
    assert c["density"] == a["density"]


# No characteristic wavelength: smoothed white noise


@pytest.mark.parametrize("sigma_px", [1.0, 2.0, 4.0])
def test_smoothed_white_noise_has_no_characteristic_wavelength(sigma_px):
    for seed in range(3):
        t = map_topology(as_map(smoothed_noise(128, sigma_px, seed)))
        assert_every_none_has_a_reason(t)
        assert t["defined"] is False
        # Measured 1.2 to 2.2 over these nine maps.
        assert 0.0 < t["peak_clarity"] < MIN_PEAK_CLARITY / 2
        assert t["wavelength_mm"] is None and t["area_in_columns"] is None
        assert t["reasons"]["wavelength_mm"].startswith("no characteristic wavelength")
        assert f"peak clarity {t['peak_clarity']:.3g} < 5" in t["reasons"]["wavelength_mm"]
        for key in UNDEFINED_KEYS:
            assert t[key] is None
            assert "no characteristic wavelength" in t["reasons"][key]
        assert t["area_mm2"] == pytest.approx((128 - 3) ** 2 * PIXEL**2)
        assert t["direction_resultant"] is not None


def test_units_at_shuffled_positions_give_no_topology():
    # The shuffled-positions control: units at random positions with random
    # preferences, smoothed onto the sheet as a model's units are.
    rng = np.random.default_rng(3)
    xy = rng.uniform(0.0, 7.1, (20_000, 2))
    vector = rng.uniform(0.2, 1.0, 20_000) * np.exp(1j * rng.uniform(0, 2 * np.pi, 20_000))
    m = direction_map(xy, vector, 7.1, pixel_mm=0.05, sigma_mm=0.15)
    t = map_topology(m)
    assert_every_none_has_a_reason(t)
    assert t["defined"] is False and t["peak_clarity"] < MIN_PEAK_CLARITY / 2
    assert t["density"] is None and t["wavelength_mm"] is None


# A clear wavelength over too few columns or too small an area


def test_a_wavelength_over_a_third_of_the_sheet_gives_no_pinwheel_topology():
    # 72 px cut from a field of Lambda 30 px: 2.4 columns across. The seed
    # gives a clear peak, clarity 17 (such cuts range from 6.5 to 17).
    z = band_pass_field(256, 30.0, 3)[0][:72, :72].copy()
    t = map_topology(as_map(z))
    assert_every_none_has_a_reason(t)
    assert t["peak_clarity"] > 3 * MIN_PEAK_CLARITY
    wavelength = t["wavelength_mm"]
    assert wavelength == pytest.approx(30 * PIXEL, rel=0.1)
    assert t["defined"] is False
    third = 72 * PIXEL / 3
    why = t["reasons"]["density"]
    assert f"Lambda {wavelength:.3g} mm > sheet side / 3 = {third:.3g} mm" in why
    for key in UNDEFINED_KEYS:
        assert t[key] is None and t["reasons"][key] == why
    # The thresholds are arguments.
    looser = map_topology(as_map(z), min_columns_across=2.0, min_area_in_columns=3.0)
    assert looser["defined"] is True and looser["n_total"] is not None


def test_too_small_an_analysed_area_gives_no_pinwheel_topology():
    # Units cover a 48 px square of a 128 px sheet: Lambda 16 px is well
    # under a third of the sheet, but the area holds under 10 Lambda^2.
    field = band_pass_field(128, 16.0, 0)[0]
    z = np.full((128, 128), np.nan + 0j)
    z[20:68, 30:78] = field[20:68, 30:78]
    t = map_topology(as_map(z))
    assert_every_none_has_a_reason(t)
    assert t["peak_clarity"] > 2 * MIN_PEAK_CLARITY
    assert t["wavelength_mm"] == pytest.approx(16 * PIXEL, rel=0.05)
    assert t["area_mm2"] == pytest.approx((48 - 3) ** 2 * PIXEL**2)
    columns = t["area_in_columns"]
    assert columns < 10
    why = t["reasons"]["n_total"]
    assert why == f"the analysed area is {columns:.3g} Lambda^2 < 10 Lambda^2"
    assert t["defined"] is False and t["density"] is None and t["density_ci95"] is None
    looser = map_topology(as_map(z), min_area_in_columns=5.0)
    assert looser["defined"] is True and looser["density_ci95"] is not None


def test_a_plane_wave_with_one_pinwheel_pair_is_defined_with_its_two_pinwheels():
    # Columns of one wavelength, broken by a single planted pair: the
    # density is defined and small, and no pinwheel has a same-sign neighbour.
    size = 128
    rows, cols = np.indices((size, size), dtype=np.float64)
    w = cols + 1j * rows
    z = np.exp(2j * np.pi * cols / 16) * (w - (40.3 + 50.2j)) * np.conj(w - (80.6 + 70.4j))
    t = map_topology(as_map(z / np.abs(z)))
    assert_every_none_has_a_reason(t)
    assert t["defined"] is True
    assert (t["n_plus"], t["n_minus"]) == (1, 1)
    assert t["nn_same_sign_median_mm"] is None
    assert t["reasons"] == {
        "nn_same_sign_median_mm": "no analysed pinwheel has a neighbour of same sign"
    }
    # The finder's sub-pixel zeros are those of the bilinear map: a fraction of a pixel off.
    distance = abs(40.3 + 50.2j - 80.6 - 70.4j) * PIXEL
    assert t["nn_opposite_sign_median_mm"] == pytest.approx(distance, abs=0.25 * PIXEL)
    low, high = t["density_ci95"]
    assert 0.0 <= low <= t["density"] < high


# The map's resultant


def test_a_map_of_one_direction_is_collapsed():
    rng = np.random.default_rng(4)
    xy = rng.uniform(0.0, 4.0, (8000, 2))
    vector = np.exp(1j * (np.pi / 4 + rng.normal(0.0, 0.5, 8000)))
    m = direction_map(xy, vector, 4.0, pixel_mm=0.05, sigma_mm=0.1)
    t = map_topology(m)
    assert_every_none_has_a_reason(t)
    assert t["direction_resultant"] > 0.9 and t["collapsed"] is True
    assert map_topology(m, collapse_threshold=0.999)["collapsed"] is False
    balanced = map_topology(as_map(band_pass_field(128, 16.0, 1)[0]))
    assert balanced["direction_resultant"] < 0.05 and balanced["collapsed"] is False


def test_a_constant_map_is_collapsed_with_no_spectrum_and_an_empty_map_has_reasons():
    constant = map_topology(as_map(np.full((40, 40), 2.0 + 2.0j)))
    assert_every_none_has_a_reason(constant)
    assert constant["direction_resultant"] == pytest.approx(1.0)
    assert constant["collapsed"] is True and constant["defined"] is False
    assert constant["peak_clarity"] is None
    assert "no column spacing" in constant["reasons"]["peak_clarity"]
    assert "no column spacing" in constant["reasons"]["n_total"]
    empty = map_topology(as_map(np.full((40, 40), np.nan + 0j)))
    assert_every_none_has_a_reason(empty)
    assert empty["defined"] is False and empty["area_mm2"] is None
    assert empty["direction_resultant"] is None and empty["collapsed"] is None


# The axis-of-motion map, read as given


def planted_axial_units(sign: int, side: float = 3.0, pitch: float = 0.05, seed: int = 0):
    """Units on a jittered grid whose axis of motion is `sign` times half the
    polar angle around `CENTRE`, so that the phase of their F2 / F0 vectors,
    ``0.5 exp(2i axis)``, winds once (sign +1) or once backwards around it."""
    rng = np.random.default_rng(seed)
    g = (np.arange(round(side / pitch)) + 0.5) * pitch
    x, y = np.meshgrid(g, g)
    xy = np.stack([x.ravel(), y.ravel()], axis=1)
    xy += rng.uniform(-0.4 * pitch, 0.4 * pitch, xy.shape)
    polar = np.arctan2(xy[:, 1] - CENTRE[1], xy[:, 0] - CENTRE[0])
    axis = sign * polar / 2
    return xy, 0.5 * np.exp(2j * axis)


CENTRE = (1.53, 1.46)


@pytest.mark.parametrize("sign", [+1, -1])
def test_a_planted_half_pinwheel_of_the_axis_is_one_pinwheel_of_its_sign(sign):
    xy, f2 = planted_axial_units(sign)
    assert xy.shape[0] == 3600
    m = direction_map(xy, f2, 3.0, pixel_mm=0.1, sigma_mm=0.1)
    x, y, charge = find_pinwheels(m.z)
    assert charge.tolist() == [sign]
    x_mm, y_mm = (x[0] + 0.5) * m.pixel_mm, (y[0] + 0.5) * m.pixel_mm
    assert np.hypot(x_mm - CENTRE[0], y_mm - CENTRE[1]) < 0.5 * m.pixel_mm
    t = map_topology(m, period=180)
    assert_every_none_has_a_reason(t)
    assert t["period"] == 180.0
    # A 30 px map with one pinwheel has no characteristic wavelength.
    assert t["defined"] is False and t["n_total"] is None
    assert "direction_resultant" not in t
    assert t["axial_resultant"] < 0.2 and t["collapsed"] is False


def test_period_180_reads_the_map_as_given():
    m = as_map(band_pass_field(128, 12.0, 3)[0])
    direction = map_topology(m, period=360)
    axial = map_topology(m, period=180)
    assert axial["axial_resultant"] == direction["direction_resultant"]
    for key in ("wavelength_mm", "n_plus", "n_minus", "density", "density_ci95", "defined"):
        assert axial[key] == direction[key]
    assert not hasattr(m, "axial")
    for period in (90, 360.5, 720):
        with pytest.raises(MapError, match="period must be 360"):
            map_topology(m, period=period)


# The pieces


def test_peak_clarity_is_the_peak_over_the_rings_below_half_its_frequency():
    size = 64
    f = np.arange(size // 2 + 1) / size
    power = np.ones(f.size)
    power[0] = 0.0
    power[1:5] = [0.5, 0.2, 0.1, 0.3]
    power[10] = 12.0
    # Peak ring 10: reference rings 1 to 5.
    assert peak_clarity(f, power, size / 10) == pytest.approx(
        12.0 / np.mean([0.5, 0.2, 0.1, 0.3, 1.0])
    )
    # A peak at ring 3 is compared with rings 1 and 2 at least.
    power3 = np.linspace(1.0, 0.1, f.size)
    power3[3] = 2.0
    assert peak_clarity(f, power3, size / 3) == pytest.approx(2.0 / np.mean(power3[1:3]))
    # A falling (low-pass) spectrum peaks at ring 1, compared with itself and ring 2.
    falling = np.exp(-f / 0.05)
    assert peak_clarity(f, falling, size / 1.2) == pytest.approx(2 / (1 + falling[2] / falling[1]))
    plane_wave = np.zeros(f.size)
    plane_wave[8] = 1.0
    assert peak_clarity(f, plane_wave, 8.0) == MAX_PEAK_CLARITY
    with pytest.raises(MapError):
        peak_clarity(f, power[:-1], 8.0)
    with pytest.raises(MapError):
        peak_clarity(f, power, -1.0)


def test_the_analysed_area_is_the_native_one_and_holds_every_pinwheel():
    z = band_pass_field(96, 10.0, 6)[0]
    rng = np.random.default_rng(6)
    z[rng.random(z.shape) < 0.01] = np.nan
    z[:20, 50:] = np.nan
    for margin in (0, 1, 3):
        d = pinwheel_density(z, margin_px=margin)
        _, plaquettes = _analysed_area(z, margin)
        assert plaquettes.sum() == d.area_px
        r, c = _pinwheel_plaquettes(d.x, d.y, plaquettes)
        assert plaquettes[r, c].all()
        assert np.all((c <= d.x) & (d.x <= c + 1) & (r <= d.y) & (d.y <= r + 1))
    # A zero on the side shared with a plaquette outside goes to the one inside.
    inside = np.zeros((4, 4), dtype=bool)
    inside[1, 1] = True
    r, c = _pinwheel_plaquettes(np.array([2.0, 1.5]), np.array([1.5, 2.0]), inside)
    assert r.tolist() == [1, 1] and c.tolist() == [1, 1]


def test_bad_thresholds_raise():
    m = as_map(band_pass_field(64, 10.0, 0)[0])
    for kwargs, words in [
        ({"min_peak_clarity": 0.0}, "min_peak_clarity"),
        ({"min_columns_across": -1.0}, "min_columns_across"),
        ({"min_area_in_columns": np.nan}, "min_area_in_columns"),
        ({"collapse_threshold": 1.5}, "collapse_threshold"),
        ({"n_resamples": 0}, "n_resamples"),
        ({"margin_px": -1}, "margin"),
    ]:
        with pytest.raises(MapError, match=words):
            map_topology(m, **kwargs)
