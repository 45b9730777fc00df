"""`stdann analyze RUN_OR_CHECKPOINT [...] --out DIR`: metrics.json, tuning arrays,
figures and report.html.

One source: its numbers beside its controls, each analysed alike: the
untrained network (same architecture, seed and positions), the alpha = 0
network (the recipe's stage 1, found in a recipe run by itself, on the final
positions) and shuffled positions. Several sources (runs that differ in
alpha): a table and plots of each metric against alpha. `--over-training`:
every checkpoint of one run, and the metrics against the training step.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stdann.analysis import figures
from stdann.analysis.analyze import (
    CONTROL_LABELS,
    StimulusSets,
    analyze_target,
    clean,
    print_warnings,
    shuffled_map_metrics,
    warnings_of,
)
from stdann.analysis.macaque import BASELINES, NO_BASELINE, baseline
from stdann.analysis.report import Figure, table, write_report
from stdann.analysis.sweep_table import markdown_table
from stdann.analysis.targets import (
    AnalysisError,
    alpha_zero_control,
    load_target,
    load_weights_target,
    untrained_control,
)
from stdann.analysis.tuning import UNIT_ARRAYS
from stdann.atomic import atomic_write, atomic_write_text
from stdann.model.recording import save_block_responses
from stdann.runtime import pick_device
from stdann.stimuli import dot_limits
from stdann.train.checkpoint import list_checkpoints, resolve_checkpoint


def _public(result: dict[str, Any]) -> dict[str, Any]:
    """The result without the arrays kept for figures (keys starting with '_')."""
    out = {}
    for k, v in result.items():
        if k.startswith("_"):
            continue
        out[k] = _public(v) if isinstance(v, dict) else v
    return out


def _scale(target) -> dict[str, Any]:
    c = target.config
    return {
        "network": "torchvision r3d_18"
        if c.model.width == 64
        else f"r3d_18 at width {c.model.width}",
        "clip": f"{c.data.frames} x {c.data.size} x {c.data.size}, stride {c.data.stride}",
        "data": c.data.root,
        "steps": target.step,
        "batch": f"{c.train.batch_size} videos x {c.data.views} views per rank",
        "alpha": c.topography.alpha,
        "paper_scale": c.model.width == 64 and c.data.size == 112 and c.data.frames == 16,
    }


def _save_tuning(folder: Path, tunings) -> None:
    for block, t in tunings.items():
        arrays = {k: getattr(t, k) for k in UNIT_ARRAYS}
        arrays["classes"] = np.asarray(t.classes, dtype=str)
        atomic_write(folder / f"{block}.npz", lambda f, a=arrays: np.savez(f, **a))


def get(d: Any, *keys: str) -> Any:
    """d[k1][k2]..., None where any level is missing or not a mapping."""
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _first(values: Any) -> Any:
    """The first of a list or array of numbers (None for none, or NaN)."""
    if not isinstance(values, list | tuple | np.ndarray) or len(values) == 0:
        return None
    first = float(values[0]) if values[0] is not None else None
    return first if first is not None and np.isfinite(first) else None


def _short(value: Any) -> str:
    """A number in three significant digits; "undefined" for None."""
    return "undefined" if value is None else f"{value:.3g}"


def _row(result: dict[str, Any], block: str) -> dict[str, Any]:
    """The few numbers a sweep or a training curve shows, for one model."""
    t = result["blocks"][block]
    m = result.get("map", {})
    density_ci = get(m, "direction", "density_ci95") or [None, None]
    return {
        "fraction_direction_selective": get(t, "class_fractions", "direction-selective"),
        "median_dsi": get(t, "dsi", "median"),
        "median_cv": get(t, "cv", "median"),
        "median_axial_ratio": get(t, "axial_ratio", "median"),
        "preferred_direction_resultant": get(t, "preferred_direction", "resultant"),
        "smallest_45deg_fraction": get(t, "preferred_direction", "min_fraction_45deg"),
        "direction_selective_channels": get(t, "preferred_direction", "by_channel", "n"),
        "channel_resultant": get(t, "preferred_direction", "by_channel", "resultant"),
        "nearby_direction_difference_deg": _first(get(m, "smoothness", "observed_deg")),
        "nearby_direction_difference_shuffled_deg": _first(get(m, "smoothness", "shuffled_deg")),
        "spectral_peak_clarity": get(m, "direction", "peak_clarity"),
        "column_spacing_mm": get(m, "direction", "wavelength_mm"),
        "pinwheel_density": get(m, "direction", "density"),
        "pinwheel_density_ci95_low": density_ci[0],
        "pinwheel_density_ci95_high": density_ci[1],
        "probe_top1": get(result, "probe", "top1"),
    }


def over_seeds(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per alpha, the median and range over seeds of every number of the rows
    (each row one run): a headline number is a median over seeds with its
    range, never one run. A number missing in some runs counts the runs that
    have it."""
    out = []
    for alpha in sorted({r["alpha"] for r in rows}, key=lambda a: (a is None, a)):
        runs = [r for r in rows if r["alpha"] == alpha]
        entry: dict[str, Any] = {"alpha": alpha, "seeds": sorted(r["seed"] for r in runs)}
        for key in runs[0]:
            if key in ("label", "alpha", "seed", "step"):
                continue
            values = [r[key] for r in runs if isinstance(r.get(key), int | float)]
            entry[key] = (
                {
                    "median": float(np.median(values)),
                    "min": float(min(values)),
                    "max": float(max(values)),
                    "runs": len(values),
                }
                if values
                else None
            )
        out.append(entry)
    return out


