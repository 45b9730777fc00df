"""Visual stimuli for a clip-shaped network: drifting sinusoidal gratings.

Every stimulus set is rendered as grey uint8 RGB clips (N, T, H, W, 3) and
reaches the network through `stdann.model.inputs.clips_to_input`, the same
conversion training batches take; stimuli are never normalised on their own.
A set carries a table of its parameters (one row per clip) and the geometry
it was rendered under.

Conventions:

- A clip covers `field_of_view_deg` degrees of visual field across its width
  (and its height: clips are square), and its frames follow each other at
  `frame_rate_hz`, the rate of the clip as the model sees it (a 25 fps video
  read at frame stride 2 is 12.5 Hz).
- Positions are in degrees from the clip's centre, x rightward (increasing
  column) and y upward (decreasing row).
- Direction 0 deg is motion to the right (+x); 90 deg is motion upward on the
  screen; directions turn counter-clockwise as seen by the viewer.
- A grating of spatial frequency f (cycles/deg), temporal frequency w (Hz),
  direction theta and phase phi is cos(2 pi (f (x cos theta + y sin theta) - w t) + phi):
  its crests move along (cos theta, sin theta) at the speed w / f deg/s.
- Luminance is 127.5 (1 + c sum_k a_k g_k) for gratings g_k of amplitudes a_k,
  so that c is the Michelson contrast (L_max - L_min) / (L_max + L_min)
  (Michelson 1927) of a single grating of amplitude 1, rounded to uint8.
- The blank is a mean-grey clip (every pixel 128, the rounded mean), for the
  response baseline; its table row has contrast 0 and NaN where a grating
  parameter has no value.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from stdann.atomic import atomic_write_text

#: Columns of a grating table, in order.
GRATING_COLUMNS = (
    "direction_deg",
    "spatial_frequency_cpd",
    "temporal_frequency_hz",
    "speed_deg_per_s",
    "phase_deg",
    "contrast",
    "blank",
)

#: File names of a written stimulus table.
TABLE_CSV = "stimuli.csv"
TABLE_JSON = "stimuli.json"


class StimulusError(ValueError):
    """Stimulus parameters that cannot be rendered, or a stimulus table that cannot be read."""


class Grating(NamedTuple):
    """One drifting sinusoidal component of a stimulus (a plaid has two)."""

    direction_deg: float
    spatial_frequency_cpd: float
    temporal_frequency_hz: float
    phase_deg: float = 0.0
    amplitude: float = 1.0


@dataclass
class StimulusSet:
    """Clips (N, T, H, W, 3) uint8, a table of their parameters, and the geometry.

    `table` maps a column name to a 1-D array of N values, one per clip, in
    the clips' order; columns are written in the dict's order.
    """

    name: str
    clips: np.ndarray
    table: dict[str, np.ndarray]
    frames: int
    size: int
    frame_rate_hz: float
    field_of_view_deg: float

    def __post_init__(self) -> None:
        shape = (self.frames, self.size, self.size, 3)
        if (
            not isinstance(self.clips, np.ndarray)
            or self.clips.dtype != np.uint8
            or self.clips.ndim != 5
            or self.clips.shape[1:] != shape
        ):
            got = getattr(self.clips, "dtype", type(self.clips).__name__)
            raise StimulusError(
                f"{self.name}: clips must be uint8 (N, {', '.join(map(str, shape))}), "
                f"got {got} {getattr(self.clips, 'shape', '')}"
            )
        n = len(self.clips)
        self.table = {k: np.asarray(v) for k, v in self.table.items()}
        bad = {k: v.shape for k, v in self.table.items() if v.shape != (n,)}
        if bad:
            raise StimulusError(f"{self.name}: table columns {bad} are not 1-D with {n} rows")

    def __len__(self) -> int:
        return len(self.clips)

    def geometry(self) -> dict[str, float | int | str]:
        """The set's name and the geometry its clips were rendered under."""
        return {
            "name": self.name,
            "frames": self.frames,
            "size": self.size,
            "frame_rate_hz": self.frame_rate_hz,
            "field_of_view_deg": self.field_of_view_deg,
        }

    def write_table(self, folder: str | Path) -> list[Path]:
        """stimuli.csv (one row per clip, NaN as an empty field) and stimuli.json
        (the columns, their dtypes and the geometry), each written atomically.

        `read_table` reads the JSON back exactly; the CSV is for people and
        spreadsheets.
        """
        folder = Path(folder)
        columns = list(self.table)
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(columns)
        for i in range(len(self)):
            writer.writerow(["" if (v := _plain(self.table[c][i])) is None else v for c in columns])
        record = {
            **self.geometry(),
            "dtypes": {c: self.table[c].dtype.str for c in columns},
            "columns": {c: [_plain(v) for v in self.table[c]] for c in columns},
        }
        return [
            atomic_write_text(folder / TABLE_CSV, text.getvalue()),
            atomic_write_text(folder / TABLE_JSON, json.dumps(record, indent=1) + "\n"),
        ]


