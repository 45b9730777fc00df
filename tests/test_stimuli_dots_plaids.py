"""Plaids and random-dot kinematograms: known components, known motion, clear refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stdann.stimuli import (
    DotPaths,
    check_dot_motion,
    dot_motion_limits,
    plaids,
    random_dot_paths,
    random_dots,
    read_table,
    render_dots,
)

# Components at +-atan(3/4) around the plaid's direction have 5 cycles across an
# 8 deg field (0.625 cycles/deg) with whole cycles along x and y: (4, +-3) when the
# plaid moves right, (+-3, 4) when it moves up. The FFT then puts each component in
# exactly one bin.
ANGLE_3_4_5 = 2 * np.degrees(np.arctan2(3, 4))


def spectrum(frame: np.ndarray) -> np.ndarray:
    """2-D FFT of a frame with y upward: entry [ky, kx] is cycles across the field."""
    f = frame.astype(float)[::-1]  # rows run downward; flip so the first axis is +y
    return np.fft.fft2(f - f.mean())


@pytest.mark.parametrize(
    ("direction", "angle", "sf"),
    [(0.0, ANGLE_3_4_5, 0.625), (90.0, ANGLE_3_4_5, 0.625), (135.0, 90.0, 0.5)],
)
def test_plaid_spectrum_is_its_two_components_drifting_at_their_frequency(direction, angle, sf):
    fov, size, rate, tf = 8.0, 64, 12.5, 1.0
    s = plaids(
        frames=6,
        size=size,
        directions=8,
        plaid_angle_deg=angle,
        spatial_frequencies_cpd=(sf,),
        temporal_frequencies_hz=(tf,),
        field_of_view_deg=fov,
        frame_rate_hz=rate,
        blank=False,
    )
    i = int(np.flatnonzero(np.isclose(s.table["direction_deg"], direction))[0])
    clip = s.clips[i, ..., 0]
    bins = []
    for theta in np.deg2rad([direction - angle / 2, direction + angle / 2]):
        k = sf * fov * np.array([np.cos(theta), np.sin(theta)])  # (kx, ky) cycles across
        assert np.allclose(k, np.rint(k), atol=1e-9)  # the case is exact on the FFT grid
        bins.append((int(np.rint(k[1])), int(np.rint(k[0]))))
    power = np.abs(spectrum(clip[0])) ** 2
    at_components = [power[ky, kx] + power[-ky, -kx] for ky, kx in bins]
    assert sum(at_components) / power.sum() > 0.999
    assert at_components[0] == pytest.approx(at_components[1], rel=1e-3)
    # Each component's phase advances -tf / frame rate cycles a frame (module conventions).
    for ky, kx in bins:
        phase = np.angle([spectrum(frame)[ky, kx] for frame in clip])
        per_frame = np.angle(np.exp(1j * np.diff(phase))) / (2 * np.pi)
        assert np.allclose(per_frame, -tf / rate, atol=1e-3)


@pytest.mark.parametrize(("direction", "shift"), [(0, (0, 2)), (90, (-2, 0)), (180, (0, -2))])
def test_plaid_pattern_moves_at_the_intersection_of_constraints_speed(direction, shift):
    # 8 px/deg, 12.5 Hz; components at 0.5 cycles/deg and 0.78125 Hz, 120 deg apart:
    # pattern speed 0.78125 / (0.5 cos 60) = 3.125 deg/s, 0.25 deg = 2 px a frame;
    # each component alone moves 1.5625 deg/s (1 px a frame) along its own direction.
    s = plaids(
        frames=4,
        size=64,
        directions=4,
        plaid_angle_deg=120.0,
        spatial_frequencies_cpd=(0.5,),
        temporal_frequencies_hz=(0.78125,),
        field_of_view_deg=8.0,
        frame_rate_hz=12.5,
        blank=False,
    )
    i = int(np.flatnonzero(s.table["direction_deg"] == direction)[0])
    assert s.table["speed_deg_per_s"][i] == pytest.approx(3.125)
    assert s.table["component_speed_deg_per_s"][i] == pytest.approx(1.5625)
    clip = s.clips[i, ..., 0].astype(int)

    def mismatch(dr: int, dc: int) -> int:
        """Largest difference between frame t + 1 and frame t moved by (dr, dc) pixels."""
        h = clip.shape[1]
        now = clip[1:, max(dr, 0) : h + min(dr, 0), max(dc, 0) : h + min(dc, 0)]
        before = clip[:-1, max(-dr, 0) : h + min(-dr, 0), max(-dc, 0) : h + min(-dc, 0)]
        return int(np.abs(now - before).max())

    assert mismatch(*shift) <= 1
    assert mismatch(shift[0] // 2, shift[1] // 2) > 20  # not at the components' speed


def test_plaid_table_blank_contrast_and_range():
    s = plaids(
        frames=3,
        size=32,
        directions=4,
        spatial_frequencies_cpd=(0.5, 1.0),
        temporal_frequencies_hz=(1.0,),
        phases_deg=(0.0, 90.0),
        contrast=0.5,
        field_of_view_deg=8.0,
    )
    assert len(s) == 4 * 2 * 2 + 1
    assert list(s.table) == [
        "direction_deg",
        "plaid_angle_deg",
        "spatial_frequency_cpd",
        "temporal_frequency_hz",
        "component_speed_deg_per_s",
        "speed_deg_per_s",
        "phase_deg",
        "contrast",
        "blank",
    ]
    assert all(v.shape == (len(s),) for v in s.table.values())
    assert s.table["blank"][-1] and s.table["blank"].sum() == 1 and (s.clips[-1] == 128).all()
    assert np.isnan(s.table["direction_deg"][-1]) and s.table["contrast"][-1] == 0
    cos60 = np.cos(np.deg2rad(60))
    moving = ~s.table["blank"]
    assert np.allclose(
        s.table["speed_deg_per_s"][moving],
        s.table["temporal_frequency_hz"][moving]
        / (s.table["spatial_frequency_cpd"][moving] * cos60),
    )
    # Two half-amplitude components at contrast 0.5: luminance within 127.5 (1 -+ 0.5).
    assert s.clips[moving].min() >= 63 and s.clips[moving].max() <= 192
    full = plaids(frames=1, size=32, directions=1, spatial_frequencies_cpd=(0.5,), blank=False)
    assert full.clips.min() <= 5 and full.clips.max() >= 250  # contrast 1 spans the range


def test_plaid_refusals():
    with pytest.raises(ValueError, match="strictly between 0"):
        plaids(plaid_angle_deg=180.0)
    with pytest.raises(ValueError, match="strictly between 0"):
        plaids(plaid_angle_deg=0.0)
    with pytest.raises(ValueError, match="half the frame rate"):
        plaids(temporal_frequencies_hz=(6.25,), frame_rate_hz=12.5)
    with pytest.raises(ValueError, match="Nyquist"):
        plaids(size=32, field_of_view_deg=8.0, spatial_frequencies_cpd=(2.0,))
    with pytest.raises(ValueError, match="contrast"):
        plaids(contrast=1.5)


def wrapped_steps(paths: DotPaths) -> tuple[np.ndarray, np.ndarray]:
    """Displacement (T - 1, N, 2) from each frame to the next on the wrapping
    torus, and a (T - 1, N) mask of the dots that moved (were not replotted)."""
    d, torus = np.diff(paths.positions_deg, axis=0), paths.torus_deg
    return (d + torus / 2) % torus - torus / 2, ~paths.replotted[1:]


@pytest.mark.parametrize(
    ("direction", "speed"), [(0.0, 4.0), (90.0, 2.0), (200.0, 8.0), (300.0, 64.0), (45.0, 99.0)]
)
def test_coherent_dots_step_in_their_direction_at_their_speed(direction, speed):
    paths = random_dot_paths(16, 300, direction, speed, 1.0, 8, 8.0, 12.5, np.random.default_rng(1))
    step = speed / 12.5
    assert paths.torus_deg == 8.0 + 2 * step  # by default a step beyond the field each side
    steps, moved = wrapped_steps(paths)
    expected = step * np.array([np.cos(np.deg2rad(direction)), np.sin(np.deg2rad(direction))])
    assert moved.mean() == pytest.approx(7 / 8, abs=0.03)  # an eighth replotted a frame
    assert np.allclose(steps[moved], expected, atol=1e-9)
    assert np.abs(paths.positions_deg).max() <= paths.torus_deg / 2
    assert paths.replotted[0].all() and np.isnan(paths.step_direction_deg[paths.replotted]).all()
    # No step aliases through the wrap: every dot inside the field on two
    # consecutive frames moved exactly its step, without unwrapping.
    seen = np.all(np.abs(paths.positions_deg) < 4.0, axis=-1)
    both = seen[:-1] & seen[1:] & moved
    raw = np.diff(paths.positions_deg, axis=0)
    assert both.any() and np.allclose(raw[both], expected, atol=1e-9)


def test_the_torus_keeps_the_density_on_the_field_and_no_wrap_is_seen():
    # 64 deg/s at 12.5 Hz: 5.12 deg a frame, beyond half the 8 deg field.
    s = random_dots(
        frames=16,
        size=112,
        directions=4,
        speeds_deg_per_s=(2.0, 64.0),
        density_dots_per_deg2=4.0,
        blank=False,
    )
    assert len(s) == 8
    torus = 8.0 + 2 * (5.12 + 0.2)
    paths = random_dot_paths(
        16, round(4.0 * torus**2), 0.0, 64.0, 1.0, 8, 8.0, 12.5, np.random.default_rng(0), torus
    )
    # On average 4 dots/deg^2 on the visible field, as on the whole torus.
    seen = np.all(np.abs(paths.positions_deg) < 4.0, axis=-1)
    assert seen.sum(axis=1).mean() / 64.0 == pytest.approx(4.0, rel=0.05)
    # Dots on the torus but off the field are not drawn: the clip is the render
    # of the dots near the field alone.
    near = np.all(np.abs(paths.positions_deg) < 4.5, axis=-1)
    alone = paths._replace(positions_deg=np.where(near[..., None], paths.positions_deg, 50.0))
    assert np.array_equal(render_dots(alone, 112, 8.0, 0.1), s.clips[1])


def test_dots_at_64_deg_per_s_are_drawn_71_68_px_further_each_frame():
    # 64 deg/s / 12.5 Hz = 5.12 deg a frame, at 112 px / 8 deg = 14 px/deg: 71.68 px.
    kwargs = dict(frames=16, size=112, directions=8, speeds_deg_per_s=(64.0,), blank=False)
    s = random_dots(**kwargs, density_dots_per_deg2=0.1, lifetime_frames=16)
    torus = 8.0 + 2 * (5.12 + 0.2)
    for index, direction in enumerate(s.table["direction_deg"]):
        rng = np.random.default_rng(0)
        dots = round(0.1 * torus**2)
        paths = random_dot_paths(16, dots, direction, 64.0, 1.0, 16, 8.0, 12.5, rng, torus)
        clip = s.clips[index, ..., 0].astype(float) - 128
        rows, columns = np.mgrid[:112, :112]
        measured = []
        for t in range(15):
            # A dot wholly inside the field on both frames, with no other dot near.
            centre = paths.positions_deg[t : t + 2] * [14.0, -14.0] + 55.5  # (2, N, [col, row])
            inside = np.all((centre > 3) & (centre < 108), axis=(0, 2)) & ~paths.replotted[t + 1]
            for n in np.flatnonzero(inside):
                at = []
                for k in (0, 1):
                    c, r = centre[k, n]
                    window = (np.abs(columns - c) < 3.5) & (np.abs(rows - r) < 3.5)
                    cover = np.where(window, clip[t + k], 0.0)
                    others = np.delete(centre[k], n, axis=0)
                    if np.hypot(*(others - centre[k, n]).T).min() < 8:
                        break
                    at.append([(cover * columns).sum(), -(cover * rows).sum()] / cover.sum())
                if len(at) == 2:
                    measured.append(np.subtract(*at[::-1]))
        expected = 71.68 * np.array([np.cos(np.deg2rad(direction)), np.sin(np.deg2rad(direction))])
        assert len(measured) >= 3, direction
        # The centroid of a 2.8 px disc drawn in uint8 lands within 0.15 px.
        assert np.allclose(measured, expected, atol=0.15), direction


def test_coherence_sets_the_share_of_dots_moving_together():
    step = 4.0 / 12.5
    for coherence in (0.0, 0.25, 0.5):
        paths = random_dot_paths(
            16, 2000, 30.0, 4.0, coherence, 8, 8.0, 12.5, np.random.default_rng(2)
        )
        assert paths.coherent.sum() == round(coherence * 2000)
        steps, moved = wrapped_steps(paths)
        # Every dot steps the same distance; only its direction differs.
        assert np.allclose(np.hypot(*steps[moved].T), step)
        net = steps[moved].mean(axis=0) / step
        expected = coherence * np.array([np.cos(np.deg2rad(30)), np.sin(np.deg2rad(30))])
        assert np.hypot(*(net - expected)) < 0.05  # coherence 0: no net motion


def frame_to_frame_correlation(clip: np.ndarray) -> np.ndarray:
    """Mean circular cross-correlation of consecutive frames, [down, right] in px
    (the field wraps, so the circular correlation is exact)."""
    f = clip[..., 0].astype(float)
    f -= f.mean(axis=(1, 2), keepdims=True)
    spectra = np.fft.fft2(f)
    return np.fft.ifft2((np.conj(spectra[:-1]) * spectra[1:]).mean(0)).real


def correlation_peak(c: np.ndarray) -> np.ndarray:
    """(rightward, upward) px of the correlation's peak, refined by a parabola per axis."""
    size = c.shape[0]
    i, j = np.unravel_index(np.argmax(c), c.shape)

    def vertex(before: float, at: float, after: float) -> float:
        return 0.5 * (before - after) / (before - 2 * at + after)

    down = (i + size // 2) % size - size // 2 + vertex(c[i - 1, j], c[i, j], c[(i + 1) % size, j])
    right = (j + size // 2) % size - size // 2 + vertex(c[i, j - 1], c[i, j], c[i, (j + 1) % size])
    return np.array([right, -down])


def correlation_at(c: np.ndarray, shift: np.ndarray) -> float:
    """The correlation at a (rightward, upward) px shift, interpolated bilinearly."""
    down, right = -shift[1], shift[0]
    r, k = int(np.floor(down)), int(np.floor(right))
    a, b = down - r, right - k
    size = c.shape[0]
    at = lambda i, j: c[i % size, j % size]  # noqa: E731
    return float(
        (1 - a) * (1 - b) * at(r, k)
        + (1 - a) * b * at(r, k + 1)
        + a * (1 - b) * at(r + 1, k)
        + a * b * at(r + 1, k + 1)
    )


@pytest.mark.parametrize("direction", [0.0, 45.0, 112.5, 270.0])
def test_rendered_dots_move_in_the_direction_at_the_speed(direction):
    s = random_dots(
        frames=16,
        size=112,
        directions=16,
        speeds_deg_per_s=(4.0,),
        coherences=(1.0, 0.0),
        density_dots_per_deg2=4.0,
        field_of_view_deg=8.0,
        frame_rate_hz=12.5,
        blank=False,
    )
    step_px = 4.0 / 12.5 * 112 / 8.0  # 4.48 px a frame
    expected = step_px * np.array([np.cos(np.deg2rad(direction)), np.sin(np.deg2rad(direction))])
    rows = s.table["direction_deg"] == direction
    coherent = frame_to_frame_correlation(s.clips[rows & (s.table["coherence"] == 1.0)][0])
    incoherent = frame_to_frame_correlation(s.clips[rows & (s.table["coherence"] == 0.0)][0])
    assert np.hypot(*(correlation_peak(coherent) - expected)) < 0.3
    # Opponent motion energy along the direction: coherence 0 has next to none.
    signal = correlation_at(coherent, expected) - correlation_at(coherent, -expected)
    noise = correlation_at(incoherent, expected) - correlation_at(incoherent, -expected)
    assert signal > 0 and abs(noise) < 0.15 * signal


def test_random_dots_table_seed_and_blank(tmp_path):
    kwargs = dict(
        frames=4,
        size=64,
        directions=4,
        speeds_deg_per_s=(2.0, 4.0),
        coherences=(0.0, 1.0),
        dot_radius_deg=0.125,
    )
    s = random_dots(**kwargs)
    assert len(s) == 4 * 2 * 2 + 1 and s.name == "random_dots"
    assert list(s.table) == ["direction_deg", "speed_deg_per_s", "coherence", "blank"]
    assert all(v.shape == (len(s),) for v in s.table.values())
    assert s.table["blank"][-1] and (s.clips[-1] == 128).all()
    assert np.isnan(
        [s.table[c][-1] for c in ("direction_deg", "speed_deg_per_s", "coherence")]
    ).all()
    assert np.array_equal(random_dots(**kwargs).clips, s.clips)
    assert not np.array_equal(random_dots(**kwargs, seed=1).clips, s.clips)
    # The same dots in every clip: at coherence 0 the direction changes nothing.
    still = (s.table["coherence"] == 0) & (s.table["speed_deg_per_s"] == 2.0)
    assert (s.clips[still] == s.clips[still][:1]).all()
    moving = (s.table["coherence"] == 1) & (s.table["speed_deg_per_s"] == 2.0)
    assert not (s.clips[moving] == s.clips[moving][:1]).all()
    assert set(np.unique(s.clips[:-1])) >= {128, 255} and s.clips.min() == 128
    s.write_table(tmp_path)
    table, geometry = read_table(tmp_path)
    assert np.array_equal(table["coherence"], s.table["coherence"], equal_nan=True)
    assert geometry["name"] == "random_dots"


def test_render_dots_draws_an_antialiased_disc_where_the_dot_is_and_wraps_it():
    # 16 px over 4 deg: 4 px/deg. One dot of radius 0.5 deg (2 px) at x = 0.3,
    # y = -0.2 deg: column 16 / 2 - 0.5 + 1.2 = 8.7, row 7.5 + 0.8 = 8.3.
    one = DotPaths(
        np.array([[[0.3, -0.2]]]), np.ones(1, bool), np.ones((1, 1), bool), np.full((1, 1), np.nan)
    )
    frame = render_dots(one, 16, 4.0, 0.5)[0]
    assert frame.shape == (16, 16, 3) and (frame[..., 0] == frame[..., 2]).all()
    cover = (frame[..., 0].astype(float) - 128) / 127
    rows, columns = np.mgrid[:16, :16]
    assert (cover * columns).sum() / cover.sum() == pytest.approx(8.7, abs=0.02)
    assert (cover * rows).sum() / cover.sum() == pytest.approx(8.3, abs=0.02)
    assert cover.sum() == pytest.approx(np.pi * 2**2, rel=0.03)
    assert cover.max() == 1 and cover.min() == 0
    # At the right edge, part of the dot shows on the left.
    edge = one._replace(positions_deg=np.array([[[1.95, 0.0]]]))
    wrapped = render_dots(edge, 16, 4.0, 0.5)[0, ..., 0]
    assert (wrapped[:, :2] > 128).any() and (wrapped[:, -2:] > 128).any()
    assert (wrapped[:, 4:12] == 128).all()
    with pytest.raises(ValueError, match="smaller than a pixel"):
        render_dots(one, 16, 4.0, 0.1)


def test_dot_motion_limits_by_hand():
    limits = dot_motion_limits(8.0, 12.5, 16, 1.0, 8, speeds_deg_per_s=(0.5, 64.0))
    json.dumps(limits)
    assert limits["step_deg_per_frame_per_deg_per_s"] == pytest.approx(0.08)
    assert limits["step_deg_per_frame"] == pytest.approx([0.04, 5.12])
    # A dot lives 8 frames, 7 steps: it crosses 8 deg in them at 8 * 12.5 / 7 deg/s;
    # the clip's 16 frames are 15 steps; one step of 8 deg is 100 deg/s.
    assert limits["field_crossing_in_lifetime_deg_per_s"] == pytest.approx(100 / 7)
    assert limits["field_crossing_in_clip_deg_per_s"] == pytest.approx(100 / 15)
    assert limits["field_crossing_in_one_frame_deg_per_s"] == pytest.approx(100.0)
    # 1 dot/deg^2: 1 deg apart; half of it, 0.5 deg a frame, is 6.25 deg/s.
    assert limits["mean_dot_spacing_deg"] == pytest.approx(1.0)
    assert limits["half_spacing_speed_deg_per_s"] == pytest.approx(6.25)
    assert set(limits["explanations"]) == {
        "step_deg_per_frame",
        "field_crossing_in_lifetime_deg_per_s",
        "field_crossing_in_clip_deg_per_s",
        "field_crossing_in_one_frame_deg_per_s",
        "mean_dot_spacing_deg",
        "half_spacing_speed_deg_per_s",
    }
    assert all(isinstance(v, str) and "\n" not in v for v in limits["explanations"].values())
    # A lifetime longer than the clip: the clip's steps bound the crossing.
    long = dot_motion_limits(8.0, 12.5, 4, 4.0, 8)
    assert long["field_crossing_in_lifetime_deg_per_s"] == pytest.approx(100 / 3)
    assert long["half_spacing_speed_deg_per_s"] == pytest.approx(3.125)
    assert dot_motion_limits(8.0, 12.5, 1, 1.0, 8)["field_crossing_in_clip_deg_per_s"] is None
    with pytest.raises(ValueError, match="positive"):
        dot_motion_limits(8.0, 12.5, 16, 0.0, 8)
    with pytest.raises(ValueError, match="lifetime"):
        dot_motion_limits(8.0, 12.5, 16, 1.0, 1)


def test_dot_refusals():
    check_dot_motion(99.9, 8.0, 12.5)  # 7.99 deg a frame: a dot may still be seen twice
    with pytest.raises(ValueError, match="whole field"):
        check_dot_motion(100.0, 8.0, 12.5)  # 8 deg a frame over an 8 deg field
    with pytest.raises(ValueError, match="whole field"):
        random_dots(speeds_deg_per_s=(120.0,), field_of_view_deg=8.0, frame_rate_hz=12.5)
    with pytest.raises(ValueError, match="whole field"):
        check_dot_motion(-1.0, 8.0, 12.5)
    with pytest.raises(ValueError, match="torus"):
        random_dot_paths(4, 10, 0.0, 64.0, 1.0, 8, 8.0, 12.5, np.random.default_rng(0), 12.0)
    with pytest.raises(ValueError, match="smaller than a pixel"):
        random_dots(size=32, field_of_view_deg=8.0, dot_radius_deg=0.1)
    with pytest.raises(ValueError, match="never moves"):
        random_dots(lifetime_frames=1)
    with pytest.raises(ValueError, match="coherences"):
        random_dots(coherences=(1.5,))
    with pytest.raises(ValueError, match="no dots"):
        random_dots(density_dots_per_deg2=0.001)
    with pytest.raises(ValueError, match="seed"):
        random_dots(seed=-1)
    with pytest.raises(ValueError, match="coherence"):
        random_dot_paths(4, 10, 0.0, 1.0, -0.1, 8, 8.0, 12.5, np.random.default_rng(0))
