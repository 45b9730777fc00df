"""`stdann analyze`: the MT physiology of a trained network and of its controls, as numbers.

For one network: each block's time-averaged responses to drifting gratings
(saved, so the analysis reruns without the model), direction tuning per unit
and per block (`stdann.analysis.tuning`: on the responses as recorded), the
population's preferred directions (`stdann.analysis.population`), and for
the MT block the direction map and the axis-of-motion map on the cortical
sheet (pinwheels, column spacing and density only where a map has a
characteristic wavelength: `stdann.analysis.maps`), its smoothness and its
180-degree reversals, pattern and component cells from plaids, and speed
tuning from random dots.

The controls (`analyze_run`), each analysed the same way:

- the untrained network: the same architecture, seed and positions;
- the alpha = 0 network: the recipe's stage-1 model (the contrastive loss
  alone, before any spatial-loss step) on the final positions. Its positions
  were swap-optimised on its own responses, so a map it shows is the swap's;
  what the trained model adds to it is the spatial loss's;
- shuffled positions: the trained model's units at positions permuted among
  them (the map of the same tuning without topography).

Numbers that cannot be computed are None with a reason, never NaN: the
report and `metrics.json` must stay readable by anything that reads JSON.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from stdann.analysis import maps
from stdann.analysis.pattern_motion import plaid_experiment
from stdann.analysis.speed import speed_tuning
from stdann.analysis.targets import AnalysisTarget, check_block
from stdann.analysis.tuning import DirectionTuning, grating_tuning, summarize
from stdann.model.backbone import BLOCK_NAMES, unit_shapes
from stdann.model.recording import record_block_responses
from stdann.stimuli import StimulusSet, dot_set, grating_set, plaid_sets
from stdann.topo import BlockPositions

#: Names of the controls in metrics.json and the report, in the order shown.
CONTROLS = ("untrained", "alpha_0", "shuffled_positions")
CONTROL_LABELS = {
    "model": "model",
    "untrained": "untrained",
    "alpha_0": "alpha = 0 (stage 1) on the final positions",
    "shuffled_positions": "shuffled positions",
}


def clean(value: Any) -> Any:
    """JSON-safe numbers: NaN and infinities become None; NumPy scalars Python ones."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return clean(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class StimulusSets:
    """Every stimulus set of an analysis, all made from one config."""

    gratings: StimulusSet
    plaids: StimulusSet
    plaid_gratings: StimulusSet
    dots: StimulusSet

    @classmethod
    def of(cls, target: AnalysisTarget) -> StimulusSets:
        plaid, components = plaid_sets(target.config)
        return cls(grating_set(target.config), plaid, components, dot_set(target.config))


def record(
    target: AnalysisTarget, stimuli: StimulusSet, blocks, device: torch.device
) -> dict[str, np.ndarray]:
    return record_block_responses(
        target.backbone.to(device),
        stimuli.clips,
        list(blocks),
        batch_size=target.config.analysis.batch_size,
        device=device,
        progress=True,
    )


def _empty_map(positions: BlockPositions, pixel_mm: float, sigma_mm: float) -> maps.DirectionMap:
    """A map with no unit on it (all NaN), whose topology is None with its reasons."""
    n = max(1, math.ceil(positions.sheet_side_mm / pixel_mm - 1e-9))
    return maps.DirectionMap(
        np.full((n, n), np.nan, complex), pixel_mm, sigma_mm, positions.sheet_side_mm
    )


def _smoothed(
    vectors: np.ndarray, keep: np.ndarray, positions: BlockPositions, target: AnalysisTarget
) -> maps.DirectionMap:
    a = target.config.analysis
    if not keep.any():
        return _empty_map(positions, a.map_pixel_mm, a.map_sigma_mm)
    return maps.direction_map(
        positions.coordinates,
        np.where(keep, vectors, np.nan + 0j),
        positions.sheet_side_mm,
        a.map_pixel_mm,
        a.map_sigma_mm,
    )