def _macaque(quantity: str, what: str) -> str:
    """A macaque cell: the sourced value and what it is compared with."""
    b = baseline(quantity)
    if b is None:
        return "no source read"
    value = (
        b.value
        if isinstance(b.value, str)
        else f"{b.value:g}"
        if not isinstance(b.value, tuple)
        else f"{b.value[0]:g}-{b.value[1]:g}"
    )
    return f"{value} {b.unit if b.is_numeric else ''} ({b.source}); {what}".replace("  ", " ")


def _with_interval(d: Any) -> Any:
    """A median with its bootstrap interval, as one cell."""
    if not isinstance(d, dict) or d.get("median") is None:
        return None
    ci = d.get("median_ci95")
    return d["median"] if not ci else f"{d['median']:.3g} [{ci[0]:.3g}, {ci[1]:.3g}]"


def _density(d: Any) -> Any:
    if not isinstance(d, dict):
        return None
    if d.get("density") is None:
        reasons = d.get("reasons") or {}
        return "undefined: " + str(reasons.get("density", d.get("reason", "no map")))
    ci = d.get("density_ci95")
    return f"{d['density']:.3g}" + (f" [{ci[0]:.3g}, {ci[1]:.3g}]" if ci else "")


def _counted(d: Any, cls: str) -> Any:
    """A class's fraction with its count: '0.25 (12 of 48)'."""
    fraction = get(d, "class_fractions", cls)
    if fraction is None:
        return None
    return f"{fraction:.3g} ({get(d, 'counts', cls)} of {get(d, 'units')})"


def _ratio(d: Any) -> Any:
    if not isinstance(d, dict) or d.get("units") is None:
        return None
    mean = d.get("mean")
    return (
        f"{'-' if mean is None else f'{mean:.3g}'} (n = {d['n']}; {d['null_at_or_below_blank']} "
        "with the null response at or below the blank: no ratio)"
    )