def _plain(value: object) -> object:
    """A table value as plain JSON data: NaN (no value, as a blank's direction) is None."""
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def read_table(folder: str | Path) -> tuple[dict[str, np.ndarray], dict[str, float | int | str]]:
    """(table, geometry) of a folder written by `StimulusSet.write_table`.

    The columns come back with the dtypes and values they were written with
    (NaN included).
    """
    path = Path(folder) / TABLE_JSON
    try:
        record = json.loads(path.read_text())
        columns = record.pop("columns")
        dtypes = record.pop("dtypes")
        table = {
            name: np.asarray(
                [np.nan if v is None else v for v in values], dtype=np.dtype(dtypes[name])
            )
            for name, values in columns.items()
        }
    except FileNotFoundError:
        raise FileNotFoundError(
            f"'{path}': no stimulus table (write one with StimulusSet.write_table)"
        ) from None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise StimulusError(f"'{path}': not a stimulus table ({type(e).__name__}: {e})") from None
    return table, record


def pixel_degrees(size: int, field_of_view_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """x (rightward) and y (upward) in degrees from the clip's centre, at each
    pixel's centre: two (size, size) arrays indexed [row, column]."""
    step = field_of_view_deg / size
    centres = (np.arange(size) + 0.5 - size / 2) * step
    x, y = np.meshgrid(centres, -centres)  # rows run downward, y upward
    return x, y


def render_gratings(
    components: Sequence[Grating | tuple[float, ...]],
    frames: int,
    size: int,
    field_of_view_deg: float,
    frame_rate_hz: float,
    contrast: float = 1.0,
) -> np.ndarray:
    """Grey uint8 clip (T, H, W, 3) of a sum of drifting gratings (module conventions).

    Each component is a `Grating` (or a tuple of its fields). Luminance is
    127.5 (1 + contrast * sum of amplitude * grating), clipped to 0-255: the
    amplitudes of a plaid's components should sum to at most 1 for it to stay
    in range. No components give the mean-grey blank.
    """
    x, y = pixel_degrees(size, field_of_view_deg)
    t = np.arange(frames)[:, None, None] / frame_rate_hz
    signal = np.zeros((frames, size, size))
    for component in components:
        g = Grating(*component)
        theta = np.deg2rad(g.direction_deg)
        position = x * np.cos(theta) + y * np.sin(theta)
        cycles = g.spatial_frequency_cpd * position[None] - g.temporal_frequency_hz * t
        signal += g.amplitude * np.cos(2 * np.pi * cycles + np.deg2rad(g.phase_deg))
    luminance = np.clip(np.rint(127.5 * (1 + contrast * signal)), 0, 255).astype(np.uint8)
    return np.repeat(luminance[..., None], 3, axis=-1)


def check_sampling(
    spatial_frequencies_cpd: Sequence[float],
    temporal_frequencies_hz: Sequence[float],
    size: int,
    field_of_view_deg: float,
    frame_rate_hz: float,
) -> None:
    """Raise StimulusError unless every frequency is below its Nyquist limit.

    A temporal frequency at or above half the frame rate moves the phase by
    half a cycle or more a frame, so the drift direction is ambiguous
    (aliasing); a spatial frequency at or above half the pixels per degree
    cannot be drawn.
    """
    if size < 1 or field_of_view_deg <= 0 or frame_rate_hz <= 0:
        raise StimulusError(
            f"size ({size} px), field of view ({field_of_view_deg} deg) and frame rate "
            f"({frame_rate_hz} Hz) must be positive"
        )
    spatial_nyquist = size / (2 * field_of_view_deg)
    for sf in spatial_frequencies_cpd:
        if not 0 < sf < spatial_nyquist:
            raise StimulusError(
                f"spatial frequency {sf} cycles/deg is not between 0 and the clip's Nyquist "
                f"limit {spatial_nyquist:.4g} ({size} px over {field_of_view_deg} deg)"
            )
    for tf in temporal_frequencies_hz:
        if not 0 <= tf < frame_rate_hz / 2:
            raise StimulusError(
                f"temporal frequency {tf} Hz is not below half the frame rate "
                f"({frame_rate_hz} Hz / 2 = {frame_rate_hz / 2} Hz): the drift direction "
                "would be ambiguous (aliasing); lower it or raise frame_rate_hz"
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
    """Full-field sinusoidal gratings drifting in `directions` evenly spaced
    directions (0, 360/directions, ... deg; module conventions), at every
    combination of spatial and temporal frequency, phase and contrast, in
    that nesting order, and a mean-grey blank last when `blank`.

    Defaults suit 16-frame 112-px clips of 25 fps video at stride 2 (12.5 Hz):
    8 deg across the clip is the visual field TDANN gives its whole input
    (spacetorch/constants.py, DVA_PER_IMAGE = 8.0; its sheet sizes assume
    the central 8 deg), here 14 px/deg. At 0.5 and 1 cycles/deg that is 4 and
    8 cycles across the clip (28 and 14 px a cycle, 3.5 and 1.75 of layer3's
    8-px units); 2 and 4 Hz move 0.16 and 0.32 cycles a frame, well below the
    aliasing limit of 0.5, for speeds of 2-8 deg/s. Frequencies at or above a
    Nyquist limit raise StimulusError (a ValueError).
    """
    if frames < 1 or directions < 1:
        raise StimulusError(f"frames ({frames}) and directions ({directions}) must be >= 1")
    if not all(0 <= c <= 1 for c in contrasts):
        raise StimulusError(f"contrasts must lie in [0, 1], got {tuple(contrasts)}")
    check_sampling(
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
    if not rows and not blank:
        raise StimulusError("no stimuli: give at least one value of every parameter, or blank")
    clips = [
        render_gratings(
            [Grating(d, sf, tf, ph)], frames, size, field_of_view_deg, frame_rate_hz, contrast=c
        )
        for d, sf, tf, ph, c in rows
    ]
    table: dict[str, list] = {
        "direction_deg": [r[0] for r in rows],
        "spatial_frequency_cpd": [r[1] for r in rows],
        "temporal_frequency_hz": [r[2] for r in rows],
        "speed_deg_per_s": [r[2] / r[1] for r in rows],
        "phase_deg": [r[3] for r in rows],
        "contrast": [r[4] for r in rows],
        "blank": [False] * len(rows),
    }
    if blank:
        clips.append(render_gratings([], frames, size, field_of_view_deg, frame_rate_hz))
        for column in GRATING_COLUMNS[:-2]:
            table[column].append(np.nan)
        table["contrast"].append(0.0)
        table["blank"].append(True)
    return StimulusSet(
        name="drifting_gratings",
        clips=np.stack(clips),
        table={
            k: np.asarray(v, dtype=bool if k == "blank" else np.float64) for k, v in table.items()
        },
        frames=frames,
        size=size,
        frame_rate_hz=frame_rate_hz,
        field_of_view_deg=field_of_view_deg,
    )