def map_metrics(
    tuning: DirectionTuning, positions: BlockPositions, target: AnalysisTarget, seed: int
) -> dict[str, Any]:
    """The direction and axis-of-motion maps of one block on its sheet, and
    everything measured on them.

    - The direction map smooths F_1 / F_0 of every responsive unit with a
      preferred direction (each unit weighs by its direction selectivity,
      1 - CV); the axial map smooths F_2 / F_0 of the responsive units with a
      second harmonic (`DirectionTuning.axial_vector`): the
      axis-of-motion map from the units' second harmonics, not the direction
      map's angle doubled.
    - Smoothness, nearby opposite-direction pairs and nearest-neighbour
      differences use the direction-selective units' preferences, the units
      whose preferred direction a physiologist would plot.
    """
    a = target.config.analysis
    rng = np.random.default_rng(seed)
    coords = positions.coordinates
    responsive = tuning.responsive.astype(bool)
    # A unit with no first (second) harmonic has no direction (axis): it is
    # left off that map rather than pulling the smoothed vectors toward 0.
    directional = responsive & np.isfinite(tuning.preferred_deg)
    axial = responsive & np.isfinite(tuning.axial_vector) & (np.abs(tuning.axial_vector) > 0)
    dmap = _smoothed(tuning.vector, directional, positions, target)
    amap = _smoothed(tuning.axial_vector, axial, positions, target)
    out: dict[str, Any] = {
        "pixel_mm": a.map_pixel_mm,
        "sigma_mm": a.map_sigma_mm,
        "sheet_side_mm": positions.sheet_side_mm,
        "units_on_map": int(directional.sum()),
        "units_on_axial_map": int(axial.sum()),
        "direction": maps.map_topology(dmap, period=360, rng=seed),
        "axial": maps.map_topology(amap, period=180, rng=seed),
        "_map": dmap,
        "_axial_map": amap,
    }
    selective = tuning.direction_selective & np.isfinite(tuning.preferred_deg)
    pref = np.where(selective, tuning.preferred_deg, np.nan)
    width = positions.neighbourhood_width_mm
    bins = np.linspace(0, 2 * width, 11)
    out["direction_selective_units"] = int(selective.sum())
    if selective.sum() < 3:
        reason = f"{int(selective.sum())} direction-selective units: too few"
        for key in (
            "smoothness",
            "opposite_direction_fraction",
            "nearest_neighbour_difference_deg",
        ):
            out[key] = {"reason": reason}
        return out
    smooth = maps.smoothness(coords[selective], pref[selective], bins, rng=rng)
    out["smoothness"] = {
        "distance_mm": smooth.centres_mm,
        "observed_deg": smooth.observed_deg,
        "shuffled_deg": smooth.shuffled_deg,
        "pairs": smooth.n_pairs,
        "chance_deg": smooth.chance_deg,
    }
    radius = width / 4
    try:
        observed, shuffled = maps.opposite_direction_fraction(
            coords[selective], pref[selective], radius_mm=radius, rng=rng
        )
        out["opposite_direction_fraction"] = {
            "radius_mm": radius,
            "threshold_deg": 150.0,
            "observed": observed,
            "shuffled": shuffled,
        }
    except ValueError as err:
        out["opposite_direction_fraction"] = {"reason": str(err)}
    observed, shuffled = maps.nearest_neighbour_direction_difference(
        coords[selective], pref[selective], rng=rng
    )
    out["nearest_neighbour_difference_deg"] = {"observed": observed, "shuffled": shuffled}
    return out


def shuffled_map_metrics(
    result: dict[str, Any], target: AnalysisTarget, positions: BlockPositions
) -> dict[str, Any]:
    """The shuffled-positions control: the model's MT tuning on its positions
    permuted among the units (seeded by the config's seed)."""
    block = target.config.analysis.block
    rng = np.random.default_rng(target.config.seed + 1)
    shuffled = positions.permuted(rng.permutation(positions.n_units))
    return {
        "label": f"{target.label} (shuffled positions)",
        "map": map_metrics(result["_tuning"][block], shuffled, target, target.config.seed),
    }


def _channels(
    target: AnalysisTarget, block: str, units: int, shapes: dict[str, tuple[int, int, int]]
) -> int | None:
    """The channels of a block's units ((C, H, W) order): from its positions, or
    the config's network; None where neither matches the units recorded."""
    positions = target.positions.get(block)
    shape = positions.unit_shape if positions is not None else shapes.get(block)
    return shape[0] if shape is not None and math.prod(shape) == units else None


