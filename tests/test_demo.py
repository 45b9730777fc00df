"""The demo pipeline on a micro configuration: recipe, analysis, a report a browser opens."""

from __future__ import annotations

import json
import re

import pytest

from browser import chromium, open_in_chromium
from stdann.cli import main as stdann_main
from train_fixtures import CONFIGS, MICRO_RECIPE, micro_corpus

pytestmark = pytest.mark.slow


def no_nan(text: str):
    def refuse(constant: str):
        raise AssertionError(f"metrics.json holds {constant}")

    return json.loads(text, parse_constant=refuse)


def test_demo_pipeline_writes_every_artefact_and_a_report_that_opens(tmp_path):
    corpus = micro_corpus(tmp_path / "videos")
    sets = [*MICRO_RECIPE, f"data.root={corpus}"]
    run = tmp_path / "demo"
    recipe = ["recipe", "--config", str(CONFIGS / "demo.yaml"), "--out", str(run), "--no-progress"]
    assert stdann_main(recipe + [a for s in sets for a in ("--set", s)]) == 0
    out = run / "analysis"
    assert stdann_main(["analyze", str(run), "--out", str(out)]) == 0
    metrics = no_nan((out / "metrics.json").read_text())
    # Every number the report's tables show is in metrics.json.
    model = metrics["model"]
    for key in ("blocks", "map", "pattern_motion", "speed"):
        assert key in model, key
    assert set(model["blocks"]) == {f"layer{i}.{j}" for i in range(1, 5) for j in (0, 1)}
    for key in (
        "direction",
        "axial",
        "smoothness",
        "opposite_direction_fraction",
        "nearest_neighbour_difference_deg",
    ):
        assert key in model["map"], key
    # Every control of a recipe run is found and analysed alike.
    controls = metrics["controls"]
    assert controls["untrained"]["blocks"]["layer3.1"]["dsi"]["n"] >= 0
    assert controls["untrained"]["step"] == 0
    # The alpha = 0 control is stage 1, on the final (stage-3) positions.
    assert controls["alpha_0"]["label"].endswith("(alpha = 0, stage 1)")
    assert "1-pretrain" in controls["alpha_0"]["checkpoint"]
    assert "4-topographic" in model["checkpoint"]
    assert "direction" in controls["alpha_0"]["map"]
    assert "direction" in controls["shuffled_positions"]["map"]
    html_text = (out / "report.html").read_text()
    for label in ("untrained", "alpha = 0 (stage 1) on the final positions", "shuffled positions"):
        assert label in html_text, label
    assert metrics["scale"]["paper_scale"] is False
    assert any(b["quantity"] == "mt_surface_area" for b in metrics["macaque"])
    assert metrics["no_macaque_baseline"]
    for name in (
        "direction_map",
        "direction_maps_controls",
        "axial_maps_controls",
        "preferred_directions",
        "tuning_histograms",
        "example_tuning",
        "pattern_component",
        "speed_tuning",
    ):
        assert (out / "figures" / f"{name}.png").exists(), name
        assert (out / "figures" / f"{name}.svg").exists(), name
    assert (out / "tuning" / "layer3.1.npz").exists()
    # One grating set per config: the swap stage's positions were optimised on
    # responses to the very gratings the analysis measures tuning with.
    swap_table = (run / "3-swap" / "responses" / "stimuli.csv").read_text()
    assert swap_table == (out / "responses" / "stimuli.csv").read_text()
    # MICRO: 4 directions x 1 phase; paper.yaml: 2 spatial x 2 temporal frequencies.
    assert swap_table.count("\n") == 4 * 2 * 2 * 1 + 2  # and the header and the blank
    assert (out / "responses" / "layer3.1.npy").exists()
    html = (out / "report.html").read_text()
    assert "reduced scale" in html
    pngs = len(list((out / "figures").glob("*.png")))
    assert len(re.findall(r"data:image/png;base64,", html)) == pngs
    if chromium() is None:
        pytest.skip("Chromium is not installed: the report was not opened in a browser")
    seen = open_in_chromium(out / "report.html", tmp_path)
    assert seen == {"images": pngs, "broken": 0, "errors": []}
