"""Pinwheels, column spacing and pinwheel density through the native module,
against known answers and the NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from stdann.analysis import (
    MapError,
    NoSpectralPeakError,
    NothingToAnalyseError,
    PinwheelDensity,
    column_spacing,
    find_pinwheels,
    local_pinwheel_density,
    pinwheel_density,
)
from stdann.analysis.pinwheels_reference import find_pinwheels_reference
from stdann.analysis.synthetic_maps import angles_of, planted_pinwheels, ring_field

PLANTED = [(12.4, 10.8, +1), (40.2, 14.6, -1), (25.7, 33.1, +1), (50.5, 40.5, -1), (8.9, 44.2, -1)]
SHAPE = (56, 64)


def nearest(x, y, px, py):
    return int(np.argmin(np.hypot(x - px, y - py)))


def test_planted_pinwheels_from_the_complex_map_within_a_tenth_of_a_pixel():
    z = planted_pinwheels(SHAPE, PLANTED)
    x, y, charge = find_pinwheels(z)
    assert len(x) == len(PLANTED)
    assert x.dtype == np.float64 and charge.dtype == np.int8
    for px, py, q in PLANTED:
        k = nearest(x, y, px, py)
        assert charge[k] == q
        assert np.hypot(x[k] - px, y[k] - py) < 0.1


@pytest.mark.parametrize("period", [360.0, 180.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_planted_pinwheels_from_angles_within_one_plaquette(period, dtype):
    a = angles_of(planted_pinwheels(SHAPE, PLANTED), period).astype(dtype)
    x, y, charge = find_pinwheels(a, period=period)
    assert len(x) == len(PLANTED)
    for px, py, q in PLANTED:
        k = nearest(x, y, px, py)
        assert charge[k] == q
        assert abs(x[k] - px) <= 0.5 and abs(y[k] - py) <= 0.5


def test_complex64_and_integer_maps_are_accepted():
    z = planted_pinwheels(SHAPE, PLANTED)
    assert len(find_pinwheels(z.astype(np.complex64))[0]) == len(PLANTED)
    degrees = np.round(angles_of(z)).astype(np.int32)
    assert len(find_pinwheels(degrees)[0]) == len(PLANTED)


def test_ring_fields_have_pi_pinwheels_per_column_spacing_squared():
    # For an isotropic complex Gaussian field the density of zeros is
    # <k^2> / (4 pi); on a thin ring k = 2 pi / Lambda that is pi / Lambda^2.
    wavelength = 18.0
    for period in (360.0, 180.0):
        densities = []
        for seed in range(4):
            a = angles_of(ring_field(256, wavelength, seed), period)
            d = pinwheel_density(a, period=period)
            assert d.wavelength_px == pytest.approx(wavelength, rel=0.03)
            densities.append(d.density)
        assert np.mean(densities) == pytest.approx(np.pi, rel=0.03)


def test_column_spacing_of_a_ring_field_and_in_millimetres():
    z = ring_field(200, 12.5, 11)
    s = column_spacing(z, pixel_mm=0.02)
    assert s.wavelength_px == pytest.approx(12.5, rel=0.03)
    assert s.wavelength_mm == pytest.approx(s.wavelength_px * 0.02)
    assert s.frequencies.shape == s.power.shape
    assert s.frequencies[np.argmax(s.power)] == pytest.approx(1 / 12.5, rel=0.05)


def test_density_fields_are_consistent():
    a = angles_of(ring_field(128, 16.0, 3))
    d = pinwheel_density(a, pixel_mm=0.05, margin_px=4)
    assert isinstance(d, PinwheelDensity)
    assert d.n_total == d.n_plus + d.n_minus == len(d.x) == len(d.nn_any_sign)
    assert d.n_plus == int(np.sum(d.charge == 1))
    assert d.area_px == (128 - 2 * 4 - 1) ** 2
    assert d.density == pytest.approx(d.n_total / d.area_in_columns)
    assert d.density == pytest.approx(d.density_plus + d.density_minus)
    assert d.wavelength_mm == pytest.approx(d.wavelength_px * 0.05)
    assert d.area_mm2 == pytest.approx(d.area_px * 0.05**2)
    assert np.all(d.nn_any_sign == np.fmin(d.nn_same_sign, d.nn_opposite_sign))
    # Pinwheels come in close pairs of opposite sign.
    assert np.nanmedian(d.nn_opposite_sign) < np.nanmedian(d.nn_same_sign)
    inside = (d.x > 4) & (d.x < 123) & (d.y > 4) & (d.y < 123)
    assert inside.all()


def test_local_density_averages_to_the_global_one_and_is_nan_off_the_sheet():
    a = angles_of(ring_field(192, 12.0, 8))
    a[:, :30] = np.nan
    local = local_pinwheel_density(a, window_columns=1.5)
    assert local.shape == a.shape
    assert np.isnan(local[:, :30]).all()
    assert np.nanmean(local[20:-20, 50:-20]) == pytest.approx(np.pi, rel=0.1)
    wide = local_pinwheel_density(a, window_columns=100.0)
    global_density = pinwheel_density(a).density
    np.testing.assert_allclose(wide[:, 31:], global_density, rtol=0.01)
    with pytest.raises(MapError, match="window"):
        local_pinwheel_density(a, window_columns=-1.0)


def test_a_constant_offset_changes_nothing():
    a = angles_of(ring_field(96, 12.0, 5))
    base = find_pinwheels(a)
    for offset in (37.0, -1000.0, 1e5):
        moved = find_pinwheels(a + offset)
        for u, v in zip(base, moved, strict=True):
            np.testing.assert_array_equal(u, v)


def test_mirroring_flips_every_charge():
    a = angles_of(ring_field(96, 12.0, 6))
    x, y, charge = find_pinwheels(a)
    mx, my, mcharge = find_pinwheels(a[:, ::-1])
    width = a.shape[1]
    original = sorted(zip(np.round(2 * (width - 1 - x)), np.round(2 * y), -charge, strict=True))
    mirrored = sorted(zip(np.round(2 * mx), np.round(2 * my), mcharge, strict=True))
    assert original == mirrored
    # Reversing the angles mirrors the phase, not the sheet: charges flip too.
    assert np.array_equal(find_pinwheels(-a)[2], -charge)


def boundary_winding(a: np.ndarray, period: float) -> int:
    h, w = a.shape
    path = (
        [a[0, c] for c in range(w)]
        + [a[r, w - 1] for r in range(1, h)]
        + [a[h - 1, c] for c in range(w - 2, -1, -1)]
        + [a[r, 0] for r in range(h - 2, -1, -1)]
    )
    steps = np.diff(np.asarray(path) / period)
    return round(float(np.sum(steps - np.round(steps))))


def test_total_charge_equals_the_winding_of_the_boundary():
    for seed in range(3):
        a = angles_of(ring_field(64, 10.0, seed))[5:50, 3:60]
        _, _, charge = find_pinwheels(a)
        assert int(charge.sum()) == boundary_winding(a, 360.0)
    z = planted_pinwheels(SHAPE, PLANTED)
    assert int(find_pinwheels(z)[2].sum()) == sum(q for _, _, q in PLANTED)


def test_parity_with_the_numpy_reference_on_masked_maps():
    rng = np.random.default_rng(0)
    for seed in range(3):
        a = angles_of(ring_field(128, 9.0, seed), 180.0)
        a[rng.random(a.shape) < 0.02] = np.nan
        a[:10, :30] = np.inf
        native = find_pinwheels(a, period=180.0)
        reference = find_pinwheels_reference(a, period=180.0)
        for u, v in zip(native, reference, strict=True):
            np.testing.assert_array_equal(u, v)
    noise = rng.uniform(-720, 720, size=(64, 80))
    for u, v in zip(find_pinwheels(noise), find_pinwheels_reference(noise), strict=True):
        np.testing.assert_array_equal(u, v)


def test_complex_maps_agree_with_the_reference_plaquette_by_plaquette():
    z = ring_field(128, 10.0, 4)
    z[50:60, 20:90] = np.nan
    x, y, charge = find_pinwheels(z)
    rx, ry, rcharge = find_pinwheels_reference(z)
    # Sub-pixel zeros stay inside the plaquette the reference names by its centre.
    assert len(x) == len(rx) > 50
    assert np.all(np.abs(x - rx) <= 0.5) and np.all(np.abs(y - ry) <= 0.5)
    np.testing.assert_array_equal(charge, rcharge)


def test_masked_plaquettes_are_skipped():
    z = planted_pinwheels(SHAPE, PLANTED)
    a = angles_of(z)
    a[10, 12] = np.nan  # a corner of the plaquette holding (12.4, 10.8)
    x, y, _ = find_pinwheels(a)
    assert len(x) == len(PLANTED) - 1
    assert np.min(np.hypot(x - 12.4, y - 10.8)) > 1.0


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=2, max_side=20),
        elements=st.floats(allow_nan=True, allow_infinity=True),
    ),
    st.sampled_from([360.0, 180.0]),
)
def test_random_maps_never_fail_unexpectedly_and_charges_are_unit(a, period):
    try:
        x, y, charge = find_pinwheels(a, period=period)
    except NothingToAnalyseError:
        assert not np.any(
            np.isfinite(a[:-1, :-1])
            & np.isfinite(a[1:, :-1])
            & np.isfinite(a[:-1, 1:])
            & np.isfinite(a[1:, 1:])
        )
        return
    assert set(charge.tolist()) <= {-1, 1}
    assert np.all((x > 0) & (x < a.shape[1]) & (y > 0) & (y < a.shape[0]))
    try:
        pinwheel_density(a, period=period)
    except (NothingToAnalyseError, NoSpectralPeakError):
        pass


@pytest.mark.parametrize(
    ("values", "error", "words"),
    [
        (np.zeros((3, 4, 5)), MapError, "2-D"),
        (np.zeros(7), MapError, "2-D"),
        (np.array([["a", "b"], ["c", "d"]]), MapError, "dtype"),
        (np.zeros((2, 2), dtype=bool), MapError, "dtype"),
        (np.zeros((1, 9)), MapError, "2 x 2"),
        (np.full((8, 8), np.nan), NothingToAnalyseError, "NaN"),
    ],
)
def test_bad_maps_raise_typed_errors(values, error, words):
    with pytest.raises(error, match=words):
        find_pinwheels(values)
    with pytest.raises(error, match=words):
        pinwheel_density(values)


def test_bad_arguments_raise_typed_errors():
    a = angles_of(ring_field(64, 10.0, 1))
    with pytest.raises(MapError, match="period"):
        find_pinwheels(a, period=0.0)
    with pytest.raises(MapError, match="period"):
        column_spacing(a, period=float("nan"))
    with pytest.raises(MapError, match="pixel size"):
        pinwheel_density(a, pixel_mm=-0.1)
    with pytest.raises(MapError, match="margin"):
        pinwheel_density(a, margin_px=-1)
    with pytest.raises(NothingToAnalyseError, match="margin"):
        pinwheel_density(a, margin_px=40)
    with pytest.raises(NoSpectralPeakError, match="no spatial structure"):
        column_spacing(np.full((16, 16), 45.0))
    assert issubclass(MapError, ValueError)


def test_non_contiguous_views_are_analysed():
    a = angles_of(ring_field(128, 12.0, 2))
    view = a[::2, ::2]
    for u, v in zip(find_pinwheels(view), find_pinwheels(view.copy()), strict=True):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("period, levels", [(360.0, 8), (180.0, 4)])
def test_quantised_maps_keep_mirror_symmetry_and_match_the_reference(period, levels):
    # Directions from an argmax over a few stimuli: neighbouring pixels often
    # differ by exactly half a turn, where the winding is undefined. Such
    # plaquettes count as none, so mirroring still flips every charge and the
    # net charge stays near zero instead of piling up on one sign.
    step = period / levels
    angles = angles_of(ring_field(256, 12.0, seed=3), period)
    quantised = (np.round(angles / step) % levels) * step
    x, y, charge = find_pinwheels(quantised, period=period)
    rx, ry, rcharge = find_pinwheels_reference(quantised, period=period)
    np.testing.assert_array_equal(charge, rcharge)
    np.testing.assert_array_equal(x, rx)
    np.testing.assert_array_equal(y, ry)
    mx, my, mcharge = find_pinwheels(quantised[:, ::-1], period=period)
    width = quantised.shape[1]
    mirrored = sorted(zip((width - 1) - mx, my, -mcharge, strict=True))
    assert mirrored == sorted(zip(x, y, charge, strict=True))
    assert abs(int(charge.sum())) <= 0.05 * len(charge) + 4


@pytest.mark.parametrize("dtype", [">f8", ">f4", "float16", ">c16"])
def test_other_float_widths_and_byte_orders_give_the_same_pinwheels(dtype):
    angles = angles_of(planted_pinwheels((48, 48), [(12.3, 20.7, 1), (30.2, 25.1, -1)]))
    if dtype == ">c16":
        values = np.exp(1j * np.deg2rad(angles)).astype(dtype)
        expected = find_pinwheels(np.exp(1j * np.deg2rad(angles)))
    else:
        values = angles.astype(dtype)
        expected = find_pinwheels(values.astype(np.float64))
    got = find_pinwheels(values)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)
