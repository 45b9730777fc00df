"""benches/table.py: the README's ratio table from pytest-benchmark's JSON (no bench runs)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

TABLE = Path(__file__).resolve().parent.parent / "benches" / "table.py"


@pytest.fixture(scope="module")
def table():
    spec = importlib.util.spec_from_file_location("bench_table", TABLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bench(group, case, role, median, items=1, unit="call", note=""):
    return {
        "group": group,
        "name": f"test_{case}",
        "extra_info": {"case": case, "role": role, "items": items, "unit": unit, "note": note},
        "stats": {"median": median, "min": median / 2, "rounds": 3},
    }


DATA = {
    "machine_info": {
        "processor": "x86_64",
        "python_version": "3.11.2",
        "cpu": {"brand_raw": "Test CPU 9000", "count": 2},
    },
    "datetime": "2026-12-01T10:00:00+00:00",
    "command": "pytest benches --benchmark-only --benchmark-json=.benchmarks/bench.json",
    "benchmarks": [
        # 40 clips in 0.2 s against 10 clips in 0.25 s: 5 ms against 25 ms a clip, 5x.
        bench("video", "native", "stdann", 0.2, 40, "clip"),
        bench("video", "decode limit", "other", 0.16, 40, "clip"),
        bench("video", "PyAV", "peer", 0.25, 10, "clip"),
        bench("video", "whole run", "other", 3.0, 1, "run"),
        # the same work per call: the ratio of the medians.
        bench("finder", "native", "stdann", 0.0015, note="1024x1024"),
        bench("finder", "NumPy", "peer", 0.048),
        # no peer: no ratio.
        bench("loader", "feed", "stdann", 2.0, 3200, "clip"),
    ],
}


def test_ratios_are_the_peers_time_per_unit_over_the_case(table):
    groups = table.rows(DATA)
    assert list(groups) == ["video", "finder", "loader"]
    video = table.ratios(groups["video"])
    assert video[0] == pytest.approx(5.0)
    assert video[1] == pytest.approx(0.025 / 0.004)
    assert video[2] == pytest.approx(1.0)
    assert video[3] is None  # another unit than the peer's
    assert table.ratios(groups["finder"]) == [pytest.approx(32.0), pytest.approx(1.0)]
    assert table.ratios(groups["loader"]) == [None]


def test_table_text(table):
    text = table.table(DATA)
    assert text.startswith("Measured 2026-12-01 on Test CPU 9000, 2 cores, Python 3.11.2, with")
    assert "`pytest benches --benchmark-only --benchmark-json=.benchmarks/bench.json`" in text
    assert "| native | stdann | 200 ms | 40 clips | 5 ms | 200 clips/s | 5x |" in text
    assert "| PyAV | peer | 250 ms | 10 clips | 25 ms | 40 clips/s | 1x |" in text
    assert "| native (1024x1024) | stdann | 1.5 ms | 1 call | 1.5 ms | 667 calls/s | 32x |" in text
    assert "| feed | stdann | 2 s | 3,200 clips | 625 us | 1,600 clips/s |  |" in text
    assert "--bench-quick" not in text


def test_readme_is_rewritten_between_the_markers_only(table, tmp_path, capsys):
    data = tmp_path / "bench.json"
    data.write_text(json.dumps(DATA))
    readme = tmp_path / "README.md"
    readme.write_text(f"# Benches\n\nbefore\n{table.START}\nold table\n{table.END}\nafter\n")
    assert table.main([str(data), "--print", "--readme", str(readme)]) == 0
    assert capsys.readouterr().out == table.table(DATA)
    assert "old table" in readme.read_text()  # --print writes nothing
    assert table.main([str(data), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text == (f"# Benches\n\nbefore\n{table.START}\n{table.table(DATA)}{table.END}\nafter\n")
    assert {p.name for p in tmp_path.iterdir()} == {"bench.json", "README.md"}  # no temp left
    # a second run gives the same file
    assert table.main([str(data), "--readme", str(readme)]) == 0
    assert readme.read_text() == text


def test_missing_markers_leave_the_file_alone(table, tmp_path):
    data = tmp_path / "bench.json"
    data.write_text(json.dumps(DATA))
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    with pytest.raises(ValueError, match="markers"):
        table.main([str(data), "--readme", str(readme)])
    assert readme.read_text() == "no markers\n"
    assert {p.name for p in tmp_path.iterdir()} == {"bench.json", "README.md"}