def analyze_target(
    target: AnalysisTarget, device: torch.device, sets: StimulusSets | None = None
) -> dict[str, Any]:
    """Every number of one network (see the module docstring), and the arrays
    the figures need under keys that start with '_'."""
    c = target.config
    block = c.analysis.block
    check_block(block)
    sets = sets or StimulusSets.of(target)
    gratings = sets.gratings
    responses = record(target, gratings, BLOCK_NAMES, device)
    shapes = unit_shapes(c.data.frames, c.data.size, c.data.size, channels=c.model.width)
    tunings = {
        b: grating_tuning(r, gratings.table, responsive_fraction=c.analysis.responsive_fraction)
        for b, r in responses.items()
    }
    result: dict[str, Any] = {
        "label": target.label,
        "checkpoint": None if target.checkpoint is None else str(target.checkpoint),
        "step": target.step,
        "blocks": {
            b: summarize(t, seed=c.seed, channels=_channels(target, b, t.units, shapes))
            for b, t in tunings.items()
        },
        "_responses": responses,
        "_tuning": tunings,
        "_stimuli": gratings,
    }
    mt = tunings[block]
    mt_positions = target.positions.get(block)
    if mt_positions is None:
        result["map"] = {"reason": f"no positions for {block}"}
    else:
        result["map"] = map_metrics(mt, mt_positions, target, c.seed)

    # Plaids and the gratings they are made of, at the components' contrast:
    # pattern and component cells among the direction-selective units.
    plaid_r = record(target, sets.plaids, [block], device)[block]
    component_r = record(target, sets.plaid_gratings, [block], device)[block]
    pc = plaid_experiment(
        component_r,
        sets.plaid_gratings.table,
        plaid_r,
        sets.plaids.table,
        mt.condition["spatial_frequency_cpd"],
        mt.condition["temporal_frequency_hz"],
        mt.direction_selective,
    )
    result["pattern_motion"] = pc.summary()
    result["_pattern_motion"] = pc

    result["probe"] = labelled_probe(target, device)

    # Random dots: speed tuning of the MT block at each unit's preferred direction.
    dots = sets.dots
    dot_responses = record(target, dots, [block], device)[block]
    result["speed"], result["_speed"] = _speed(dot_responses, dots.table, mt)
    return result


def _speed(responses: np.ndarray, table: dict, mt: DirectionTuning):
    """Each responsive unit's raw speed curve at the sampled direction nearest
    its preference, fitted; units without a preference are left out."""
    blank = table["blank"].astype(bool)
    base = responses[blank].mean(0) if blank.any() else np.zeros(responses.shape[1])
    rows = ~blank
    speeds = np.unique(table["speed_deg_per_s"][rows])
    directions = np.unique(table["direction_deg"][rows])
    # (S, D, U): each unit's speed curve in each direction.
    grid = np.stack(
        [
            np.stack(
                [
                    responses[
                        rows & (table["speed_deg_per_s"] == s) & (table["direction_deg"] == d)
                    ].mean(0)
                    for d in directions
                ]
            )
            for s in speeds
        ]
    )
    nearest = np.argmin(
        np.abs(((directions[:, None] - np.nan_to_num(mt.preferred_deg)[None]) + 180) % 360 - 180),
        axis=0,
    )
    curves = grid[:, nearest, np.arange(grid.shape[2])]
    fit = speed_tuning(curves, speeds, blank=base)
    units = mt.responsive & np.isfinite(mt.preferred_deg)
    return fit.summary(responsive=units), fit


#: Labelled lists of the built-in corpus's synthetic videos (their kind of motion),
#: which the analysis probes when a run trained on that corpus names no lists.
BUILTIN_PROBE_LISTS = ("motion/trainlist01.txt", "motion/testlist01.txt")


def labelled_probe(target: AnalysisTarget, device: torch.device) -> dict[str, Any]:
    """The kNN top-1 of the network's features on labelled videos
    (`stdann.train.labelled_probe`: cosine, k = 20, temperature-weighted votes,
    Wu et al. 2018), with chance beside it: on the config's
    `train.probe_train_list` / `probe_test_list`, or on the built-in corpus's
    motion classes for a run trained on it; a reason where there are none."""
    from stdann.data.lists import VideoListError, labelled_lists
    from stdann.train.labelled_probe import ProbeError, probe_network

    c = target.config
    lists = (c.train.probe_train_list, c.train.probe_test_list)
    if lists[0] is None and c.data.root == "builtin":
        lists = BUILTIN_PROBE_LISTS
    if lists[0] is None or lists[1] is None:
        return {
            "reason": "no labelled lists: set train.probe_train_list and train.probe_test_list "
            "(or run `stdann probe`)"
        }
    try:
        train, test = labelled_lists(c.data.root, lists[0], lists[1])
        out = probe_network(
            target.backbone, train, test, c.data.frames, c.data.stride, c.data.size, device
        )
    except (VideoListError, ProbeError, OSError) as err:
        return {"reason": f"the labelled probe could not run: {err}"}
    knn = out["knn"]
    return {
        "train_list": lists[0],
        "test_list": lists[1],
        "top1": knn["top1"],
        "chance": knn["chance"],
        "majority": knn["majority"],
        "k": knn["k"],
        "classes": knn["classes"],
        "train": knn["train"],
        "test": knn["test"],
        "skipped": len(out.get("skipped", [])),
    }


def warnings_of(label: str, result: dict[str, Any], block: str) -> list[str]:
    """The warnings a reader must see about one network's MT block."""
    out = []
    pd = result.get("blocks", {}).get(block, {}).get("preferred_direction", {})
    if pd.get("warning"):
        out.append(f"{label}, {block}: {pd['warning']}")
    return out


def print_warnings(warnings: list[str]) -> None:
    for w in warnings:
        print(f"stdann analyze: warning: {w}", file=sys.stderr)
