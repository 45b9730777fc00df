"""Drifting gratings with known directions and speeds, and their table."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from stdann.stimuli import (
    GRATING_COLUMNS,
    Grating,
    StimulusError,
    StimulusSet,
    check_sampling,
    drifting_gratings,
    pixel_degrees,
    read_table,
    render_gratings,
)

FOV = 8.0  # deg across a 112-px clip: 14 px/deg
RATE = 12.5  # Hz: 25 fps at frame stride 2


def one_grating_set(directions=4, sf=0.5, tf=2.0, frames=8, size=112):
    return drifting_gratings(
        frames=frames,
        size=size,
        directions=directions,
        spatial_frequencies_cpd=(sf,),
        temporal_frequencies_hz=(tf,),
        field_of_view_deg=FOV,
        frame_rate_hz=RATE,
        blank=False,
    )


def drift_cycles_per_frame(signal: np.ndarray, cycles_across: int) -> float:
    """Phase advance per frame of a (T, N) signal at `cycles_across` cycles, in
    cycles: negative when the pattern moves toward increasing index."""
    phase = np.angle(np.fft.fft(signal - signal.mean(), axis=1)[:, cycles_across])
    return float(np.mean(np.angle(np.exp(1j * np.diff(phase)))) / (2 * np.pi))


@pytest.mark.parametrize(
    ("direction", "line", "sign"),
    [(0, "row", -1), (180, "row", 1), (90, "column_upward", -1), (270, "column_upward", 1)],
)
def test_cardinal_gratings_move_right_up_left_down(direction, line, sign):
    s = one_grating_set()
    i = int(np.flatnonzero(s.table["direction_deg"] == direction)[0])
    clip = s.clips[i, ..., 0].astype(float)  # (T, H, W)
    # A row read left to right, or a column read bottom to top.
    signal = clip[:, 56, :] if line == "row" else clip[:, ::-1, 56]
    # 0.5 cycles/deg over 8 deg: 4 cycles across; 2 Hz at 12.5 Hz: 0.16 cycles a frame,
    # and the phase at a fixed index falls when the pattern moves toward higher indices.
    assert drift_cycles_per_frame(signal, 4) == pytest.approx(sign * 0.16, abs=0.002)
    # Along the other axis the grating is constant.
    across = clip[:, :, 56] if line == "row" else clip[:, 56, :]
    assert np.ptp(across, axis=1).max() <= 1
    assert s.table["speed_deg_per_s"][i] == pytest.approx(4.0)


def fit_grating(frame: np.ndarray, direction_deg: float, sf: float, size: int, fov: float):
    """(amplitude, phase in cycles) of cos(2 pi sf (x cos d + y sin d) + phase) in a
    (H, W) uint8 frame by least squares, with x rightward and y upward in degrees
    (written out here, not taken from the module)."""
    rows, cols = np.mgrid[0:size, 0:size]
    x = (cols + 0.5 - size / 2) * fov / size
    y = (size / 2 - rows - 0.5) * fov / size
    d = np.deg2rad(direction_deg)
    arg = 2 * np.pi * sf * (x * np.cos(d) + y * np.sin(d))
    basis = np.stack([np.cos(arg), -np.sin(arg), np.ones_like(arg)], -1).reshape(-1, 3)
    (a, b, _), *_ = np.linalg.lstsq(basis, frame.reshape(-1) / 127.5 - 1, rcond=None)
    return float(np.hypot(a, b)), float(np.arctan2(b, a) / (2 * np.pi))


def test_every_direction_drifts_along_its_wave_vector_at_its_speed():
    sf, tf = 0.5, 2.0
    s = one_grating_set(directions=16, sf=sf, tf=tf, frames=6)
    assert np.array_equal(s.table["direction_deg"], np.arange(16) * 22.5)
    for i, direction in enumerate(s.table["direction_deg"]):
        fits = [fit_grating(f[..., 0], direction, sf, 112, FOV) for f in s.clips[i]]
        amplitudes, phases = np.array(fits).T
        # The grating is oriented across `direction` (amplitude 1 there) ...
        assert amplitudes == pytest.approx(1.0, abs=0.01)
        # ... and its phase falls by tf / rate cycles a frame: the crests move along
        # +(cos d, sin d) by (tf / sf) / rate deg a frame, the speed in the table.
        steps = np.angle(np.exp(2j * np.pi * np.diff(phases))) / (2 * np.pi)
        assert steps == pytest.approx(-tf / RATE, abs=0.002)
        assert s.table["speed_deg_per_s"][i] == tf / sf
        shift_deg = -steps.mean() / sf
        assert shift_deg == pytest.approx(s.table["speed_deg_per_s"][i] / RATE, rel=0.01)


def test_phase_column_shifts_the_grating():
    s = drifting_gratings(
        frames=2,
        size=64,
        directions=1,
        spatial_frequencies_cpd=(0.5,),
        temporal_frequencies_hz=(1.0,),
        phases_deg=(0, 90),
        field_of_view_deg=FOV,
        blank=False,
    )
    phases = [fit_grating(clip[0, ..., 0], 0.0, 0.5, 64, FOV)[1] for clip in s.clips]
    assert list(s.table["phase_deg"]) == [0, 90]
    assert phases == pytest.approx([0.0, 0.25], abs=0.002)


def test_table_columns_blank_and_order():
    s = drifting_gratings(
        frames=4,
        size=32,
        directions=8,
        spatial_frequencies_cpd=(0.5, 1.0),
        temporal_frequencies_hz=(1.0, 3.0),
        phases_deg=(0, 90),
        contrasts=(0.5, 1.0),
        field_of_view_deg=FOV,
        frame_rate_hz=RATE,
    )
    n = 8 * 2 * 2 * 2 * 2 + 1
    assert len(s) == n and s.clips.shape == (n, 4, 32, 32, 3) and s.clips.dtype == np.uint8
    assert tuple(s.table) == GRATING_COLUMNS
    assert all(v.shape == (n,) for v in s.table.values())
    assert s.table["blank"].dtype == bool and s.table["blank"].sum() == 1 and s.table["blank"][-1]
    gratings = ~s.table["blank"]
    assert np.array_equal(
        s.table["speed_deg_per_s"][gratings],
        s.table["temporal_frequency_hz"][gratings] / s.table["spatial_frequency_cpd"][gratings],
    )
    # The nesting order: direction outermost, contrast innermost.
    assert list(s.table["contrast"][:4]) == [0.5, 1.0, 0.5, 1.0]
    assert list(s.table["direction_deg"][:32:16]) == [0.0, 45.0]
    # Grey: the three channels equal everywhere.
    assert (s.clips[..., 0] == s.clips[..., 1]).all() and (s.clips[..., 0] == s.clips[..., 2]).all()
    # The blank: uniform mean grey, contrast 0, no grating parameters.
    assert (s.clips[-1] == 128).all()
    assert s.table["contrast"][-1] == 0.0
    for column in GRATING_COLUMNS[:5]:
        assert np.isnan(s.table[column][-1]) and not np.isnan(s.table[column][gratings]).any()
    assert s.geometry() == {
        "name": "drifting_gratings",
        "frames": 4,
        "size": 32,
        "frame_rate_hz": RATE,
        "field_of_view_deg": FOV,
    }


def test_contrast_scales_amplitude():
    s = drifting_gratings(
        frames=3,
        size=64,
        directions=2,
        spatial_frequencies_cpd=(0.5,),
        temporal_frequencies_hz=(2.0,),
        contrasts=(0.0, 0.25, 0.5, 1.0),
        field_of_view_deg=FOV,
        blank=False,
    )
    for clip, c, d in zip(s.clips, s.table["contrast"], s.table["direction_deg"], strict=True):
        amplitude, _ = fit_grating(clip[1, ..., 0], d, 0.5, 64, FOV)
        assert amplitude == pytest.approx(c, abs=0.005)
    full = s.clips[s.table["contrast"] == 1.0].astype(float)
    assert full.min() == 0 and full.max() == 255 and full.mean() == pytest.approx(127.5, abs=0.5)
    assert (s.clips[s.table["contrast"] == 0.0] == 128).all()


def test_frequencies_at_or_above_nyquist_are_refused():
    with pytest.raises(ValueError, match="half the frame rate"):
        drifting_gratings(temporal_frequencies_hz=(6.25,), frame_rate_hz=12.5)
    with pytest.raises(StimulusError, match="aliasing"):
        drifting_gratings(temporal_frequencies_hz=(2.0, 7.0), frame_rate_hz=12.5)
    with pytest.raises(StimulusError, match="half the frame rate"):
        drifting_gratings(temporal_frequencies_hz=(-1.0,))
    # Just below the limit, and a static grating, are fine.
    check_sampling((0.5,), (6.2, 0.0), 112, 8.0, 12.5)
    # 32 px over 8 deg: 4 px/deg, so 2 cycles/deg is the spatial limit.
    with pytest.raises(StimulusError, match="Nyquist"):
        drifting_gratings(size=32, field_of_view_deg=8.0, spatial_frequencies_cpd=(2.0,))
    check_sampling((1.99,), (1.0,), 32, 8.0, 12.5)
    with pytest.raises(StimulusError, match="Nyquist"):
        check_sampling((0.0,), (1.0,), 32, 8.0, 12.5)
    with pytest.raises(StimulusError, match="must be positive"):
        check_sampling((0.5,), (1.0,), 32, 8.0, 0.0)


def test_other_bad_parameters_are_refused():
    with pytest.raises(StimulusError, match="contrasts"):
        drifting_gratings(contrasts=(1.5,))
    with pytest.raises(StimulusError, match="directions"):
        drifting_gratings(directions=0)
    with pytest.raises(StimulusError, match="no stimuli"):
        drifting_gratings(phases_deg=(), blank=False)


def test_pixel_degrees_run_right_and_up_from_the_centre():
    x, y = pixel_degrees(4, 8.0)
    assert x.shape == y.shape == (4, 4)
    assert list(x[0]) == [-3.0, -1.0, 1.0, 3.0]  # columns rightward, 2 deg a pixel
    assert list(y[:, 0]) == [3.0, 1.0, -1.0, -3.0]  # the top row is up
    assert (x == x[0]).all() and (y.T == y[:, 0]).all()


def test_render_gratings_sums_components_into_a_plaid():
    args = dict(frames=3, size=48, field_of_view_deg=6.0, frame_rate_hz=RATE)
    a = Grating(30.0, 1.0, 2.0, phase_deg=45.0, amplitude=0.5)
    b = (150.0, 1.0, 2.0, 0.0, 0.5)  # a plain tuple works too
    plaid = render_gratings([a, b], **args).astype(float)
    # Each component alone, at amplitude 1 and contrast 0.5, is half of the plaid's signal.
    alone = [
        render_gratings([g], **args, contrast=0.5).astype(float)
        for g in (a._replace(amplitude=1), Grating(*b)._replace(amplitude=1))
    ]
    assert np.abs(plaid - (alone[0] + alone[1] - 127.5)).max() <= 1.5
    # The plaid is the analytic sum at every pixel.
    x, y = pixel_degrees(48, 6.0)
    t = np.arange(3)[:, None, None] / RATE
    signal = sum(
        0.5
        * np.cos(
            2 * np.pi * (1.0 * (x * np.cos(np.deg2rad(d)) + y * np.sin(np.deg2rad(d))) - 2.0 * t)
            + np.deg2rad(ph)
        )
        for d, ph in ((30.0, 45.0), (150.0, 0.0))
    )
    assert np.abs(plaid[..., 0] - 127.5 * (1 + signal)).max() <= 0.5
    assert (render_gratings([], **args) == 128).all()


def test_table_round_trip_through_csv_and_json(tmp_path):
    s = drifting_gratings(
        frames=2,
        size=16,
        directions=3,
        spatial_frequencies_cpd=(0.3,),
        temporal_frequencies_hz=(1.0, 2.5),
        field_of_view_deg=4.0,
    )
    written = s.write_table(tmp_path)
    assert [p.name for p in written] == ["stimuli.csv", "stimuli.json"]
    table, geometry = read_table(tmp_path)
    assert list(table) == list(s.table)
    for column, values in s.table.items():
        assert table[column].dtype == values.dtype
        assert np.array_equal(table[column], values, equal_nan=values.dtype.kind == "f")
    assert geometry == s.geometry()
    with open(tmp_path / "stimuli.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(s)
    assert rows[1]["direction_deg"] == "0.0" and rows[1]["temporal_frequency_hz"] == "2.5"
    assert float(rows[2]["direction_deg"]) == 120.0
    assert rows[-1]["blank"] == "True" and rows[-1]["direction_deg"] == ""
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary files left behind


def test_unreadable_tables_and_bad_sets_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no stimulus table"):
        read_table(tmp_path)
    (tmp_path / "stimuli.json").write_text('{"name": "x"}')
    with pytest.raises(StimulusError, match="not a stimulus table"):
        read_table(tmp_path)
    clips = np.zeros((2, 1, 4, 4, 3), np.uint8)
    geometry = dict(frames=1, size=4, frame_rate_hz=1.0, field_of_view_deg=1.0)
    with pytest.raises(StimulusError, match="rows"):
        StimulusSet("s", clips, {"a": np.zeros(3)}, **geometry)
    with pytest.raises(StimulusError, match="uint8"):
        StimulusSet("s", clips.astype(float), {"a": np.zeros(2)}, **geometry)
    with pytest.raises(StimulusError, match="uint8"):
        StimulusSet("s", clips[:, :, :3], {"a": np.zeros(2)}, **geometry)
