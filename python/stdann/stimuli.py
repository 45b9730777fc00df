"""Visual stimuli for a clip-shaped network: drifting sinusoidal gratings.

Every stimulus set is rendered as uint8 RGB clips (N, T, H, W, 3), grey, and
reaches the network through `stdann.model.inputs.clips_to_input`, the same
conversion training batches take. A set carries a table of its parameters
(one row per clip) and the geometry it was rendered under.

Conventions:

- The clip covers `field_of_view_deg` degrees of visual field across its
  width (and height: clips are square), and its frames follow each other at
  `frame_rate_hz` (a 25 fps video read at frame stride 2 is 12.5 Hz).
- Direction 0 deg is motion to the right (+x, increasing column); 90 deg is
  motion upward on the screen (decreasing row); directions turn
  counter-clockwise as seen by the viewer.
- A grating of spatial frequency f (cycles/deg) and temporal frequency w (Hz)
  drifts at w / f deg/s; luminance is 127.5 (1 + c sum_k a_k cos(2 pi (f_k
  (x cos theta_k + y sin theta_k) - w_k t) + phi_k)) with x rightward and y
  upward in degrees from the centre, t in seconds.
- The blank is a mean-grey clip, for the response baseline.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stdann.atomic import atomic_write_text

#: Columns of every grating table, in order.
GRATING_COLUMNS = (
    "direction_deg",
    "spatial_frequency_cpd",
    "temporal_frequency_hz",
    "speed_deg_per_s",
    "phase_deg",
    "contrast",
    "blank",
)


@dataclass
class StimulusSet:
    """Clips (N, T, H, W, 3) uint8, a table of their parameters, and the geometry."""

    name: str
    clips: np.ndarray
    table: dict[str, np.ndarray]
    frames: int
    size: int
    frame_rate_hz: float
    field_of_view_deg: float
    columns: tuple[str, ...] = field(default=GRATING_COLUMNS)

    def __post_init__(self) -> None:
        n = len(self.clips)
        if self.clips.dtype != np.uint8 or self.clips.shape[1:] != (
            self.frames,
            self.size,
            self.size,
            3,
        ):
            raise ValueError(
                f"{self.name}: clips must be uint8 (N, {self.frames}, {self.size}, {self.size}, 3), "
                f"got {self.clips.dtype} {self.clips.shape}"
            )
        bad = {k: len(v) for k, v in self.table.items() if len(v) != n}
        if bad:
            raise ValueError(f"{self.name}: table columns {bad} do not have {n} rows")

    def __len__(self) -> int:
        return len(self.clips)

    def geometry(self) -> dict[str, float | int | str]:
        return {
            "name": self.name,
            "frames": self.frames,
            "size": self.size,
            "frame_rate_hz": self.frame_rate_hz,
            "field_of_view_deg": self.field_of_view_deg,
        }

    def write_table(self, folder: str | Path) -> list[Path]:
        """stimuli.csv (one row per clip) and stimuli.json (the columns and the geometry)."""
        folder = Path(folder)
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(self.columns)
        for i in range(len(self)):
            writer.writerow(
                ["" if (v := _plain(self.table[c][i])) is None else v for c in self.columns]
            )
        record = {
            **self.geometry(),
            "columns": {c: [_plain(v) for v in self.table[c]] for c in self.columns},
        }
        return [
            atomic_write_text(folder / "stimuli.csv", text.getvalue()),
            atomic_write_text(folder / "stimuli.json", json.dumps(record, indent=1) + "\n"),
        ]


def _plain(value):
    """A table value as plain JSON data: NaN (no value, as a blank's direction) is None."""
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def read_table(folder: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """The table and the geometry written by `StimulusSet.write_table`."""
    path = Path(folder) / "stimuli.json"
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"'{path}': no stimulus table") from None
    columns = record.pop("columns")
    table = {k: np.asarray([np.nan if x is None else x for x in v]) for k, v in columns.items()}
    return table, record


def pixel_degrees(size: int, field_of_view_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """x (rightward) and y (upward) in degrees from the clip's centre, per pixel (H, W)."""
    step = field_of_view_deg / size
    centres = (np.arange(size) + 0.5 - size / 2) * step
    return np.meshgrid(centres, -centres)  # rows run downward, y upward


def render_gratings(
    components: Sequence[tuple[float, float, float, float, float]],
    frames: int,
    size: int,
    field_of_view_deg: float,
    frame_rate_hz: float,
    contrast: float = 1.0,
) -> np.ndarray:
    """Grey uint8 clip (T, H, W, 3) of a sum of drifting gratings.

    Each component is (direction_deg, spatial_frequency_cpd,
    temporal_frequency_hz, phase_deg, amplitude); the amplitudes of a plaid's
    components should sum to at most 1 so that contrast 1 stays in range.
    """
    x, y = pixel_degrees(size, field_of_view_deg)
    t = np.arange(frames)[:, None, None] / frame_rate_hz
    signal = np.zeros((frames, size, size))
    for direction, sf, tf, phase, amplitude in components:
        theta = np.deg2rad(direction)
        position = x * np.cos(theta) + y * np.sin(theta)
        signal += amplitude * np.cos(2 * np.pi * (sf * position[None] - tf * t) + np.deg2rad(phase))
    luminance = np.clip(np.rint(127.5 * (1 + contrast * signal)), 0, 255).astype(np.uint8)
    return np.repeat(luminance[..., None], 3, axis=-1)


def _check_frequencies(
    sfs: Sequence[float], tfs: Sequence[float], size: int, fov: float, rate: float
) -> None:
    spatial_nyquist = size / (2 * fov)
    for sf in sfs:
        if not 0 < sf < spatial_nyquist:
            raise ValueError(
                f"spatial frequency {sf} cycles/deg is not below the clip's Nyquist limit "
                f"{spatial_nyquist:.3g} ({size} px over {fov} deg)"
            )
    for tf in tfs:
        if not 0 <= tf < rate / 2:
            raise ValueError(
                f"temporal frequency {tf} Hz is not below half the frame rate ({rate} Hz): "
                "the drift direction would be ambiguous (aliasing)"
            )


def drifting_gratings(
    frames: int = 16,
    size: int = 112,
    directions: int = 16,
    spatial_frequencies_cpd: Sequence[float] = (0.5, 1.0),
    temporal_frequencies_hz: Sequence[float] = (2.0, 4.0),
    phases_deg: Sequence[float] = (0.0,),
    contrasts: Sequence[float] = (1.0,),
    field_of_view_deg: float = 8.0,
    frame_rate_hz: float = 12.5,
    blank: bool = True,
) -> StimulusSet:
    """Full-field sinusoidal gratings drifting in `directions` evenly spaced directions,
    at every combination of spatial and temporal frequency, phase and contrast,
    and a mean-grey blank last.

    The defaults suit 16-frame 112-px clips of 25 fps video at stride 2: 8 deg
    across the clip (14 px/deg) puts 4 and 8 cycles of the two spatial
    frequencies across it, and 2-4 Hz at 12.5 Hz is 0.16-0.32 cycles a frame,
    well below the aliasing limit of 0.5.
    """
    if directions < 1:
        raise ValueError("directions must be >= 1")
    _check_frequencies(
        spatial_frequencies_cpd, temporal_frequencies_hz, size, field_of_view_deg, frame_rate_hz
    )
    rows = list(
        itertools.product(
            np.arange(directions) * 360.0 / directions,
            spatial_frequencies_cpd,
            temporal_frequencies_hz,
            phases_deg,
            contrasts,
        )
    )
    clips = [
        render_gratings(
            [(d, sf, tf, ph, 1.0)], frames, size, field_of_view_deg, frame_rate_hz, contrast=c
        )
        for d, sf, tf, ph, c in rows
    ]
    table = {
        "direction_deg": [r[0] for r in rows],
        "spatial_frequency_cpd": [r[1] for r in rows],
        "temporal_frequency_hz": [r[2] for r in rows],
        "speed_deg_per_s": [r[2] / r[1] for r in rows],
        "phase_deg": [r[3] for r in rows],
        "contrast": [r[4] for r in rows],
        "blank": [False] * len(rows),
    }
    if blank:
        clips.append(np.full((frames, size, size, 3), 128, dtype=np.uint8))
        for k, nan_or_zero in (
            ("direction_deg", np.nan),
            ("spatial_frequency_cpd", np.nan),
            ("temporal_frequency_hz", np.nan),
            ("speed_deg_per_s", np.nan),
            ("phase_deg", np.nan),
            ("contrast", 0.0),
        ):
            table[k].append(nan_or_zero)
        table["blank"].append(True)
    return StimulusSet(
        name="drifting_gratings",
        clips=np.stack(clips),
        table={k: np.asarray(v) for k, v in table.items()},
        frames=frames,
        size=size,
        frame_rate_hz=frame_rate_hz,
        field_of_view_deg=field_of_view_deg,
    )