#: Rows of the MT table: (quantity, value of one network's result, macaque cell).
#: The shuffled-positions control changes only the map: its tuning rows are the model's.
Row = tuple[str, Callable[[dict[str, Any], str], Any], str]
_ROWS: list[Row] = [
    (
        "kNN top-1 on labelled videos (chance)",
        lambda r, b: (
            None
            if get(r, "probe", "top1") is None
            else f"{r['probe']['top1']:.3g} ({r['probe']['chance']:.3g})"
        ),
        "",
    ),
    ("fraction responsive", lambda r, b: get(r, "blocks", b, "fraction_responsive"), ""),
    (
        "fraction direction-selective (DSI >= 1/3)",
        lambda r, b: get(r, "blocks", b, "class_fractions", "direction-selective"),
        _macaque("mt_direction_selective_fraction", "qualitative, at no stated criterion"),
    ),
    (
        "fraction bidirectional",
        lambda r, b: get(r, "blocks", b, "class_fractions", "bidirectional"),
        "",
    ),
    (
        "median DSI, raw responses [95% interval]",
        lambda r, b: _with_interval(get(r, "blocks", b, "dsi")),
        "no MT DSI distribution read",
    ),
    (
        "median DI relative to the blank [95% interval]",
        lambda r, b: _with_interval(get(r, "blocks", b, "di_blank")),
        "",
    ),
    (
        "mean (R_pref - b) / (R_null - b)",
        lambda r, b: _ratio(get(r, "blocks", b, "pref_null_ratio_above_blank")),
        _macaque(
            "mt_preferred_to_opposite_response_ratio",
            "the same statistic: a mean over units of the ratio above background",
        ),
    ),
    (
        "median direction CV, raw [95% interval]",
        lambda r, b: _with_interval(get(r, "blocks", b, "cv")),
        "no MT value read",
    ),
    (
        "median axial ratio |F2| / |F1|",
        lambda r, b: get(r, "blocks", b, "axial_ratio", "median"),
        "",
    ),
    ("median FWHM (deg)", lambda r, b: get(r, "blocks", b, "fwhm_deg", "median"), ""),
    (
        "preferred-direction resultant (direction-selective units)",
        lambda r, b: get(r, "blocks", b, "preferred_direction", "resultant"),
        "MT represents every direction: near 0 (Maunsell & Van Essen 1983)",
    ),
    (
        "direction-selective channels, and the resultant over them (each channel once)",
        lambda r, b: (
            None
            if get(r, "blocks", b, "preferred_direction", "by_channel", "n") is None
            else "{} ({})".format(
                get(r, "blocks", b, "preferred_direction", "by_channel", "n"),
                _short(get(r, "blocks", b, "preferred_direction", "by_channel", "resultant")),
            )
        ),
        "",
    ),
    (
        "axial resultant of preferred directions",
        lambda r, b: get(r, "blocks", b, "preferred_direction", "axial_resultant"),
        "",
    ),
    (
        "smallest fraction in a 45-degree bin",
        lambda r, b: get(r, "blocks", b, "preferred_direction", "min_fraction_45deg"),
        "uniform: 0.125",
    ),
    (
        "Rayleigh p (uniform preferred directions)",
        lambda r, b: get(r, "blocks", b, "preferred_direction", "rayleigh_p"),
        "",
    ),
    (
        "column spacing Lambda (mm)",
        lambda r, b: get(r, "map", "direction", "wavelength_mm"),
        "no MT column spacing read",
    ),
    (
        "spectral peak clarity of the direction map",
        lambda r, b: get(r, "map", "direction", "peak_clarity"),
        "",
    ),
    (
        "pinwheels per Lambda^2, direction map [95% interval]",
        lambda r, b: _density(get(r, "map", "direction")),
        "no MT value read; pi for V1 orientation maps (Kaschube et al. 2010)",
    ),
    (
        "pinwheels per Lambda^2, axis-of-motion map [95% interval]",
        lambda r, b: _density(get(r, "map", "axial")),
        "",
    ),
    (
        "neighbours' preferred-direction difference, nearest distance bin (deg)",
        lambda r, b: _first(get(r, "map", "smoothness", "observed_deg")),
        _macaque("mt_preferred_direction_clustering", "qualitative"),
    ),
    (
        "nearest-neighbour direction difference (deg)",
        lambda r, b: get(r, "map", "nearest_neighbour_difference_deg", "observed"),
        "",
    ),
    (
        "opposite-direction pairs nearby (fraction)",
        lambda r, b: get(r, "map", "opposite_direction_fraction", "observed"),
        _macaque("mt_180_degree_reversals", "qualitative"),
    ),
    (
        "pattern cells (fraction of direction-selective units)",
        lambda r, b: _counted(get(r, "pattern_motion"), "pattern"),
        _macaque("mt_pattern_cell_fraction", "percent; the model's is a fraction"),
    ),
    (
        "component cells (fraction of direction-selective units)",
        lambda r, b: _counted(get(r, "pattern_motion"), "component"),
        _macaque("mt_component_cell_fraction", "percent; the model's is a fraction"),
    ),
    (
        "median preferred speed, tuned units (deg/s)",
        lambda r, b: get(r, "speed", "preferred_speed_deg_per_s", "median"),
        _macaque("mt_preferred_speed_peak", "the peak of the distribution"),
    ),
    (
        "median speed offset s0, tuned units (deg/s)",
        lambda r, b: get(r, "speed", "offset_deg_per_s", "median"),
        _macaque("mt_speed_tuning_log_gaussian_offset", "a mean"),
    ),
    (
        "median log-speed width sigma, tuned units",
        lambda r, b: get(r, "speed", "sigma", "median"),
        _macaque("mt_speed_tuning_log_gaussian_sigma", "a mean"),
    ),
    (
        "tuned units peaking on one speed (width below the sampling)",
        lambda r, b: get(r, "speed", "sigma_at_lower_bound"),
        "",
    ),
    (
        "speed classes: tuned / low-pass / high-pass / unfitted",
        lambda r, b: (
            " / ".join(
                str(get(r, "speed", "classes", c, "count"))
                for c in ("tuned", "low-pass", "high-pass", "unfitted")
            )
            if get(r, "speed", "classes")
            else None
        ),
        _macaque("mt_speed_class_tuned", "percent tuned; low pass 25%, broadband 28%"),
    ),
]

#: Rows that the shuffled-positions control changes (the maps).
_MAP_ROWS = {
    "column spacing Lambda (mm)",
    "spectral peak clarity of the direction map",
    "pinwheels per Lambda^2, direction map [95% interval]",
    "pinwheels per Lambda^2, axis-of-motion map [95% interval]",
    "neighbours' preferred-direction difference, nearest distance bin (deg)",
    "nearest-neighbour direction difference (deg)",
    "opposite-direction pairs nearby (fraction)",
}


