"""Visual stimuli for a clip-shaped network: drifting sinusoidal gratings,
plaids and random-dot kinematograms.

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
  parameter has no value. Every set's blank is this same clip.
- A plaid is two gratings of the same spatial and temporal frequency whose
  directions are the plaid's direction plus and minus half the plaid angle.
  Its pattern moves in the plaid's direction at tf / (sf cos(angle / 2)) deg/s
  (the intersection of constraints), faster than either component.
- In every table, `direction_deg` and `speed_deg_per_s` are the direction and
  speed of the motion as a whole: a grating's drift, a plaid's pattern, the
  coherent dots' motion.
- Random dots are white (255) discs on the mean grey (128) of the blank, so
  that the baseline clip is the same for every set; see `random_dot_paths`
  and `render_dots` for their motion and drawing.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from stdann.atomic import atomic_write_text
from stdann.errors import StdannError

if TYPE_CHECKING:
    from stdann.config import Config

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


class StimulusError(StdannError, ValueError):
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
    return _stimulus_set(
        "drifting_gratings",
        clips,
        table,
        {"contrast": 0.0} if blank else None,
        frames,
        size,
        field_of_view_deg,
        frame_rate_hz,
    )


def _stimulus_set(
    name: str,
    clips: list[np.ndarray],
    table: dict[str, list],
    blank_row: dict[str, float] | None,
    frames: int,
    size: int,
    field_of_view_deg: float,
    frame_rate_hz: float,
) -> StimulusSet:
    """A set of `clips` and their `table`, with the mean-grey blank last unless
    `blank_row` is None: the blank's row has the values of `blank_row`, True in
    `blank` and NaN in every other column. `blank` is bool, the rest float64."""
    if blank_row is not None:
        clips.append(render_gratings([], frames, size, field_of_view_deg, frame_rate_hz))
        for column, values in table.items():
            values.append(True if column == "blank" else blank_row.get(column, np.nan))
    return StimulusSet(
        name=name,
        clips=np.stack(clips),
        table={
            k: np.asarray(v, dtype=bool if k == "blank" else np.float64) for k, v in table.items()
        },
        frames=frames,
        size=size,
        frame_rate_hz=frame_rate_hz,
        field_of_view_deg=field_of_view_deg,
    )


def _check_counts(frames: int, directions: int) -> None:
    if frames < 1 or directions < 1:
        raise StimulusError(f"frames ({frames}) and directions ({directions}) must be >= 1")


def plaids(
    frames: int = 16,
    size: int = 112,
    directions: int = 16,
    plaid_angle_deg: float = 120.0,
    spatial_frequencies_cpd: Sequence[float] = (0.5, 1.0),
    temporal_frequencies_hz: Sequence[float] = (2.0, 4.0),
    phases_deg: Sequence[float] = (0.0,),
    contrast: float = 1.0,
    field_of_view_deg: float = 8.0,
    frame_rate_hz: float = 12.5,
    blank: bool = True,
) -> StimulusSet:
    """Full-field plaids moving in `directions` evenly spaced directions
    (0, 360/directions, ... deg), at every combination of the components'
    spatial and temporal frequency and phase, in that nesting order, and a
    mean-grey blank last when `blank`.

    Each plaid is two gratings (`render_gratings`) of amplitude 1/2 whose
    directions are the plaid's direction -+ plaid_angle_deg / 2, with the same
    frequencies and phase; the half amplitudes keep the sum in range, so the
    plaid's Michelson contrast is `contrast` and each component's is half of
    it. The table holds the plaid's direction (`direction_deg`), the plaid
    angle, the components' frequencies, their speed tf / sf
    (`component_speed_deg_per_s`), the pattern's speed tf / (sf cos(angle / 2))
    (`speed_deg_per_s`), the phase and the contrast. The plaid angle must lie
    strictly between 0 (one grating) and 180 deg (two opposite gratings: a
    counterphase grating with no pattern motion); the components' frequencies
    must be below their Nyquist limits (`check_sampling`), which keeps the
    pattern's drift unambiguous too. Defaults are those of `drifting_gratings`
    for the components.
    """
    _check_counts(frames, directions)
    if not 0 < plaid_angle_deg < 180:
        raise StimulusError(
            f"plaid angle {plaid_angle_deg} deg must lie strictly between 0 (the two components "
            "coincide) and 180 (they are opposite: no pattern motion)"
        )
    if not 0 <= contrast <= 1:
        raise StimulusError(f"contrast must lie in [0, 1], got {contrast}")
    check_sampling(
        spatial_frequencies_cpd, temporal_frequencies_hz, size, field_of_view_deg, frame_rate_hz
    )
    half_angle = plaid_angle_deg / 2
    rows = list(
        itertools.product(
            np.arange(directions) * 360.0 / directions,
            spatial_frequencies_cpd,
            temporal_frequencies_hz,
            phases_deg,
        )
    )
    clips = [
        render_gratings(
            [Grating(d - half_angle, sf, tf, ph, 0.5), Grating(d + half_angle, sf, tf, ph, 0.5)],
            frames,
            size,
            field_of_view_deg,
            frame_rate_hz,
            contrast=contrast,
        )
        for d, sf, tf, ph in rows
    ]
    cos_half = np.cos(np.deg2rad(half_angle))
    table: dict[str, list] = {
        "direction_deg": [r[0] for r in rows],
        "plaid_angle_deg": [plaid_angle_deg] * len(rows),
        "spatial_frequency_cpd": [r[1] for r in rows],
        "temporal_frequency_hz": [r[2] for r in rows],
        "component_speed_deg_per_s": [r[2] / r[1] for r in rows],
        "speed_deg_per_s": [r[2] / (r[1] * cos_half) for r in rows],
        "phase_deg": [r[3] for r in rows],
        "contrast": [contrast] * len(rows),
        "blank": [False] * len(rows),
    }
    return _stimulus_set(
        "plaids",
        clips,
        table,
        {"contrast": 0.0} if blank else None,
        frames,
        size,
        field_of_view_deg,
        frame_rate_hz,
    )


class DotPaths(NamedTuple):
    """Where every dot of a random-dot kinematogram is on every frame.

    positions_deg: (T, N, 2) x, y in degrees from the clip's centre, wrapped
    into [-torus/2, torus/2). coherent: (N,) bool, the dots that move in the
    kinematogram's direction. replotted: (T, N) bool, True where a dot was put
    down afresh at a random place (every dot on frame 0) instead of moving
    there. step_direction_deg: (T, N), the direction of the step that brought
    each dot to frame t, NaN where it was replotted. torus_deg: the side of
    the square torus, centred on the clip's centre, that the dots move on and
    wrap around; the clip shows its middle field_of_view_deg (None: the torus
    is the visible field itself).
    """

    positions_deg: np.ndarray
    coherent: np.ndarray
    replotted: np.ndarray
    step_direction_deg: np.ndarray
    torus_deg: float | None = None


def check_dot_motion(
    speed_deg_per_s: float, field_of_view_deg: float, frame_rate_hz: float
) -> None:
    """Raise StimulusError unless a dot's step per frame is >= 0 and below the field.

    Dots move on a torus larger than the visible field (`random_dot_paths`),
    so no step aliases through the wrap; but a dot stepping the whole visible
    field or more a frame is never seen on two frames, and the clip holds no
    motion at all. `dot_motion_limits` states the lower limits that matter
    before this one.
    """
    if field_of_view_deg <= 0 or frame_rate_hz <= 0:
        raise StimulusError(
            f"field of view ({field_of_view_deg} deg) and frame rate ({frame_rate_hz} Hz) "
            "must be positive"
        )
    step = speed_deg_per_s / frame_rate_hz
    if not 0 <= step < field_of_view_deg:
        raise StimulusError(
            f"speed {speed_deg_per_s} deg/s moves a dot {step:.4g} deg a frame at "
            f"{frame_rate_hz} Hz, not between 0 and the whole field ({field_of_view_deg} deg): "
            "no dot would be seen on two frames; lower the speed or raise frame_rate_hz"
        )


def dot_motion_limits(
    field_of_view_deg: float,
    frame_rate_hz: float,
    frames: int,
    density_dots_per_deg2: float,
    lifetime_frames: int,
    speeds_deg_per_s: Sequence[float] = (),
) -> dict[str, object]:
    """What a random-dot clip can show, as plain JSON data, for the report to
    set beside the speeds it used.

    - `step_deg_per_frame`: each of `speeds_deg_per_s` / frame rate, the
      distance a dot moves between frames (`step_deg_per_frame_per_deg_per_s`
      is 1 / frame rate);
    - `field_crossing_in_lifetime_deg_per_s`: the speed at which a dot crosses
      the whole visible field within its life, field * rate / (L - 1), L the
      lifetime in frames (or the clip's frames, if fewer): a dot makes L - 1
      steps. Faster, no dot is seen at both edges;
    - `field_crossing_in_clip_deg_per_s`: the same within the clip's
      frames - 1 steps; None for a one-frame clip;
    - `field_crossing_in_one_frame_deg_per_s`: field * rate, where a dot is
      never seen on two frames: `check_dot_motion` refuses it and faster;
    - `mean_dot_spacing_deg`: 1 / sqrt(density), the side of the area per dot;
    - `half_spacing_speed_deg_per_s`: rate / (2 sqrt(density)), the speed above
      which the step exceeds half the mean spacing, which is also the mean
      distance from a point to its nearest dot for randomly placed dots
      (Clark & Evans 1954): faster, the dot nearest a dot's new place is, on
      average, another dot, so matching each dot to its nearest one on the
      next frame becomes ambiguous;
    - `explanations`: one line for each of these.

    The defaults of `random_dots` (8 deg, 12.5 Hz, 16 frames, 1 dot/deg^2,
    lifetime 8) give 0.08 deg a frame per deg/s, crossings at 100 / 7 = 14.3
    deg/s (lifetime), 100 / 15 = 6.67 deg/s (clip) and 100 deg/s (one frame),
    and half the spacing (0.5 deg) stepped at 6.25 deg/s.
    """
    if field_of_view_deg <= 0 or frame_rate_hz <= 0 or density_dots_per_deg2 <= 0:
        raise StimulusError(
            f"field of view ({field_of_view_deg} deg), frame rate ({frame_rate_hz} Hz) and "
            f"density ({density_dots_per_deg2} dots/deg^2) must be positive"
        )
    if int(frames) != frames or frames < 1:
        raise StimulusError(f"frames must be a whole number >= 1, got {frames}")
    if int(lifetime_frames) != lifetime_frames or lifetime_frames < 2:
        raise StimulusError(
            f"lifetime must be a whole number of frames >= 2, got {lifetime_frames}"
        )
    field, rate = float(field_of_view_deg), float(frame_rate_hz)
    life_steps = min(int(lifetime_frames), int(frames)) - 1
    clip_steps = int(frames) - 1
    spacing = 1 / np.sqrt(float(density_dots_per_deg2))
    return {
        "field_of_view_deg": field,
        "frame_rate_hz": rate,
        "frames": int(frames),
        "density_dots_per_deg2": float(density_dots_per_deg2),
        "lifetime_frames": int(lifetime_frames),
        "speeds_deg_per_s": [float(s) for s in speeds_deg_per_s],
        "step_deg_per_frame": [float(s) / rate for s in speeds_deg_per_s],
        "step_deg_per_frame_per_deg_per_s": 1 / rate,
        "field_crossing_in_lifetime_deg_per_s": field * rate / life_steps if life_steps else None,
        "field_crossing_in_clip_deg_per_s": field * rate / clip_steps if clip_steps else None,
        "field_crossing_in_one_frame_deg_per_s": field * rate,
        "mean_dot_spacing_deg": float(spacing),
        "half_spacing_speed_deg_per_s": float(rate * spacing / 2),
        "explanations": {
            "step_deg_per_frame": "distance a dot moves between frames: speed / frame rate",
            "field_crossing_in_lifetime_deg_per_s": (
                "faster than this a dot crosses the whole visible field within its lifetime "
                "(lifetime - 1 steps, at most the clip's)"
            ),
            "field_crossing_in_clip_deg_per_s": (
                "faster than this a dot crosses the whole visible field within the clip "
                "(frames - 1 steps)"
            ),
            "field_crossing_in_one_frame_deg_per_s": (
                "at or above this a dot crosses the field in one step and is never seen on "
                "two frames: refused"
            ),
            "mean_dot_spacing_deg": "1 / sqrt(density): the side of the area per dot",
            "half_spacing_speed_deg_per_s": (
                "above this a step exceeds half the mean dot spacing (the mean nearest-dot "
                "distance of random dots), so the nearest dot on the next frame is often "
                "another dot: frame-to-frame correspondence becomes ambiguous"
            ),
        },
    }


def random_dot_paths(
    frames: int,
    dots: int,
    direction_deg: float,
    speed_deg_per_s: float,
    coherence: float,
    lifetime_frames: int,
    field_of_view_deg: float,
    frame_rate_hz: float,
    rng: np.random.Generator,
    torus_deg: float | None = None,
) -> DotPaths:
    """The paths of `dots` dots of a limited-lifetime random-dot kinematogram.

    The first round(coherence * dots) dots are coherent: they step
    speed / frame_rate deg a frame in `direction_deg` (module conventions). The
    others are noise dots: each steps the same distance in a direction of its
    own, drawn uniformly when it is put down and kept for its life, so that
    noise and signal dots differ only in direction. Every dot lives
    `lifetime_frames` frames and is then put down at a uniformly random place
    (with a new noise direction); lives start at uniformly random ages, so the
    same share of dots is replotted on every frame.

    The dots move on a square torus of side `torus_deg` centred on the clip's
    centre (by default the field plus a step on either side), of which the
    clip shows the middle field_of_view_deg: a dot leaving the torus re-enters
    on the opposite side, outside the visible field. The torus must be at
    least the field plus one step, so that no dot seen on one frame is seen on
    the next after wrapping: every dot seen on two consecutive frames moved
    exactly its step, at any speed below the field per frame (no aliasing
    through the wrap). `dots` counts the dots on the whole torus. The draws
    from `rng` depend on the frames, dots and lifetime only, not on the
    direction, speed, coherence or torus.
    """
    if frames < 1 or dots < 1:
        raise StimulusError(f"frames ({frames}) and dots ({dots}) must be >= 1")
    if not 0 <= coherence <= 1:
        raise StimulusError(f"coherence must lie in [0, 1], got {coherence}")
    if int(lifetime_frames) != lifetime_frames or lifetime_frames < 2:
        raise StimulusError(
            f"lifetime {lifetime_frames} frames must be a whole number >= 2: a dot that lives "
            "one frame never moves"
        )
    check_dot_motion(speed_deg_per_s, field_of_view_deg, frame_rate_hz)
    step = speed_deg_per_s / frame_rate_hz
    torus = field_of_view_deg + 2 * step if torus_deg is None else float(torus_deg)
    if not torus >= field_of_view_deg + step:
        raise StimulusError(
            f"a torus of {torus_deg} deg is smaller than the field ({field_of_view_deg} deg) "
            f"plus a step ({step:.4g} deg): dots wrapping around it would be seen jumping "
            "across the field"
        )
    half = torus / 2
    coherent = np.arange(dots) < round(coherence * dots)
    lifetime = int(lifetime_frames)
    age = (rng.integers(0, lifetime, dots)[None] + np.arange(frames)[:, None]) % lifetime
    replotted = age == 0
    replotted[0] = True
    positions = np.empty((frames, dots, 2))
    step_direction = np.full((frames, dots), np.nan)
    noise_direction = np.zeros(dots)
    for t in range(frames):
        if t > 0:
            theta = np.where(coherent, direction_deg, noise_direction)
            rad = np.deg2rad(theta)
            moved = positions[t - 1] + step * np.stack([np.cos(rad), np.sin(rad)], axis=-1)
            positions[t] = (moved + half) % torus - half
            step_direction[t] = theta
        new = replotted[t]
        positions[t, new] = rng.uniform(-half, half, (int(new.sum()), 2))
        noise_direction[new] = rng.uniform(0, 360, int(new.sum()))
        step_direction[t, new] = np.nan
    return DotPaths(positions, coherent, replotted, step_direction, torus)


def render_dots(
    paths: DotPaths, size: int, field_of_view_deg: float, dot_radius_deg: float
) -> np.ndarray:
    """Grey uint8 clip (T, H, W, 3) of white dots on mean grey, drawn where `paths` puts them.

    Each dot is an anti-aliased disc of radius `dot_radius_deg` at its exact
    (sub-pixel) position: a pixel whose centre lies d pixels from the dot's
    centre is covered min(1, max(0, r + 1/2 - d)) for a radius of r pixels (a
    one-pixel ramp at the rim), so a dot moves smoothly rather than in whole
    pixels. Where dots overlap the larger cover wins, so the clip stays in
    range. Luminance is 128 + 127 * cover: 128 (the blank's grey) off the dots,
    255 on them. The clip shows the middle field_of_view_deg of the paths'
    torus, dots drawn wrapped on the torus: where the torus is the field, a
    dot at one edge shows at the other; on a larger torus, dots outside the
    field are not seen. A radius under half a pixel raises StimulusError: such
    a dot is smaller than a pixel.
    """
    if size < 1 or field_of_view_deg <= 0:
        raise StimulusError(
            f"size ({size} px) and field of view ({field_of_view_deg} deg) must be positive"
        )
    pixel_deg = field_of_view_deg / size
    radius = dot_radius_deg / pixel_deg
    if not radius >= 0.5:
        raise StimulusError(
            f"dot radius {dot_radius_deg} deg is under half a pixel ({pixel_deg / 2:.4g} deg at "
            f"{size} px over {field_of_view_deg} deg): the dots would be smaller than a pixel; "
            "raise dot_radius_deg or the clip size"
        )
    torus = field_of_view_deg if paths.torus_deg is None else float(paths.torus_deg)
    if not torus >= field_of_view_deg:
        raise StimulusError(
            f"the dots' torus ({torus} deg) is smaller than the field shown ({field_of_view_deg} deg)"
        )
    frames = paths.positions_deg.shape[0]
    reach = int(np.ceil(radius + 0.5))
    # Every dot and its copies one torus away, kept where they reach the field.
    shifts = torus * np.array([(i, j) for i in (-1, 0, 1) for j in (-1, 0, 1)])
    copies = paths.positions_deg[:, :, None, :] + shifts  # (T, N, 9, 2)
    near = np.all(np.abs(copies) < field_of_view_deg / 2 + (reach + 1) * pixel_deg, axis=-1)
    frame = np.nonzero(near)[0]
    x, y = copies[near][:, 0], copies[near][:, 1]
    # Pixel coordinates: column c and row r have their centres at c and r.
    column = x / pixel_deg + size / 2 - 0.5
    row = -y / pixel_deg + size / 2 - 0.5
    offsets = np.arange(-reach, reach + 1)
    d_row, d_column = (o.ravel() for o in np.meshgrid(offsets, offsets, indexing="ij"))
    rows = np.rint(row)[:, None].astype(np.int64) + d_row  # (M, K)
    columns = np.rint(column)[:, None].astype(np.int64) + d_column
    distance = np.hypot(rows - row[:, None], columns - column[:, None])
    cover = np.clip(radius + 0.5 - distance, 0.0, 1.0)
    inside = (rows >= 0) & (rows < size) & (columns >= 0) & (columns < size)
    frame = np.broadcast_to(frame[:, None], rows.shape)
    coverage = np.zeros((frames, size, size))
    np.maximum.at(coverage, (frame[inside], rows[inside], columns[inside]), cover[inside])
    luminance = np.rint(128 + 127 * coverage).astype(np.uint8)
    return np.repeat(luminance[..., None], 3, axis=-1)


def random_dots(
    frames: int = 16,
    size: int = 112,
    directions: int = 16,
    speeds_deg_per_s: Sequence[float] = (2.0, 4.0, 8.0),
    coherences: Sequence[float] = (1.0,),
    density_dots_per_deg2: float = 1.0,
    dot_radius_deg: float = 0.1,
    lifetime_frames: int = 8,
    seed: int = 0,
    field_of_view_deg: float = 8.0,
    frame_rate_hz: float = 12.5,
    blank: bool = True,
) -> StimulusSet:
    """Random-dot kinematograms moving in `directions` evenly spaced directions
    (0, 360/directions, ... deg), at every combination of speed and coherence,
    in that nesting order, and a mean-grey blank last when `blank`.

    White dots on mean grey (`render_dots`), a fraction `coherence` of them
    moving in the clip's direction at its speed and the rest in random
    directions of their own at the same speed, each living `lifetime_frames`
    frames (`random_dot_paths`). The dots move on a torus larger than the
    field by the set's largest step plus a dot's diameter on every side, so
    that no dot, not even the rim of one, is seen jumping through the wrap at
    any speed of the set; round(density * torus^2) dots keep the density on
    the visible field at `density_dots_per_deg2` (on average: the count seen
    varies from frame to frame). Every clip draws from numpy's
    default_rng(seed) afresh, so the dots start in the same places, live the
    same lives and the noise dots take the same directions in every clip of a
    set (the torus, and so the dots, depend on the set's fastest speed):
    clips differ only in direction, speed and coherence, and at coherence 0
    every direction gives the same clip. The table has direction_deg,
    speed_deg_per_s, coherence and blank (NaN for the blank's direction,
    speed and coherence).

    Defaults are choices, not measurements: speeds of 2-8 deg/s, the range of
    `drifting_gratings`' defaults; 1 dot/deg^2 of 0.1 deg radius (2.8 px across
    at 14 px/deg), 64 dots on average on the 8 deg field, cover about 3% of
    it; a lifetime of 8 frames is half a 16-frame clip, so an eighth of the
    dots is replotted each frame. `dot_motion_limits` states what such a clip
    can show at each speed. A step of the whole field or more a frame, a dot
    under a pixel, a lifetime under 2 frames or no dots at all raises
    StimulusError (a ValueError).
    """
    _check_counts(frames, directions)
    if int(seed) != seed or seed < 0:
        raise StimulusError(f"seed must be a whole number >= 0, got {seed}")
    if not round(density_dots_per_deg2 * field_of_view_deg**2) >= 1:
        raise StimulusError(
            f"density {density_dots_per_deg2} dots/deg^2 over a {field_of_view_deg} deg field "
            "gives no dots; raise the density"
        )
    for speed in speeds_deg_per_s:
        check_dot_motion(speed, field_of_view_deg, frame_rate_hz)
    if not all(0 <= c <= 1 for c in coherences):
        raise StimulusError(f"coherences must lie in [0, 1], got {tuple(coherences)}")
    largest_step = max(speeds_deg_per_s, default=0.0) / frame_rate_hz
    torus = field_of_view_deg + 2 * (largest_step + 2 * dot_radius_deg)
    dots = round(density_dots_per_deg2 * torus**2)
    rows = list(
        itertools.product(np.arange(directions) * 360.0 / directions, speeds_deg_per_s, coherences)
    )
    clips = [
        render_dots(
            random_dot_paths(
                frames,
                dots,
                d,
                speed,
                c,
                lifetime_frames,
                field_of_view_deg,
                frame_rate_hz,
                np.random.default_rng(int(seed)),
                torus_deg=torus,
            ),
            size,
            field_of_view_deg,
            dot_radius_deg,
        )
        for d, speed, c in rows
    ]
    table: dict[str, list] = {
        "direction_deg": [r[0] for r in rows],
        "speed_deg_per_s": [r[1] for r in rows],
        "coherence": [r[2] for r in rows],
        "blank": [False] * len(rows),
    }
    return _stimulus_set(
        "random_dots",
        clips,
        table,
        {} if blank else None,
        frames,
        size,
        field_of_view_deg,
        frame_rate_hz,
    )


# The stimulus sets of a config: one function per set, used by every stage
# that shows it (the recipe's swap stage and the analysis show the same gratings).


def grating_set(config: Config) -> StimulusSet:
    """The drifting gratings of `config.recipe.gratings` at the model's clip
    size, with a blank: the one grating set of a config. The recipe's swap
    stage optimises positions on the responses to it and `stdann analyze`
    measures tuning with it."""
    g = config.recipe.gratings
    return drifting_gratings(
        frames=config.data.frames,
        size=config.data.size,
        directions=g.directions,
        spatial_frequencies_cpd=tuple(g.spatial_frequencies_cpd),
        temporal_frequencies_hz=tuple(g.temporal_frequencies_hz),
        phases_deg=tuple(g.phases_deg),
        field_of_view_deg=g.field_of_view_deg,
        frame_rate_hz=g.frame_rate_hz,
        blank=True,
    )


def plaid_sets(config: Config) -> tuple[StimulusSet, StimulusSet]:
    """(plaids, component gratings) for the pattern/component analysis: plaids
    made of the grating set's own gratings (its directions, spatial and temporal
    frequencies and phases), each component at `analysis.plaid_component_contrast`
    (so the plaid's contrast is twice it), and those same gratings alone at the
    component contrast, which the plaids are compared with (Movshon, Adelson,
    Gizzi & Newsome 1985 compare a plaid with its components' gratings)."""
    g, a = config.recipe.gratings, config.analysis
    common = {
        "frames": config.data.frames,
        "size": config.data.size,
        "directions": g.directions,
        "spatial_frequencies_cpd": tuple(g.spatial_frequencies_cpd),
        "temporal_frequencies_hz": tuple(g.temporal_frequencies_hz),
        "phases_deg": tuple(g.phases_deg),
        "field_of_view_deg": g.field_of_view_deg,
        "frame_rate_hz": g.frame_rate_hz,
        "blank": True,
    }
    plaid = plaids(
        plaid_angle_deg=a.plaid_angle_deg, contrast=2 * a.plaid_component_contrast, **common
    )
    components = drifting_gratings(contrasts=(a.plaid_component_contrast,), **common)
    return plaid, components


#: The analysis's random dots: `random_dots`' defaults, named once for the limits.
ANALYSIS_DOT_DENSITY_PER_DEG2 = 1.0
ANALYSIS_DOT_LIFETIME_FRAMES = 8


def dot_limits(config: Config) -> dict[str, object]:
    """`dot_motion_limits` of the analysis's random dots (`dot_set`)."""
    g, a = config.recipe.gratings, config.analysis
    return dot_motion_limits(
        g.field_of_view_deg,
        g.frame_rate_hz,
        config.data.frames,
        ANALYSIS_DOT_DENSITY_PER_DEG2,
        ANALYSIS_DOT_LIFETIME_FRAMES,
        tuple(a.dot_speeds_deg_per_s),
    )


def dot_set(config: Config) -> StimulusSet:
    """Random-dot kinematograms of `config.analysis` in the grating set's
    directions, at the model's clip size and the gratings' field and frame rate
    (what such clips can show: `dot_limits`)."""
    g, a = config.recipe.gratings, config.analysis
    return random_dots(
        density_dots_per_deg2=ANALYSIS_DOT_DENSITY_PER_DEG2,
        lifetime_frames=ANALYSIS_DOT_LIFETIME_FRAMES,
        frames=config.data.frames,
        size=config.data.size,
        directions=g.directions,
        speeds_deg_per_s=tuple(a.dot_speeds_deg_per_s),
        coherences=(a.dot_coherence,),
        # Dots of 0.1 deg, or one pixel where a small clip makes that larger.
        dot_radius_deg=max(0.1, g.field_of_view_deg / config.data.size),
        seed=config.seed,
        field_of_view_deg=g.field_of_view_deg,
        frame_rate_hz=g.frame_rate_hz,
        blank=True,
    )
