"""The sweep's table against alpha as Markdown (`alpha_sweep.md`), the very
table a README or a paper's notes take: one column per alpha, then the
untrained network and the alpha = 0 network (the recipe's stage 1) of the
same seeds, one row per metric of the MT block. A cell is the median over
seeds with its range where there are several; a value that is not defined
(a map with no characteristic wavelength has no column spacing) says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Rows: (label, the row's key in `metrics.json`'s `alpha_sweep`, number format).
ROWS: tuple[tuple[str, str, str], ...] = (
    ("direction-selective fraction", "fraction_direction_selective", "{:.2f}"),
    ("median DSI, raw", "median_dsi", "{:.2f}"),
    ("median direction CV, raw", "median_cv", "{:.2f}"),
    ("median axial ratio F2/F1", "median_axial_ratio", "{:.2f}"),
    ("preferred-direction resultant (units)", "preferred_direction_resultant", "{:.2f}"),
    ("direction-selective channels", "direction_selective_channels", "{:.0f}"),
    ("preferred-direction resultant over those channels", "channel_resultant", "{:.2f}"),
    ("smallest 45-degree bin (fraction of units)", "smallest_45deg_fraction", "{:.3f}"),
    (
        "neighbours' direction difference, nearest bin (deg)",
        "nearby_direction_difference_deg",
        "{:.0f}",
    ),
    (
        "the same on shuffled positions (deg)",
        "nearby_direction_difference_shuffled_deg",
        "{:.0f}",
    ),
    ("spectral peak clarity (>= 5: a column spacing)", "spectral_peak_clarity", "{:.2f}"),
    ("column spacing Lambda (mm)", "column_spacing_mm", "{:.2f}"),
    ("pinwheels per Lambda^2", "pinwheel_density", "{:.2f}"),
    ("pinwheel density, 95% interval", "pinwheel_density_ci95", "{:.2f}"),
    ("labelled probe, kNN top-1", "probe_top1", "{:.2f}"),
)

UNDEFINED = "not defined"


def _cell(value: Any, fmt: str) -> str:
    """A median over seeds ({median, min, max, runs}) or None, formatted."""
    if not isinstance(value, dict):
        return UNDEFINED
    text = fmt.format(value["median"])
    if value["runs"] > 1:
        text += f" ({fmt.format(value['min'])}-{fmt.format(value['max'])})"
    return text


def _interval(entry: dict[str, Any], prefix: str, fmt: str) -> str:
    low, high = (entry.get(f"{prefix}pinwheel_density_ci95_{s}") for s in ("low", "high"))
    if not isinstance(low, dict) or not isinstance(high, dict):
        return UNDEFINED
    # With several seeds: the median of the lower and of the upper ends.
    return f"{fmt.format(low['median'])}-{fmt.format(high['median'])}"


def markdown_table(over_seeds: list[dict[str, Any]]) -> str:
    """The Markdown table of `over_seeds` (per alpha, the median and range over
    seeds of every row key of the sweep, as `metrics.json` holds it)."""
    entries = [e for e in over_seeds if e.get("alpha") is not None]
    if not entries:
        raise ValueError("the sweep has no run with one alpha for the MT block")
    columns: list[tuple[str, dict[str, Any], str]] = [
        (f"alpha {e['alpha']:g}", e, "") for e in entries
    ]
    # The controls are the same networks for every alpha of a seed (the sweep
    # shares stages 1-3): taken from the first alpha's runs.
    columns += [
        ("untrained", entries[0], "untrained_"),
        ("stage 1 (alpha = 0)", entries[0], "alpha_0_"),
    ]
    seeds = sorted({s for e in entries for s in e["seeds"]})
    lines = [
        "| layer3.1 | " + " | ".join(name for name, _, _ in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for label, key, fmt in ROWS:
        cell: Callable[[dict[str, Any], str], str]
        if key == "pinwheel_density_ci95":
            cell = lambda e, p, fmt=fmt: _interval(e, p, fmt)  # noqa: E731
        else:
            cell = lambda e, p, key=key, fmt=fmt: _cell(e.get(p + key), fmt)  # noqa: E731
        lines.append(f"| {label} | " + " | ".join(cell(e, p) for _, e, p in columns) + " |")
    note = f"Seeds {', '.join(map(str, seeds))}: " + (
        "each cell one run."
        if len(seeds) == 1
        else "each cell the median over seeds (range); the pinwheel density's interval, "
        "the medians over seeds of its two ends."
    )
    return "\n".join(lines) + "\n\n" + note + "\n"