def _summary_table(networks: dict[str, dict[str, Any] | None], block: str) -> str:
    """The MT block of the model and of every control, beside macaque MT."""
    names = ("model", "untrained", "alpha_0", "shuffled_positions")
    rows = []
    for label, value, macaque in _ROWS:
        cells = []
        for n in names:
            r = networks.get(n)
            if r is None or (n == "shuffled_positions" and label not in _MAP_ROWS):
                cells.append(None)
            else:
                cells.append(value(r, block))
        rows.append([label, *cells, macaque or None])
    return table(["MT block " + block, *[CONTROL_LABELS[n] for n in names], "macaque MT"], rows)


def _tuned(result: dict[str, Any] | None, block: str):
    return None if result is None else result["_tuning"][block]


def _figures(out: Path, networks: dict[str, dict[str, Any] | None], block: str) -> list[Figure]:
    from stdann.analysis.pinwheels import find_pinwheels

    fig_dir = out / "figures"
    main = networks["model"]
    assert main is not None
    tuning = main["_tuning"][block]
    figs: list[Figure] = []
    shown = [(n, networks.get(n)) for n in ("model", "untrained", "alpha_0", "shuffled_positions")]
    shown = [(n, r) for n, r in shown if r is not None and "_map" in r.get("map", {})]
    if shown:
        m = main["map"]
        dmap = m["_map"]

        def with_pinwheels(name: str, result: dict[str, Any]):
            z = result["map"]["_map"].z
            x, y, charge = find_pinwheels(z) if np.isfinite(z).any() else ([], [], [])
            return CONTROL_LABELS[name], result["map"]["_map"], {"x": x, "y": y, "charge": charge}

        # The model's map beside the alpha = 0 network's on the same positions.
        beside = [(n, r) for n, r in shown if n in ("model", "alpha_0")]
        figs.append(
            Figure(
                f"{block}: direction map",
                figures.direction_map_figure(
                    [with_pinwheels(n, r) for n, r in beside], fig_dir, "direction_map"
                ),
                f"Preferred direction (hue) and direction selectivity (brightness) of the "
                f"responsive units on the {dmap.sheet_side_mm:.2f} mm sheet, each unit's F1/F0 "
                f"smoothed with a {dmap.sigma_mm} mm Gaussian; pinwheels by sign (winding number "
                "of the phase); beside it, where there is one, the alpha = 0 network on the same "
                "positions. Every winding is drawn; the density is reported only where the "
                f"map has a characteristic wavelength: {_density(m['direction'])}.",
            )
        )
        for kind, key, period, what in (
            ("direction", "_map", 360, "direction (F1/F0)"),
            ("axial", "_axial_map", 180, "axis of motion (F2/F0)"),
        ):
            panels = [(CONTROL_LABELS[n], r["map"][key], r["map"][kind]) for n, r in shown]
            figs.append(
                Figure(
                    f"{block}: {what} maps of the model and its controls",
                    figures.map_panels_figure(panels, period, fig_dir, f"{kind}_maps_controls"),
                    f"The {what} map of each network on the same sheet and smoothing, with its "
                    "column spacing and pinwheel density where defined (else why not). Axial "
                    "maps: hue is twice the axis angle; a winding of +-1 is a +-1/2 pinwheel.",
                )
            )
    # The trained networks (the shuffled-positions control has the model's units).
    trained = [n for n in ("model", "untrained", "alpha_0") if networks.get(n) is not None]
    figs.append(
        Figure(
            "Preferred directions of the direction-selective units",
            figures.polar_histograms_figure(
                [
                    (
                        CONTROL_LABELS[n],
                        networks[n]["blocks"][block]["preferred_direction"],  # type: ignore[index]
                        figures.COLOURS[n],
                    )
                    for n in trained
                ],
                fig_dir,
                "preferred_directions",
            ),
            "Polar histograms (16 bins of 22.5 deg) of the preferred directions of the "
            "direction-selective units, with the resultant R (0: every direction alike) and the "
            "axial resultant. Macaque MT represents every direction. Shuffled positions do not "
            "change the units, so they have the model's histogram.",
        )
    )
    figs.append(
        Figure(
            "Direction tuning of the population",
            figures.histograms_figure(
                [
                    (CONTROL_LABELS[n], _tuned(networks[n], block), figures.COLOURS[n])
                    for n in trained
                ],
                fig_dir,
                "tuning_histograms",
            ),
            "Responsive units of the MT block, on the responses as recorded (nothing clipped): "
            "the raw DSI, the index relative to the blank (above 1 where the null response "
            "falls below the blank) and the raw direction CV. Values beyond an axis are "
            "gathered in its end bin, which is marked. No per-unit DSI or CV distribution of "
            "macaque MT has been read; the macaque comparison is the mean ratio in the table.",
        )
    )
    smooth = get(main, "map", "smoothness")
    if isinstance(smooth, dict) and "observed_deg" in smooth:
        lines = [
            (np.asarray(smooth["observed_deg"], float), "model", figures.COLOURS["model"]),
        ]
        for n in ("untrained", "alpha_0"):
            s = get(networks.get(n), "map", "smoothness")
            if isinstance(s, dict) and "observed_deg" in s:
                lines.append(
                    (np.asarray(s["observed_deg"], float), CONTROL_LABELS[n], figures.COLOURS[n])
                )
        s = get(networks.get("shuffled_positions"), "map", "smoothness")
        if isinstance(s, dict) and "observed_deg" in s:
            lines.append(
                (
                    np.asarray(s["observed_deg"], float),
                    "shuffled positions",
                    figures.COLOURS["shuffled_positions"],
                )
            )
        figs.append(
            Figure(
                "Smoothness",
                figures.curve_figure(
                    np.asarray(smooth["distance_mm"], float),
                    lines,
                    "cortical distance (mm)",
                    "preferred-direction difference (deg)",
                    fig_dir,
                    "smoothness",
                    hline=(smooth["chance_deg"], "chance for uniform preferences"),
                ),
                "Mean difference of preferred direction between pairs of direction-selective "
                "units against their distance on the sheet, for the model and each control. "
                "Shuffled positions reach the chance line only when the preferences are uniform.",
            )
        )
    figs.append(
        Figure(
            "Example units",
            figures.example_tuning_figure(tuning, fig_dir, "example_tuning"),
            "Polar tuning curves of example units, responses as recorded, with the blank "
            "response as a dashed circle.",
        )
    )
    with_results = [(n, networks[n]) for n in trained]
    pc = main["_pattern_motion"]
    scatter = []
    for n, r in with_results:
        p = r["_pattern_motion"]
        classed = p.classed if p.classed is not None else np.ones(len(p.zp), bool)
        scatter.append((p.zc[classed], p.zp[classed], CONTROL_LABELS[n], figures.COLOURS[n]))
    figs.append(
        Figure(
            "Pattern and component cells",
            figures.scatter_figure(
                scatter,
                "Zc (component)",
                "Zp (pattern)",
                fig_dir,
                "pattern_component",
                criterion=pc.criterion,
            ),
            f"Direction-selective units of each network: Fisher-z partial correlations with the "
            f"pattern and component predictions, each unit at its best spatial and temporal "
            f"frequency, for plaids of gratings {pc.plaid_angle_deg:g} deg apart at contrast "
            f"{pc.component_contrast} each, compared with those gratings alone; lines: the "
            "1.28 criterion of Smith, Majaj & Movshon (2005).",
        )
    )
    speeds = get(main, "speed", "speeds_deg_per_s") or [0.5, 64]
    counts = "; ".join(
        CONTROL_LABELS[n]
        + ": "
        + ", ".join(f"{c} {v['count']}" for c, v in (get(r, "speed", "classes") or {}).items())
        for n, r in with_results
    )
    figs.append(
        Figure(
            "Speed tuning",
            figures.histogram_figure(
                [
                    (
                        r["_speed"].preferred_speed[
                            r["_speed"].tuned & r["_tuning"][block].responsive
                        ],
                        CONTROL_LABELS[n],
                        figures.COLOURS[n],
                    )
                    for n, r in with_results
                ],
                np.geomspace(min(speeds) / 2, max(speeds) * 2, 17),
                "preferred speed (deg/s)",
                fig_dir,
                "speed_tuning",
                marker=_speed_marker(),
                log_x=True,
            ),
            "Preferred speeds of log-Gaussian fits (Nover et al. 2005) to random-dot responses at "
            f"each unit's preferred direction, for the units whose peak lies inside the speeds "
            f"shown ({min(speeds):g}-{max(speeds):g} deg/s). Classes: {counts}. Macaque "
            "marker: the peak of MT's preferred-speed distribution (Maunsell & Van Essen 1983); "
            "the model's speeds assume the stated field of view. What such clips can show: "
            "metrics.json, stimuli.dot_motion_limits (above a step of half the dots' spacing "
            "per frame the dots' correspondence between frames is ambiguous).",
        )
    )
    return figs


