"""The sweep's Markdown table: medians over seeds with their range, the
controls beside, and undefined values said as such."""

from __future__ import annotations

import pytest

from stdann.analysis.commands import over_seeds
from stdann.analysis.sweep_table import ROWS, UNDEFINED, markdown_table


def run(alpha, seed, dsi, spacing=None, ci=(None, None)):
    row = {"label": f"alpha-{alpha:g}-seed-{seed}", "alpha": alpha, "seed": seed, "step": 8}
    for _, key, _ in ROWS:
        if key != "pinwheel_density_ci95":
            row[key] = 0.5
    row["median_dsi"] = dsi
    row["column_spacing_mm"] = spacing
    row["pinwheel_density"] = None if spacing is None else 3.1
    row["pinwheel_density_ci95_low"], row["pinwheel_density_ci95_high"] = ci
    row["untrained_median_dsi"] = 0.2 + seed / 100
    row["alpha_0_median_dsi"] = 0.3
    return row


def cells(table: str, label: str) -> list[str]:
    line = next(x for x in table.splitlines() if x.startswith(f"| {label} |"))
    return [c.strip() for c in line.strip("|").split("|")][1:]


def test_one_column_per_alpha_then_the_controls_with_medians_and_ranges_over_seeds():
    rows = [
        run(0.0, 0, 0.10),
        run(0.25, 0, 0.50, spacing=1.2, ci=(2.0, 4.0)),
        run(0.25, 1, 0.30, spacing=1.4, ci=(2.5, 4.5)),
        run(0.25, 2, 0.40, spacing=1.6, ci=(1.5, 3.5)),
        run(0.0, 1, 0.20),
        run(0.0, 2, 0.30),
    ]
    table = markdown_table(over_seeds(rows))
    header = table.splitlines()[0]
    assert header == "| layer3.1 | alpha 0 | alpha 0.25 | untrained | stage 1 (alpha = 0) |"
    assert cells(table, "median DSI, raw") == [
        "0.20 (0.10-0.30)",
        "0.40 (0.30-0.50)",
        "0.21 (0.20-0.22)",
        "0.30 (0.30-0.30)",
    ]
    assert cells(table, "column spacing Lambda (mm)") == [
        UNDEFINED,
        "1.40 (1.20-1.60)",
        UNDEFINED,
        UNDEFINED,
    ]
    assert cells(table, "pinwheel density, 95% interval") == [
        UNDEFINED,
        "2.00-4.00",
        UNDEFINED,
        UNDEFINED,
    ]
    assert "each cell the median over seeds (range)" in table
    assert table.rstrip().endswith("the medians over seeds of its two ends.")


def test_one_seed_gives_plain_numbers():
    table = markdown_table(over_seeds([run(1.0, 0, 0.125), run(0.1, 0, 0.25)]))
    assert cells(table, "median DSI, raw") == ["0.25", "0.12", "0.20", "0.30"]
    assert "Seeds 0: each cell one run." in table


def test_a_sweep_without_alphas_is_refused():
    with pytest.raises(ValueError, match="no run with one alpha"):
        markdown_table([])
