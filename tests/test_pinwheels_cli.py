"""The batch CLI `stdann-pinwheels`: records, error records, exit status."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stdann.analysis import pinwheel_density
from stdann.analysis.synthetic_maps import angles_of, planted_pinwheels, ring_field

CLI = Path(sys.executable).parent / "stdann-pinwheels"


def run(*args: str | Path) -> tuple[int, str, str]:
    done = subprocess.run(
        [str(CLI), *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )
    return done.returncode, done.stdout, done.stderr


def records(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


@pytest.fixture(scope="module")
def maps(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("maps")
    z = ring_field(128, 12.0, 21)
    np.save(d / "a_direction.npy", angles_of(z))
    np.save(d / "b_orientation32.npy", angles_of(z, 180.0).astype(np.float32))
    np.save(d / "c_fortran.npy", np.asfortranarray(angles_of(z)))
    np.save(d / "d_complex.npy", z)
    np.savez_compressed(d / "e_pair.npz", direction=angles_of(z), orientation=angles_of(z, 180))
    (d / "notes.txt").write_text("not a map")
    return d


@pytest.fixture(scope="module")
def bad(tmp_path_factory, maps) -> Path:
    d = tmp_path_factory.mktemp("bad")
    good = (maps / "a_direction.npy").read_bytes()
    (d / "truncated.npy").write_bytes(good[:500])
    (d / "text.npy").write_text("hello")
    np.save(d / "wrong_dtype.npy", np.zeros((8, 8), dtype=bool))
    np.save(d / "three_d.npy", np.zeros((2, 8, 8)))
    np.save(d / "all_nan.npy", np.full((16, 16), np.nan))
    (d / "broken.npz").write_bytes(b"PK\x03\x04broken")
    return d


def test_records_match_the_python_api(maps):
    code, out, _ = run(maps / "a_direction.npy", "--pixel-mm", "0.05", "--margin-px", "3")
    assert code == 0
    (rec,) = records(out)
    expected = pinwheel_density(np.load(maps / "a_direction.npy"), pixel_mm=0.05, margin_px=3)
    assert rec["path"] == str(maps / "a_direction.npy")
    assert rec["shape"] == [128, 128]
    assert (rec["n_plus"], rec["n_minus"]) == (expected.n_plus, expected.n_minus)
    assert rec["n_total"] == expected.n_total
    assert rec["wavelength_px"] == pytest.approx(expected.wavelength_px)
    assert rec["wavelength_mm"] == pytest.approx(expected.wavelength_mm)
    assert rec["area_px"] == expected.area_px
    assert rec["area_mm2"] == pytest.approx(expected.area_mm2)
    assert rec["density"] == pytest.approx(expected.density)
    assert rec["error"] is None


def test_a_folder_gives_one_record_per_map_in_order(maps):
    code, out, err = run(maps, "--key", "direction")
    assert code == 0, err
    recs = records(out)
    names = [Path(r["path"]).name for r in recs]
    assert names == sorted(p.name for p in maps.glob("*.np[yz]"))
    by_name = {Path(r["path"]).name: r for r in recs}
    # The same field read from float64, Fortran order, complex and .npz.
    counts = {n: by_name[n]["n_total"] for n in by_name if n != "b_orientation32.npy"}
    assert len(set(counts.values())) == 1
    assert by_name["e_pair.npz"]["key"] == "direction"


def test_orientation_period_and_csv(maps):
    code, out, _ = run(maps / "b_orientation32.npy", "--period", "180", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 1
    expected = pinwheel_density(np.load(maps / "b_orientation32.npy"), period=180.0)
    assert int(rows[0]["n_total"]) == expected.n_total
    assert float(rows[0]["period"]) == 180.0
    assert rows[0]["error"] == ""


def test_positions_list_every_pinwheel(tmp_path):
    planted = [(10.5, 12.5, 1), (30.5, 20.5, -1)]
    np.save(tmp_path / "planted.npy", planted_pinwheels((40, 48), planted))
    code, out, _ = run(tmp_path / "planted.npy", "--positions")
    assert code == 0
    (rec,) = records(out)
    got = sorted(rec["pinwheels"])
    assert len(got) == len(planted)
    for (x, y, q), (px, py, pq) in zip(got, sorted(planted), strict=True):
        assert q == pq
        assert np.hypot(x - px, y - py) < 0.1
    code, out, _ = run(tmp_path / "planted.npy", "--positions", "--format", "csv")
    (row,) = csv.DictReader(io.StringIO(out))
    assert len(json.loads(row["pinwheels"])) == 2


def test_every_bad_file_is_an_error_record_and_the_run_goes_on(maps, bad):
    code, out, err = run(bad, maps / "a_direction.npy", maps / "e_pair.npz", bad / "absent.npy")
    assert code == 1
    recs = {Path(r["path"]).name: r for r in records(out)}
    reasons = {
        "truncated.npy": "truncated",
        "text.npy": "not a NumPy .npy array",
        "wrong_dtype.npy": "unsupported dtype '|b1'",
        "three_d.npy": "expected a 2-D map",
        "all_nan.npy": "NaN",
        "broken.npz": "not a valid .npz archive",
        "e_pair.npz": "--key",
        "absent.npy": "cannot read the file",
    }
    for name, words in reasons.items():
        assert words in recs[name]["error"], recs[name]
        assert recs[name]["density"] is None
        assert name in err
    assert recs["a_direction.npy"]["error"] is None
    code, out, _ = run(maps / "e_pair.npz", "--key", "nope")
    assert code == 1
    assert "no array 'nope'" in records(out)[0]["error"]


def test_globs_are_expanded_and_empty_ones_reported(maps):
    code, out, _ = run(str(maps / "*_direction.npy"))
    assert code == 0
    assert [Path(r["path"]).name for r in records(out)] == ["a_direction.npy"]
    code, out, _ = run(str(maps / "zzz*.npy"))
    assert code == 1
    assert "no file matches" in records(out)[0]["error"]


def test_jobs_do_not_change_the_output(maps):
    one = run(maps, "--key", "orientation", "--jobs", "1")
    two = run(maps, "--key", "orientation", "--jobs", "2")
    assert one[0] == two[0] == 0
    assert one[1] == two[1]


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--period", "90", "m.npy"],
        ["--pixel-mm", "-1", "m.npy"],
        ["--jobs", "0", "m.npy"],
        ["--format", "xml", "m.npy"],
    ],
)
def test_usage_errors_exit_with_2(args):
    code, _, err = run(*args)
    assert code == 2
    assert err


def test_help_shows_examples():
    code, out, _ = run("--help")
    assert code == 0
    assert "Examples:" in out and "--period 180" in out and "--jobs" in out