def _speed_marker() -> tuple[float, str] | None:
    """The macaque MT preferred-speed peak, as `stdann.analysis.macaque` holds it."""
    b = baseline("mt_preferred_speed_peak")
    if b is None or not isinstance(b.value, int | float):
        return None
    return float(b.value), f"macaque MT peak, near {b.value:g} deg/s"


def _load_controls(target, source: Path) -> dict[str, Any]:
    """The untrained and alpha = 0 controls of a target (a reason string where
    one cannot be had)."""
    return {
        "untrained": untrained_control(target),
        "alpha_0": alpha_zero_control(target, source),
    }


def _controls_of(
    target, source: Path, result: dict[str, Any], device, sets: StimulusSets
) -> tuple[dict[str, dict[str, Any] | None], dict[str, str]]:
    """The controls of one analysed model, each analysed alike (None, with
    the reason, where one cannot be had)."""
    block = target.config.analysis.block
    networks: dict[str, dict[str, Any] | None] = {}
    reasons: dict[str, str] = {}
    for name, control in _load_controls(target, source).items():
        if isinstance(control, str):
            networks[name], reasons[name] = None, control
            continue
        print(f"analysing the control: {control.label} ...", file=sys.stderr)
        networks[name] = analyze_target(control, device, sets)
    positions = target.positions.get(block)
    if positions is None:
        networks["shuffled_positions"] = None
        reasons["shuffled_positions"] = f"no positions for {block}"
    else:
        networks["shuffled_positions"] = shuffled_map_metrics(result, target, positions)
    return networks, reasons


