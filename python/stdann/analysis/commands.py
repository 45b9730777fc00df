"""`stdann analyze RUN_OR_CHECKPOINT [...] --out DIR`: metrics.json, tuning arrays,
figures and report.html.

One source: its numbers beside the untrained network of the same
architecture and seed and beside its own shuffled positions. Several sources
(runs that differ in alpha): a table and plots of each metric against alpha.
`--over-training`: every checkpoint of one run, and the metrics against the
training step.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stdann.analysis import figures
from stdann.analysis.analyze import analyze_target, clean
from stdann.analysis.macaque import BASELINES, NO_BASELINE
from stdann.analysis.maps import MapError
from stdann.analysis.report import Figure, table, write_report
from stdann.analysis.targets import AnalysisError, load_target, untrained_control
from stdann.analysis.tuning import TuningError
from stdann.atomic import atomic_write, atomic_write_text
from stdann.config import ConfigError
from stdann.model.recording import BlockResponsesError, save_block_responses
from stdann.stimuli import StimulusError
from stdann.topo import TopographyError
from stdann.train.checkpoint import CheckpointError, list_checkpoints, resolve_checkpoint
from stdann.train.loop import pick_device

USER_ERRORS = (
    AnalysisError,
    CheckpointError,
    ConfigError,
    TopographyError,
    StimulusError,
    BlockResponsesError,
    # Settings of the checkpoint's config that the analysis cannot use
    # (fewer than 4 grating directions, a map pixel larger than the sheet).
    TuningError,
    MapError,
)

#: Pref/null ratio of macaque MT (Maunsell & Van Essen 1983, mean of 168 units)
#: as a DSI, (r - 1) / (r + 1): the mean of ratios, not a median DSI, so only a marker.
_MT_RATIO = 10.9


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
        arrays = {
            k: getattr(t, k)
            for k in (
                "directions_deg",
                "curves",
                "preferred_deg",
                "vector",
                "dsi",
                "cv",
                "axial_cv",
                "axial_ratio",
                "fwhm_deg",
                "bandwidth_deg",
                "responsive",
            )
        }
        arrays["classes"] = np.asarray(t.classes, dtype=str)
        atomic_write(folder / f"{block}.npz", lambda f, a=arrays: np.savez(f, **a))


def _row(result: dict[str, Any], block: str) -> dict[str, Any]:
    """The few numbers a sweep or a training curve shows, for one model."""
    t = result["blocks"][block]
    m = result.get("map", {})
    d = m.get("direction", {}) if isinstance(m, dict) else {}
    smooth = m.get("smoothness", {}) if isinstance(m, dict) else {}
    near = None
    if smooth.get("observed_deg") is not None and len(smooth["observed_deg"]):
        near = smooth["observed_deg"][0]
    return {
        "fraction_direction_selective": t["class_fractions"].get("direction-selective"),
        "median_dsi": t["dsi"]["median"],
        "median_cv": t["cv"]["median"],
        "median_axial_ratio": t["axial_ratio"]["median"],
        "pinwheel_density": d.get("density"),
        "column_spacing_mm": d.get("wavelength_mm"),
        "nearby_direction_difference_deg": near,
    }


def _figures(out: Path, result, untrained, block: str) -> list[Figure]:
    fig_dir = out / "figures"
    tuning = result["_tuning"][block]
    figs: list[Figure] = []
    m = result.get("map", {})
    if "_map" in m:
        from stdann.analysis.pinwheels import find_pinwheels

        dmap = m["_map"]
        for name, z, period, what in (
            ("direction_map", dmap.z, 360, "direction"),
            ("axial_map", dmap.axial(), 180, "axial (axis of motion)"),
        ):
            x, y, charge = find_pinwheels(z) if np.isfinite(z).any() else ([], [], [])
            shown = type(dmap)(
                z=z,
                pixel_mm=dmap.pixel_mm,
                sigma_mm=dmap.sigma_mm,
                sheet_side_mm=dmap.sheet_side_mm,
            )
            figs.append(
                Figure(
                    f"{block}: {what} map",
                    figures.direction_map_figure(
                        shown, {"x": x, "y": y, "charge": charge}, fig_dir, name
                    ),
                    f"Preferred {what} of the responsive units on the {dmap.sheet_side_mm:.2f} mm sheet, "
                    f"smoothed with a {dmap.sigma_mm} mm Gaussian (hue: direction, brightness: "
                    f"selectivity); pinwheels by sign (winding number of the phase, period {period}).",
                )
            )
        smooth = m["smoothness"]
        if "observed_deg" in smooth:
            figs.append(
                Figure(
                    "Smoothness",
                    figures.curve_figure(
                        np.asarray(smooth["distance_mm"], float),
                        [
                            (np.asarray(smooth["observed_deg"], float), "model", figures.MODEL),
                            (
                                np.asarray(smooth["shuffled_deg"], float),
                                "shuffled positions",
                                figures.SHUFFLED,
                            ),
                        ],
                        "cortical distance (mm)",
                        "preferred-direction difference (deg)",
                        fig_dir,
                        "smoothness",
                        hline=(smooth["chance_deg"], "chance"),
                    ),
                    "Mean difference of preferred direction between pairs of units against their "
                    "distance on the sheet, beside the same units with shuffled positions.",
                )
            )
    ratio_dsi = (_MT_RATIO - 1) / (_MT_RATIO + 1)
    figs.append(
        Figure(
            "Direction tuning of the population",
            figures.histograms_figure(
                tuning,
                untrained["_tuning"][block] if untrained else None,
                (ratio_dsi, "macaque MT pref/null 10.9 (mean) as DSI"),
                fig_dir,
                "tuning_histograms",
            ),
            "Responsive units of the MT block, the trained model beside the untrained network of "
            "the same seed. The macaque marker converts the mean preferred/null ratio of 168 MT "
            "units (Maunsell & Van Essen 1983) with DSI = (r - 1)/(r + 1): a mean of ratios, not "
            "a median DSI, so only a guide.",
        )
    )
    figs.append(
        Figure(
            "Example units",
            figures.example_tuning_figure(tuning, fig_dir, "example_tuning"),
            "Polar tuning curves (responses above the blank) of example units.",
        )
    )
    pc = result["_pattern_motion"]
    figs.append(
        Figure(
            "Pattern and component cells",
            figures.scatter_figure(
                pc.zc[tuning.responsive],
                pc.zp[tuning.responsive],
                "Zc (component)",
                "Zp (pattern)",
                fig_dir,
                "pattern_component",
                criterion=pc.criterion,
            ),
            f"Fisher-z partial correlations with the pattern and component predictions for plaids "
            f"of gratings {pc.plaid_angle_deg:g} deg apart; lines: the 1.28 criterion of Smith, "
            "Majaj & Movshon (2005).",
        )
    )
    sp = result["_speed"]
    tuned = sp.fitted & ~sp.at_bound & tuning.responsive
    figs.append(
        Figure(
            "Speed tuning",
            figures.histogram_figure(
                sp.preferred_speed[tuned],
                np.geomspace(0.25, 64, 17),
                "preferred speed (deg/s)",
                fig_dir,
                "speed_tuning",
                marker=(32.0, "macaque MT peak, 32 deg/s"),
                log_x=True,
            ),
            "Preferred speeds of log-Gaussian fits (Nover et al. 2005) to random-dot responses at "
            "each unit's preferred direction, units tuned inside the speeds shown. Macaque marker: "
            "the peak of MT's preferred-speed distribution (Maunsell & Van Essen 1983); the "
            "model's speeds assume the stated field of view.",
        )
    )
    return figs


def _summary_table(result, untrained, block) -> str:
    t, u = result["blocks"][block], (untrained["blocks"][block] if untrained else None)
    m, ms = result.get("map", {}), result.get("map_shuffled_positions", {})
    mu = untrained.get("map", {}) if untrained else {}

    def get(d, *keys):
        for k in keys:
            if not isinstance(d, dict):
                return None
            d = d.get(k)
        return d

    rows = [
        ["fraction responsive", t["fraction_responsive"], get(u, "fraction_responsive"), None],
        [
            "fraction direction-selective",
            get(t, "class_fractions", "direction-selective"),
            get(u, "class_fractions", "direction-selective"),
            None,
        ],
        [
            "fraction bidirectional",
            get(t, "class_fractions", "bidirectional"),
            get(u, "class_fractions", "bidirectional"),
            None,
        ],
        ["median DSI", t["dsi"]["median"], get(u, "dsi", "median"), None],
        ["median direction CV", t["cv"]["median"], get(u, "cv", "median"), None],
        [
            "median axial ratio |F2|/|F1|",
            t["axial_ratio"]["median"],
            get(u, "axial_ratio", "median"),
            None,
        ],
        ["median FWHM (deg)", t["fwhm_deg"]["median"], get(u, "fwhm_deg", "median"), None],
        [
            "pinwheels per Lambda^2 (direction map)",
            get(m, "direction", "density"),
            get(mu, "direction", "density"),
            get(ms, "direction", "density"),
        ],
        [
            "column spacing Lambda (mm)",
            get(m, "direction", "wavelength_mm"),
            get(mu, "direction", "wavelength_mm"),
            get(ms, "direction", "wavelength_mm"),
        ],
        [
            "pinwheels per Lambda^2 (axial map)",
            get(m, "axial", "density"),
            get(mu, "axial", "density"),
            get(ms, "axial", "density"),
        ],
        [
            "nearest-neighbour direction difference (deg)",
            get(m, "nearest_neighbour_difference_deg", "observed"),
            get(mu, "nearest_neighbour_difference_deg", "observed"),
            get(m, "nearest_neighbour_difference_deg", "shuffled"),
        ],
        [
            "opposite-direction pairs nearby (fraction)",
            get(m, "opposite_direction_fraction", "observed"),
            get(mu, "opposite_direction_fraction", "observed"),
            get(m, "opposite_direction_fraction", "shuffled"),
        ],
        [
            "pattern cells (fraction)",
            get(result, "pattern_motion", "class_fractions", "pattern"),
            get(untrained, "pattern_motion", "class_fractions", "pattern"),
            None,
        ],
        [
            "component cells (fraction)",
            get(result, "pattern_motion", "class_fractions", "component"),
            get(untrained, "pattern_motion", "class_fractions", "component"),
            None,
        ],
        [
            "median preferred speed (deg/s)",
            get(result, "speed", "preferred_speed_deg_per_s", "median"),
            get(untrained, "speed", "preferred_speed_deg_per_s", "median"),
            None,
        ],
    ]
    return table(["MT block " + block, "model", "untrained", "shuffled positions"], rows)


def run_analysis(
    sources: list[Path], out: Path, *, over_training: bool = False, device=None
) -> dict[str, Any]:
    """Analyse the sources into `out`; returns what metrics.json holds."""
    if over_training:
        if len(sources) != 1:
            raise AnalysisError("--over-training takes one run folder")
        folder = resolve_checkpoint(sources[0]).parent
        sources = [p for _, p in list_checkpoints(folder)]
    targets = [load_target(s) for s in sources]
    device = device or pick_device(targets[0].config)
    block = targets[0].config.analysis.block
    results = []
    for i, target in enumerate(targets):
        print(f"analysing {target.label} ...", file=sys.stderr)
        results.append(analyze_target(target, device, shuffled_positions=(i == 0)))
    main, target = results[0], targets[0]
    print("analysing the untrained control ...", file=sys.stderr)
    untrained = analyze_target(untrained_control(target), device, shuffled_positions=False)

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
        },
        "mt_block": block,
        "model": clean(_public(main)),
        "untrained": clean(_public(untrained)),
        "macaque": [b.__dict__ for b in BASELINES],
        "no_macaque_baseline": [m.__dict__ for m in NO_BASELINE],
    }
    figs = _figures(out, main, untrained, block)
    sections = [
        ("MT block beside its controls", _summary_table(main, untrained, block)),
        (
            "Every block",
            table(
                [
                    "block",
                    "fraction responsive",
                    "fraction direction-selective",
                    "median DSI",
                    "median CV",
                    "median axial ratio",
                ],
                [
                    [
                        b,
                        s["fraction_responsive"],
                        s["class_fractions"].get("direction-selective"),
                        s["dsi"]["median"],
                        s["cv"]["median"],
                        s["axial_ratio"]["median"],
                    ]
                    for b, s in main["blocks"].items()
                ],
            ),
        ),
    ]
    if len(results) > 1:
        key = "step" if over_training else "alpha"
        rows = []
        for t, r in zip(targets, results, strict=True):
            a = t.alpha if not isinstance(t.alpha, dict) else t.alpha.get(block)
            rows.append({"label": t.label, "alpha": a, "step": t.step, **_row(r, block)})
        rows.sort(key=lambda r: (r[key] is None, r[key]))
        metrics["over_training" if over_training else "alpha_sweep"] = clean(rows)
        names = [k for k in rows[0] if k not in ("label", "alpha", "step")]
        sections.append(
            (
                "Metrics against " + ("training step" if over_training else "alpha"),
                table(
                    [key, "run", *names],
                    [[r[key], r["label"], *[r[n] for n in names]] for r in rows],
                ),
            )
        )
        x = np.asarray([np.nan if r[key] is None else r[key] for r in rows], float)
        for n in names:
            y = np.asarray([np.nan if r[n] is None else r[n] for r in rows], float)
            figs.append(
                Figure(
                    f"{n} against {key}",
                    figures.curve_figure(
                        x, [(y, n, figures.MODEL)], key, n, out / "figures", f"{key}_{n}"
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


def run_analyze(args: argparse.Namespace) -> int:
    try:
        device = torch.device(args.device) if args.device else None
        run_analysis(args.sources, args.out, over_training=args.over_training, device=device)
    except USER_ERRORS as err:
        print(f"stdann analyze: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    print(args.out / "report.html")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze",
        help="MT physiology of trained models: metrics.json, figures, report.html",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("sources", nargs="+", type=Path, help="run folders or checkpoints")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument(
        "--over-training", action="store_true", help="analyse every checkpoint of one run"
    )
    p.add_argument("--device", default=None, help="cpu or cuda (default: as the run)")
    p.set_defaults(run=run_analyze)
