"""report.html opens in a browser: every image loads and nothing errors."""

from __future__ import annotations

import numpy as np
import pytest

from browser import chromium, open_in_chromium
from stdann.analysis import figures
from stdann.analysis.maps import direction_map
from stdann.analysis.report import Figure, table, write_report
from stdann.analysis.synthetic_maps import planted_pinwheels

pytestmark = pytest.mark.skipif(
    chromium() is None, reason="Chromium is not installed (make setup installs it where it can)"
)


def test_report_opens_with_every_image_loaded_and_no_errors(tmp_path):
    rng = np.random.default_rng(0)
    coords = rng.random((4000, 2)) * 5.0
    z = planted_pinwheels((50, 50), [(20, 20, 1), (35, 30, -1)])
    vector = z[(coords[:, 1] * 10).astype(int), (coords[:, 0] * 10).astype(int)]
    dmap = direction_map(coords, vector / np.abs(vector), 5.0, 0.1, 0.2)
    figs = [
        Figure(
            "map",
            figures.direction_map_figure([("model", dmap, None)], tmp_path / "f", "map"),
            "a map",
        ),
        Figure(
            "hist",
            figures.histogram_figure(
                [(rng.random(100), "model", figures.MODEL)], 10, "x", tmp_path / "f", "hist"
            ),
            "a histogram",
        ),
    ]
    page = write_report(
        tmp_path / "report.html",
        "stdann: test",
        "a note",
        [("numbers", table(["a", "b"], [[1.0, None], ["x", 0.5]]))],
        figs,
    )
    seen = open_in_chromium(page, tmp_path)
    assert seen["images"] == 2
    assert seen["broken"] == 0
    assert seen["errors"] == []


def test_the_check_sees_a_broken_image(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>x</title></head><body>"
        '<img src="data:image/png;base64,AAAA"></body></html>'
    )
    seen = open_in_chromium(page, tmp_path)
    assert seen["images"] == 1 and seen["broken"] == 1