def run_analysis(
    sources: list[Path], out: Path, *, over_training: bool = False, device=None, load=load_target
) -> dict[str, Any]:
    """Analyse the sources into `out`, each read by `load` (`load_target`;
    `load_weights_target` for foreign weights); returns what metrics.json holds."""
    if over_training:
        if len(sources) != 1:
            raise AnalysisError("--over-training takes one run folder")
        folder = resolve_checkpoint(sources[0]).parent
        sources = [p for _, p in list_checkpoints(folder)]
    targets = [load(s) for s in sources]
    device = device or pick_device(targets[0].config)
    target = targets[0]
    block = target.config.analysis.block
    sets = StimulusSets.of(target)
    results = []
    for t in targets:
        print(f"analysing {t.label} ...", file=sys.stderr)
        results.append(analyze_target(t, device, sets))
    main = results[0]
    # The controls of every run of a sweep (of the first checkpoint alone when
    # the sources are one run's checkpoints), so that each seed and alpha
    # stands beside its own untrained and alpha = 0 networks.
    each = [
        _controls_of(t, s, r, device, sets)
        for i, (t, s, r) in enumerate(zip(targets, sources, results, strict=True))
        if i == 0 or not over_training
    ]
    networks, reasons = each[0]
    networks = {"model": main, **networks}

    warnings: list[str] = []
    for name, r in networks.items():
        if r is not None and "blocks" in r:
            warnings += warnings_of(CONTROL_LABELS[name], r, block)
    print_warnings(warnings)

    out.mkdir(parents=True, exist_ok=True)
    save_block_responses(out / "responses", main["_responses"], main["_stimuli"])
    _save_tuning(out / "tuning", main["_tuning"])
    c = target.config
    metrics: dict[str, Any] = {
        "checkpoint": str(target.checkpoint),
        "checkpoint_sha256": target.checkpoint_sha256,
        "scale": _scale(target),
        "positions": target.positions_source,
        "stimuli": {
            "gratings": c.to_dict()["recipe"]["gratings"],
            "analysis": c.to_dict()["analysis"],
            "clip": main["_stimuli"].geometry(),
            "dot_motion_limits": dot_limits(c),
        },
        "mt_block": block,
        "warnings": warnings,
        "model": clean(_public(main)),
        "controls": {
            name: (
                {"reason": reasons[name]}
                if networks[name] is None
                else clean(_public(networks[name]))  # type: ignore[arg-type]
            )
            for name in ("untrained", "alpha_0", "shuffled_positions")
        },
        "macaque": [b.__dict__ for b in BASELINES],
        "no_macaque_baseline": [m.__dict__ for m in NO_BASELINE],
    }
    figs = _figures(out, networks, block)
    missing = "".join(
        f"<p>No {CONTROL_LABELS[n]} control: {reasons[n]}.</p>" for n in sorted(reasons)
    )
    warned = "".join(f'<p class="warning">Warning: {w}</p>' for w in warnings)
    sections = [
        ("MT block beside its controls", warned + _summary_table(networks, block) + missing),
        (
            "Every block",
            table(
                [
                    "block",
                    "network",
                    "fraction responsive",
                    "fraction direction-selective",
                    "median DSI (raw)",
                    "median CV (raw)",
                    "preferred-direction resultant",
                ],
                [
                    [
                        b,
                        CONTROL_LABELS[n],
                        s["fraction_responsive"],
                        s["class_fractions"].get("direction-selective"),
                        s["dsi"]["median"],
                        s["cv"]["median"],
                        s["preferred_direction"]["resultant"],
                    ]
                    for b in main["blocks"]
                    for n in ("model", "untrained", "alpha_0")
                    if networks.get(n) is not None
                    for s in [networks[n]["blocks"][b]]  # type: ignore[index]
                ],
            ),
        ),
        ("Definitions", _definitions(main)),
    ]
    if len(results) > 1:
        key = "step" if over_training else "alpha"
        rows = []
        for i, (t, r) in enumerate(zip(targets, results, strict=True)):
            a = t.alpha if not isinstance(t.alpha, dict) else t.alpha.get(block)
            row = {"label": t.label, "alpha": a, "seed": t.config.seed, "step": t.step}
            row.update(_row(r, block))
            if i < len(each):
                for name in ("untrained", "alpha_0"):
                    control = each[i][0].get(name)
                    for k, v in (_row(control, block) if control else {}).items():
                        row[f"{name}_{k}"] = v
            rows.append(row)
        rows.sort(key=lambda r: (r[key] is None, r[key], r["seed"]))
        metrics["over_training" if over_training else "alpha_sweep"] = clean(rows)
        if not over_training:
            metrics["over_seeds"] = clean(over_seeds(rows))
            atomic_write_text(out / "alpha_sweep.md", markdown_table(metrics["over_seeds"]))
        names = [k for k in _row(main, block)]
        sections.append(
            (
                "Metrics against " + ("training step" if over_training else "alpha"),
                table(
                    [key, "seed", "run", *names],
                    [[r[key], r["seed"], r["label"], *[r.get(n) for n in names]] for r in rows],
                ),
            )
        )
        seeded = [e for e in metrics.get("over_seeds", []) if len(e["seeds"]) > 1]
        if seeded:
            keys = [k for k in seeded[0] if k not in ("alpha", "seeds")]

            def cell(v: Any) -> Any:
                if not isinstance(v, dict):
                    return None
                return f"{v['median']:.3g} ({v['min']:.3g} to {v['max']:.3g}; {v['runs']} runs)"

            sections.append(
                (
                    "Median over seeds (range)",
                    table(
                        ["alpha", "seeds", *keys],
                        [
                            [
                                e["alpha"],
                                ", ".join(map(str, e["seeds"])),
                                *[cell(e[k]) for k in keys],
                            ]
                            for e in seeded
                        ],
                    ),
                )
            )
        x = np.asarray([np.nan if r[key] is None else r[key] for r in rows], float)
        if not over_training:
            figs.append(_sweep_figure(x, rows, out / "figures"))
        for n in names:
            y = np.asarray([np.nan if r.get(n) is None else r[n] for r in rows], float)
            figs.append(
                Figure(
                    f"{n} against {key}",
                    figures.curve_figure(
                        x, [(y, n, figures.COLOURS["model"])], key, n, out / "figures", f"{key}_{n}"
                    ),
                    f"{n.replace('_', ' ')} of the MT block for each "
                    + ("checkpoint of the run." if over_training else "run of the sweep."),
                )
            )
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=1, allow_nan=False) + "\n")
    scale = metrics["scale"]
    note = (
        f"Trained at {'paper' if scale['paper_scale'] else 'reduced'} scale: {scale['network']}, "
        f"{scale['clip']} clips of {scale['data']}, {scale['steps']} steps, alpha "
        f"{scale['alpha']}. Positions: {target.positions_source}."
        + (
            ""
            if scale["paper_scale"]
            else " A reduced network and clip give fewer units and a coarser map than the paper's: "
            "its numbers show the method working, not a reproduction."
        )
    )
    write_report(out / "report.html", f"stdann: {target.label}", note, sections, figs)
    return metrics


