"""`stdann analyze`: the MT physiology of a trained network, as numbers.

For one model: each block's time-averaged responses to drifting gratings
(saved, so the analysis reruns without the model), direction tuning per unit
and per block, and for the MT block the direction map on the cortical sheet
(pinwheels, column spacing, density; the axial map beside it), its
smoothness and its 180-degree reversals, pattern and component cells from
plaids, and speed tuning from random dots. Every map number stands beside
the same model with shuffled positions, and every number beside the
untrained network of the same architecture and seed.

Numbers that cannot be computed are None with a reason, never NaN: the
report and `metrics.json` must stay readable by anything that reads JSON.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from stdann.analysis import maps
from stdann.analysis.pattern_motion import pattern_component
from stdann.analysis.speed import speed_tuning
from stdann.analysis.targets import AnalysisTarget, check_block
from stdann.analysis.tuning import DirectionTuning, grating_tuning, summarize
from stdann.model.backbone import BLOCK_NAMES
from stdann.model.recording import record_block_responses
from stdann.stimuli import StimulusSet, drifting_gratings, plaids, random_dots
from stdann.topo import BlockPositions


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


def stimulus_sets(target: AnalysisTarget) -> dict[str, StimulusSet]:
    """Gratings (the recipe's), plaids and random dots at the model's clip size."""
    c = target.config
    g, a = c.recipe.gratings, c.analysis
    common = {
        "frames": c.data.frames,
        "size": c.data.size,
        "field_of_view_deg": g.field_of_view_deg,
        "frame_rate_hz": g.frame_rate_hz,
    }
    return {
        "gratings": drifting_gratings(
            directions=g.directions,
            spatial_frequencies_cpd=tuple(g.spatial_frequencies_cpd),
            temporal_frequencies_hz=tuple(g.temporal_frequencies_hz),
            phases_deg=tuple(g.phases_deg),
            blank=True,
            **common,
        ),
        "plaids": plaids(
            directions=g.directions,
            plaid_angle_deg=a.plaid_angle_deg,
            spatial_frequencies_cpd=tuple(g.spatial_frequencies_cpd),
            temporal_frequencies_hz=tuple(g.temporal_frequencies_hz),
            phases_deg=(0.0,),
            blank=True,
            **common,
        ),
        "dots": random_dots(
            directions=g.directions,
            speeds_deg_per_s=tuple(a.dot_speeds_deg_per_s),
            coherences=(a.dot_coherence,),
            # Dots of 0.1 deg, or one pixel where a small clip makes that larger.
            dot_radius_deg=max(0.1, g.field_of_view_deg / c.data.size),
            seed=c.seed,
            blank=True,
            **common,
        ),
    }


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


def _plaid_curves(responses: np.ndarray, table: dict) -> tuple:
    """Plaid responses averaged over phases at each direction, blank subtracted, clipped."""
    blank = table["blank"].astype(bool)
    base = responses[blank].mean(0) if blank.any() else 0.0
    rows = ~blank
    directions = np.unique(table["direction_deg"][rows])
    curves = np.stack([responses[rows & (table["direction_deg"] == d)].mean(0) for d in directions])
    return directions, np.clip(curves - base, 0, None)


def map_metrics(
    tuning: DirectionTuning, positions: BlockPositions, target: AnalysisTarget, seed: int
) -> dict[str, Any]:
    """The direction map of one block on its sheet and everything measured on it."""
    a = target.config.analysis
    rng = np.random.default_rng(seed)
    coords = positions.coordinates
    selective = tuning.responsive & np.isfinite(tuning.preferred_deg)
    vector = np.where(selective, tuning.vector, np.nan + 0j)
    if selective.any():
        dmap = maps.direction_map(
            coords, vector, positions.sheet_side_mm, a.map_pixel_mm, a.map_sigma_mm
        )
    else:
        # A silent block: an empty map (all NaN), whose topology is None with its reasons.
        n = max(1, math.ceil(positions.sheet_side_mm / a.map_pixel_mm - 1e-9))
        dmap = maps.DirectionMap(
            np.full((n, n), np.nan, complex),
            a.map_pixel_mm,
            a.map_sigma_mm,
            positions.sheet_side_mm,
        )
    out: dict[str, Any] = {
        "pixel_mm": a.map_pixel_mm,
        "sigma_mm": a.map_sigma_mm,
        "sheet_side_mm": positions.sheet_side_mm,
        "units_on_map": int(selective.sum()),
        "direction": maps.map_topology(dmap, period=360),
        "axial": maps.map_topology(dmap, period=180),
    }
    pref = np.where(selective, tuning.preferred_deg, np.nan)
    width = positions.neighbourhood_width_mm
    bins = np.linspace(0, 2 * width, 11)
    if selective.sum() < 3:
        reason = f"{int(selective.sum())} responsive units with a preference: too few"
        out["smoothness"] = {"reason": reason}
        out["opposite_direction_fraction"] = {"reason": reason}
        out["nearest_neighbour_difference_deg"] = {"reason": reason}
        out["_map"] = dmap
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
    out["_map"] = dmap
    return out


def analyze_target(
    target: AnalysisTarget, device: torch.device, shuffled_positions: bool = True
) -> dict[str, Any]:
    """Every number of one model (see the module docstring), and the arrays the
    figures need under keys that start with '_'."""
    block = target.config.analysis.block
    check_block(block)
    sets = stimulus_sets(target)
    gratings = sets["gratings"]
    responses = record(target, gratings, BLOCK_NAMES, device)
    tunings = {b: grating_tuning(r, gratings.table) for b, r in responses.items()}
    result: dict[str, Any] = {
        "label": target.label,
        "step": target.step,
        "blocks": {b: summarize(t) for b, t in tunings.items()},
        "_responses": responses,
        "_tuning": tunings,
        "_stimuli": gratings,
    }
    mt = tunings[block]
    mt_positions = target.positions.get(block)
    if mt_positions is None:
        result["map"] = {"reason": f"no positions for {block}"}
    else:
        result["map"] = map_metrics(mt, mt_positions, target, target.config.seed)
        if shuffled_positions:
            rng = np.random.default_rng(target.config.seed + 1)
            shuffled = mt_positions.permuted(rng.permutation(mt_positions.n_units))
            result["map_shuffled_positions"] = map_metrics(mt, shuffled, target, target.config.seed)
    # Plaids: pattern and component cells of the MT block.
    plaid_responses = record(target, sets["plaids"], [block], device)[block]
    directions, plaid = _plaid_curves(plaid_responses, sets["plaids"].table)
    grating_curves = np.stack(
        [
            np.interp(directions, mt.directions_deg, mt.curves[:, u], period=360)
            for u in range(mt.curves.shape[1])
        ],
        axis=1,
    )
    pc = pattern_component(
        grating_curves, plaid, directions, target.config.analysis.plaid_angle_deg
    )
    result["pattern_motion"] = pc.summary(responsive=mt.responsive)
    result["_pattern_motion"] = pc
    # Random dots: speed tuning of the MT block at each unit's preferred direction.
    dots = sets["dots"]
    dot_responses = record(target, dots, [block], device)[block]
    result["speed"], result["_speed"] = _speed(dot_responses, dots.table, mt)
    return result


def _speed(responses: np.ndarray, table: dict, mt: DirectionTuning):
    blank = table["blank"].astype(bool)
    base = responses[blank].mean(0) if blank.any() else 0.0
    rows = ~blank
    speeds = np.unique(table["speed_deg_per_s"][rows])
    directions = np.unique(table["direction_deg"][rows])
    # (S, D, U): each unit's speed curve in its own preferred sampled direction.
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
    curves = np.clip(grid[:, nearest, np.arange(grid.shape[2])] - base, 0, None)
    fit = speed_tuning(curves, speeds)
    return fit.summary(responsive=mt.responsive), fit
