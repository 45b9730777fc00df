"""Naturalistic motion from stills: each motion is measured back from the frames."""

from __future__ import annotations

import numpy as np
import pytest

from stdann.data.synthetic_motion import (
    MovingObject,
    Velocity,
    bilinear_sample,
    camera_pan,
    camera_rotation,
    camera_zoom,
    composite_objects,
    cut_object,
    moving_objects,
    resize_photo,
    soft_ellipse,
    spread_angular_speeds,
    spread_velocities,
    spread_zooms,
)

SIZE = (128, 160)


def pink_noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A colour image with a natural (1/f amplitude) spectrum, 0..255 uint8."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.fftfreq(width)[None, :]
    amplitude = 1.0 / np.maximum(np.hypot(fx, fy), 1.0 / max(height, width))
    out = []
    for _ in range(3):
        phase = np.exp(2j * np.pi * rng.random((height, width)))
        img = np.fft.ifft2(amplitude * phase).real
        out.append((img - img.mean()) / img.std())
    img = np.stack(out, axis=2)
    return np.clip(128 + 40 * img, 0, 255).astype(np.uint8)


def blob_grid(spacing: int = 70, size: int = 400, radius: int = 6) -> np.ndarray:
    """A black photograph with a grid of white discs."""
    photo = np.zeros((size, size, 3), np.uint8)
    y, x = np.mgrid[0:size, 0:size]
    for cy in range(spacing // 2, size, spacing):
        for cx in range(spacing // 2, size, spacing):
            photo[(x - cx) ** 2 + (y - cy) ** 2 <= radius**2] = 255
    return photo


def disc_centroid(frame: np.ndarray, at: np.ndarray, radius: float = 8.0) -> np.ndarray:
    """Intensity centroid of channel 0 within `radius` of `at`; positions are
    offsets (x, y) from the frame's centre."""
    h, w = frame.shape[:2]
    y, x = np.mgrid[0:h, 0:w]
    x = x - (w - 1) / 2
    y = y - (h - 1) / 2
    weight = frame[..., 0].astype(np.float64) * (np.hypot(x - at[0], y - at[1]) <= radius)
    return np.array([(weight * x).sum(), (weight * y).sum()]) / weight.sum()


def bright_spots(frame: np.ndarray, margin: float, radius: float = 8.0) -> list[np.ndarray]:
    """Centroids of the separate bright discs of a dark frame, at least `margin` from
    its edges (offsets from the centre)."""
    h, w = frame.shape[:2]
    bright = frame[..., 0].astype(np.float64) > 128
    y, x = np.nonzero(bright)
    x = x - (w - 1) / 2
    y = y - (h - 1) / 2
    spots = []
    while len(x):
        c = disc_centroid(frame, np.array([x[0], y[0]]), radius)
        c = disc_centroid(frame, c, radius)
        far = np.hypot(x - c[0], y - c[1]) > radius
        x, y = x[far], y[far]
        if abs(c[0]) < (w - 1) / 2 - margin and abs(c[1]) < (h - 1) / 2 - margin:
            spots.append(c)
    return spots


def phase_correlation_shift(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The shift d (x, y) with b(p) = a(p - d), from the phase correlation peak,
    refined to sub-pixel by a parabola through the peak and its neighbours."""
    a = a.astype(np.float64).mean(axis=2)
    b = b.astype(np.float64).mean(axis=2)
    window = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    fa = np.fft.fft2((a - a.mean()) * window)
    fb = np.fft.fft2((b - b.mean()) * window)
    cross = fb * np.conj(fa)
    r = np.fft.ifft2(cross / np.maximum(np.abs(cross), 1e-12)).real
    py, px = np.unravel_index(np.argmax(r), r.shape)
    h, w = r.shape

    def refine(m, p, n):
        y0, y1, y2 = m
        return p + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)

    dx = refine((r[py, (px - 1) % w], r[py, px], r[py, (px + 1) % w]), px, w)
    dy = refine((r[(py - 1) % h, px], r[py, px], r[(py + 1) % h, px]), py, h)
    return np.array([(dx + w / 2) % w - w / 2, (dy + h / 2) % h - h / 2])


# ---- spreading motion parameters ----------------------------------------------


def test_velocities_spread_evenly_over_the_circle_and_the_speed_range():
    v = spread_velocities(12, speed_range=(0.5, 3.5), seed=4)
    directions = np.sort([x.direction for x in v])
    gaps = np.diff(np.r_[directions, directions[0] + 360])
    np.testing.assert_allclose(gaps, 30.0)
    # One speed in each of the 12 bins of width 0.25.
    bins = np.floor((np.array([x.speed for x in v]) - 0.5) / 0.25).astype(int)
    assert sorted(bins) == list(range(12))
    assert spread_velocities(12, speed_range=(0.5, 3.5), seed=4) == v
    assert spread_velocities(12, speed_range=(0.5, 3.5), seed=5) != v


def test_velocity_points_counterclockwise_from_rightward_with_y_down_in_image_coordinates():
    np.testing.assert_allclose(Velocity(0, 2).image_step(), [2, 0], atol=1e-12)
    np.testing.assert_allclose(Velocity(90, 2).image_step(), [0, -2], atol=1e-12)
    np.testing.assert_allclose(Velocity(180, 1).image_step(), [-1, 0], atol=1e-12)


def test_zooms_and_turns_alternate_in_sign_and_spread_over_their_ranges():
    z = np.array(spread_zooms(8, factor_range=(1.2, 2.0), seed=1))
    assert (z[::2] > 1).all() and (z[1::2] < 1).all()
    logs = np.abs(np.log(z))
    bins = np.floor((logs - np.log(1.2)) / ((np.log(2.0) - np.log(1.2)) / 8)).astype(int)
    assert sorted(bins) == list(range(8))
    w = np.array(spread_angular_speeds(6, speed_range=(0.3, 1.5), seed=1))
    assert (w[::2] > 0).all() and (w[1::2] < 0).all()
    assert sorted(np.floor((np.abs(w) - 0.3) / 0.2).astype(int)) == list(range(6))


# ---- resampling ------------------------------------------------------------------


def test_bilinear_sampling_reproduces_a_linear_ramp_exactly():
    y, x = np.mgrid[0:20, 0:30].astype(np.float32)
    ramp = np.stack([3 * x - 2 * y + 5, x + y], axis=2)
    rng = np.random.default_rng(0)
    px, py = rng.uniform(0, 29, 500), rng.uniform(0, 19, 500)
    got = bilinear_sample(ramp, px, py)
    np.testing.assert_allclose(got[:, 0], 3 * px - 2 * py + 5, atol=1e-3)
    np.testing.assert_allclose(got[:, 1], px + py, atol=1e-3)
    # Whole-pixel points return the pixels themselves, the far edges included.
    np.testing.assert_array_equal(
        bilinear_sample(ramp, np.array([29.0]), np.array([19.0]))[0], ramp[19, 29]
    )


def test_resize_keeps_a_constant_photo_constant_and_averages_when_shrinking():
    flat = np.full((50, 80, 3), 77.0, np.float32)
    np.testing.assert_allclose(resize_photo(flat, 17, 23), 77.0, rtol=1e-5)
    stripes = np.zeros((40, 40, 1), np.float32)
    stripes[:, ::2] = 200.0  # one-pixel stripes: a halving filter must blur them to the mean
    np.testing.assert_allclose(resize_photo(stripes, 20, 20)[:, 2:-2], 100.0, atol=1e-3)


# ---- camera --------------------------------------------------------------------


def test_pan_by_whole_pixels_shifts_the_frame_exactly():
    # 1.25 px/frame at atan2(3, 4): 4 px right and 3 px up every 4 frames.
    v = Velocity(float(np.degrees(np.arctan2(3, 4))), 1.25)
    clip = camera_pan(pink_noise(300, 300), v, frames=9, size=SIZE, seed=3)
    assert clip.shape == (9, *SIZE, 3) and clip.dtype == np.uint8
    for t, (dx, dy) in ((4, (4, -3)), (8, (8, -6))):
        # frame_t(x, y) = frame_0(x - dx, y - dy)
        moved = clip[t, 0 : SIZE[0] + dy, dx:]
        still = clip[0, -dy:, 0 : SIZE[1] - dx]
        assert np.abs(moved.astype(int) - still).max() <= 1


@pytest.mark.parametrize("direction", [0.0, 45.0, 100.0, 170.0, 200.0, 265.0, 300.0, 350.0])
def test_pan_moves_the_content_at_its_speed_and_direction(direction):
    speed, t = 1.7, 6
    clip = camera_pan(pink_noise(320, 320, seed=1), Velocity(direction, speed), frames=t + 1)
    measured = phase_correlation_shift(clip[0], clip[t])
    a = np.radians(direction)
    expected = t * speed * np.array([np.cos(a), -np.sin(a)])
    np.testing.assert_allclose(measured, expected, atol=0.2)


def test_rotation_turns_the_content_about_the_frame_centre_at_its_angular_speed():
    for w in (2.0, -1.5):
        clip = camera_rotation(blob_grid(), w, frames=31, size=SIZE)
        spots = bright_spots(clip[0], margin=10)
        checked = 0
        for start in spots:
            for t in (10, 30):
                a = np.radians(w * t)
                # Counterclockwise on the screen is [[c, s], [-s, c]] with y down.
                expected = np.array(
                    [
                        np.cos(a) * start[0] + np.sin(a) * start[1],
                        -np.sin(a) * start[0] + np.cos(a) * start[1],
                    ]
                )
                if np.abs(expected).max() > 50:
                    continue  # near the edge: part of the disc may be out of view
                np.testing.assert_allclose(disc_centroid(clip[t], expected), expected, atol=0.15)
                checked += 1
        assert checked >= 6


@pytest.mark.parametrize("zoom", [1.8, 1 / 1.6])
def test_zoom_magnifies_the_content_by_its_factor_about_the_frame_centre(zoom):
    clip = camera_zoom(blob_grid(), zoom, frames=21, size=SIZE)
    checked = 0
    for start in bright_spots(clip[0], margin=10):
        for t in (10, 20):
            expected = start * zoom ** (t / 20)
            if np.abs(expected).max() > 50:
                continue
            np.testing.assert_allclose(disc_centroid(clip[t], expected), expected, atol=0.15)
            checked += 1
    assert checked >= 4


def test_camera_clips_are_deterministic_for_a_seed():
    photo = pink_noise(200, 260)
    a = camera_pan(photo, Velocity(33, 2.0), frames=5, seed=7, view=1.3)
    np.testing.assert_array_equal(
        a, camera_pan(photo, Velocity(33, 2.0), frames=5, seed=7, view=1.3)
    )
    assert not np.array_equal(a, camera_pan(photo, Velocity(33, 2.0), frames=5, seed=8, view=1.3))


# ---- objects --------------------------------------------------------------------


def test_soft_ellipse_is_opaque_inside_transparent_outside_and_falls_smoothly():
    m = soft_ellipse(41, 61, softness=0.25)
    assert m[20, 30] == 1.0 and m[0, 0] == 0.0 and m[20, 0] < 0.1 and m[0, 30] < 0.1
    row = m[20, 30:]
    assert (np.diff(row) <= 0).all() and ((row > 0) & (row < 1)).sum() >= 5


def test_an_object_crosses_the_frame_at_its_velocity_passing_its_midpoint_halfway():
    grey = np.full((300, 300, 3), 60, np.uint8)
    white = np.full((50, 50, 3), 255, np.uint8)
    patch = cut_object(white, 31, 31)
    velocity = Velocity(120.0, 2.5)
    obj = MovingObject(patch, velocity, midpoint=(5.0, -3.0))
    background = camera_pan(grey, Velocity(0, 0), frames=21, size=SIZE)
    clip = composite_objects(background, [obj])
    lift = clip.astype(np.float64) - 60
    step = velocity.image_step()
    for t in (0, 10, 20):
        expected = np.array([5.0, -3.0]) + (t - 10) * step
        np.testing.assert_allclose(disc_centroid(lift[t], expected, radius=30), expected, atol=0.05)


def test_moving_objects_puts_one_textured_object_per_velocity_over_a_scene():
    scene = pink_noise(240, 320)
    flat = np.full((64, 64, 3), 250, np.uint8)
    velocities = spread_velocities(3, seed=2)
    clip = moving_objects(scene, [flat], velocities, frames=12, size=SIZE, seed=5)
    still = moving_objects(scene, [flat], [], frames=12, size=SIZE, seed=5)
    assert clip.shape == (12, *SIZE, 3)
    # The objects cover part of every frame; the rest is the scene unchanged.
    covered = (np.abs(clip.astype(int) - still).max(axis=3) > 2).mean(axis=(1, 2))
    assert (covered > 0.05).all() and (covered < 0.9).all()
    np.testing.assert_array_equal(
        clip, moving_objects(scene, [flat], velocities, frames=12, size=SIZE, seed=5)
    )