#: The quantities of the one-figure summary of a sweep, with their titles.
SWEEP_PANELS = (
    ("median_dsi", "median DSI (raw)"),
    ("median_cv", "median direction CV (raw)"),
    ("median_axial_ratio", "median axial ratio F2/F1"),
    ("preferred_direction_resultant", "preferred-direction resultant"),
    ("nearby_direction_difference_deg", "neighbours' direction difference,\nnearest bin (deg)"),
    ("spectral_peak_clarity", "spectral peak clarity\n(>= 5: a column spacing)"),
    ("column_spacing_mm", "column spacing Lambda (mm)"),
    ("pinwheel_density", "pinwheels per Lambda^2"),
    ("probe_top1", "labelled probe, kNN top-1"),
)


def _sweep_figure(x: np.ndarray, rows: list[dict[str, Any]], folder: Path) -> Figure:
    """The sweep's metrics against alpha in one figure (medians over seeds),
    each beside the runs' own untrained and alpha = 0 networks (and the shuffled positions'
    neighbours for the nearby difference); a gap where a value is undefined."""

    alphas = sorted({float(a) for a in x if np.isfinite(a)})

    def series(key: str) -> np.ndarray:
        """Per alpha, the median over its seeds of the runs that have the value."""
        out = []
        for a in alphas:
            values = [r[key] for r in rows if r["alpha"] == a and r.get(key) is not None]
            out.append(float(np.median(values)) if values else np.nan)
        return np.asarray(out, float)

    panels = []
    for key, title in SWEEP_PANELS:
        lines = [(series(key), "model", figures.COLOURS["model"])]
        for control in ("untrained", "alpha_0"):
            if any(r.get(f"{control}_{key}") is not None for r in rows):
                lines.append(
                    (series(f"{control}_{key}"), CONTROL_LABELS[control], figures.COLOURS[control])
                )
        if key == "nearby_direction_difference_deg":
            lines.append(
                (
                    series("nearby_direction_difference_shuffled_deg"),
                    CONTROL_LABELS["shuffled_positions"],
                    figures.COLOURS["shuffled_positions"],
                )
            )
        panels.append((title, lines))
    return Figure(
        "The sweep against alpha",
        figures.panels_figure(np.asarray(alphas), panels, "alpha", folder, "alpha_sweep"),
        "The MT block against alpha (symmetric log axis; the median over seeds where there "
        "are several), beside "
        "that run's untrained network and its alpha = 0 network (the recipe's stage 1) on "
        "the same positions; gaps are values that are not defined (a map with no "
        "characteristic wavelength has no column spacing or pinwheel density).",
    )


def _definitions(main: dict[str, Any]) -> str:
    """Every metric of the table, defined once, with its source."""
    from stdann.analysis import population, tuning

    t = next(iter(main["blocks"].values()))["thresholds"]
    items = [
        ("Tuning", tuning.__doc__ or ""),
        (
            "Classes",
            f"Responsive: the peak exceeds the blank by more than "
            f"{t['responsive_fraction']:g} x the block's median peak. Direction-selective: "
            f"responsive with DSI >= {t['direction_selective_dsi']:.3g} (the preferred response at "
            "least twice the null). Bidirectional: responsive, not direction-selective, "
            f"|F2| >= {t['bidirectional_axial_ratio']:g} |F1| and axial CV <= "
            f"{t['bidirectional_axial_cv']:g}.",
        ),
        ("Population", population.__doc__ or ""),
    ]
    import html

    return "".join(
        f"<h3>{html.escape(h)}</h3><pre>{html.escape(body.strip())}</pre>" for h, body in items
    )


def run_analyze(args: argparse.Namespace) -> int:
    device = torch.device(args.device) if args.device else None
    sources, load = args.sources, load_target
    if args.weights is not None:
        if args.sources or args.over_training:
            raise AnalysisError("--weights is analysed alone: give no sources beside it")
        sources = [args.weights]

        def load(source: Path, label: str | None = None):
            return load_weights_target(
                source, label, arch=args.arch, positions=args.positions, config=args.config
            )

    elif not args.sources:
        raise AnalysisError("nothing to analyse: give run folders, checkpoints or --weights")
    elif args.positions != "retinotopic" or args.config is not None:
        raise AnalysisError("--positions and --config go with --weights")
    run_analysis(sources, args.out, over_training=args.over_training, device=device, load=load)
    print(args.out / "report.html")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze",
        help="MT physiology of trained models beside their controls: metrics.json, figures, "
        "report.html",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "sources", nargs="*", type=Path, help="run folders, checkpoints or exported model folders"
    )
    p.add_argument("--out", required=True, type=Path)
    p.add_argument(
        "--over-training", action="store_true", help="analyse every checkpoint of one run"
    )
    p.add_argument("--device", default=None, help="cpu or cuda (default: as the run)")
    p.add_argument(
        "--weights",
        type=Path,
        help="instead of sources: a network stdann did not train, as a state dict in "
        "torchvision's format (.pth, .pt or .safetensors; a supervised Kinetics r3d_18)",
    )
    p.add_argument(
        "--arch",
        default="r3d_18",
        choices=["r3d_18"],
        help="of --weights: r3d_18, the one network whose blocks stdann names and places on "
        "sheets (stdann.model.backbone)",
    )
    p.add_argument(
        "--positions",
        default="retinotopic",
        help="with --weights: 'retinotopic' (default; made from the config) or a model folder, "
        "positions.safetensors or folder of BLOCK.npz",
    )
    p.add_argument(
        "--config",
        type=Path,
        help="with --weights: clip size, stimuli and analysis settings (default "
        "configs/paper.yaml); the width is the weights'",
    )
    p.set_defaults(run=run_analyze)
