"""Sheets, retinotopic placement, neighbourhoods and the positions files."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from stdann.cli import main as stdann_main
from stdann.config import ConfigError, load_config
from stdann.model import BLOCK_NAMES, block_output_shapes, r3d18_backbone, unit_shapes
from stdann.topo import (
    FORMAT_VERSION,
    BlockPositions,
    CorticalSheet,
    PositionsFileError,
    PositionsMismatchError,
    initial_positions,
    load_positions,
    neighbourhood_size,
    retinotopic_positions,
    sample_neighbourhoods,
    save_positions,
)

CONFIG = "configs/paper.yaml"


def small_config(*overrides: str):
    """The paper config on 8 x 56 x 56 clips with few neighbourhoods."""
    small = ["data.frames=8", "data.size=56", "topography.neighbourhoods.per_block=20"]
    return load_config(CONFIG, [*small, *overrides])


def test_unit_counts_of_the_eight_blocks_for_16x112x112_clips():
    counts = {b: math.prod(s) for b, s in unit_shapes(16, 112, 112).items()}
    assert counts == {
        "layer1.0": 200_704,
        "layer1.1": 200_704,
        "layer2.0": 100_352,
        "layer2.1": 100_352,
        "layer3.0": 50_176,
        "layer3.1": 50_176,
        "layer4.0": 25_088,
        "layer4.1": 25_088,
    }


def test_block_output_shapes_match_a_forward_pass():
    import torch

    model = r3d18_backbone().eval()
    seen = {}
    for name in BLOCK_NAMES:
        model.get_submodule(name).register_forward_hook(
            lambda _m, _i, out, name=name: seen.__setitem__(name, tuple(out.shape[1:]))
        )
    with torch.no_grad():
        features = model(torch.zeros(1, 3, 8, 56, 56))
    assert features.shape == (1, 512)
    assert seen == block_output_shapes(8, 56, 56)
    # At 16 x 112 x 112 the shapes follow from the same arithmetic; check it on
    # the meta device, where no memory is touched.
    meta = r3d18_backbone().to("meta")
    out = {}
    for name in BLOCK_NAMES:
        meta.get_submodule(name).register_forward_hook(
            lambda _m, _i, o, name=name: out.__setitem__(name, tuple(o.shape[1:]))
        )
    meta(torch.zeros(1, 3, 16, 112, 112, device="meta"))
    assert out == block_output_shapes(16, 112, 112)


def test_config_errors_say_what_is_wrong(tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"areas\.MT: neighbourhood width 2.1 mm is larger than the sheet side 1 mm",
    ):
        load_config(CONFIG, ["topography.areas.MT.sheet_area_mm2=1.0"])
    with open(CONFIG) as f:
        data = yaml.safe_load(f)
    del data["topography"]["alpha"]
    path = tmp_path / "no-alpha.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"missing key topography\.alpha"):
        load_config(path)
    path = tmp_path / "broken.yaml"
    path.write_text("areas: [unclosed")
    with pytest.raises(ConfigError, match=r"broken\.yaml"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"cannot read .*nope\.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_cortical_sheet_side_is_the_square_root_of_the_area():
    assert CorticalSheet("V1", 1180.0, 2.7).side_mm == pytest.approx(34.351128, rel=1e-6)


def test_retinotopic_positions_put_each_channel_inside_its_grid_cell():
    rng = np.random.default_rng(0)
    c, h, w = 5, 4, 8
    side = 8.0
    coords = retinotopic_positions((c, h, w), side, jitter=0.0, rng=rng)
    assert coords.shape == (c * h * w, 2)
    units = np.arange(c * h * w).reshape(c, h, w)
    for row in range(h):
        for col in range(w):
            xy = coords[units[:, row, col].ravel()]
            # Cell (row, col) covers x in [col, col + 1) * side / w, y in [row, row + 1) * side / h.
            assert np.all((xy[:, 0] >= col * side / w) & (xy[:, 0] < (col + 1) * side / w))
            assert np.all((xy[:, 1] >= row * side / h) & (xy[:, 1] < (row + 1) * side / h))
    jittered = retinotopic_positions((c, h, w), side, jitter=0.1, rng=rng)
    assert jittered.min() >= 0 and jittered.max() <= side
    assert not np.array_equal(jittered, coords)


def test_neighbourhoods_hold_units_of_one_window():
    rng = np.random.default_rng(1)
    coords = rng.random((4000, 2)) * 10.0
    k = neighbourhood_size(4000, 10.0, 2.0, max_units=500, min_fill=0.75)
    assert k == 120  # 0.75 x 4000 x (2 / 10)^2
    nb = sample_neighbourhoods(coords, 10.0, 2.0, 30, 500, 0.75, rng)
    assert nb.shape == (30, 120) and nb.dtype == np.int32
    for row in nb:
        assert len(set(row.tolist())) == 120
        span = coords[row].max(0) - coords[row].min(0)
        assert np.all(span < 2.0)
    capped = sample_neighbourhoods(coords, 10.0, 5.0, 3, 500, 0.75, rng)
    assert capped.shape == (3, 500)


def test_neighbourhood_wider_than_the_sheet_is_refused():
    with pytest.raises(
        PositionsMismatchError, match=r"width 3.0 mm is larger than the sheet side 2 mm"
    ):
        sample_neighbourhoods(np.zeros((10, 2)), 2.0, 3.0, 1, 500, 0.75, np.random.default_rng(0))


def test_initial_positions_round_trip_through_npz(tmp_path):
    positions = initial_positions(small_config())
    assert set(positions) == set(BLOCK_NAMES)
    paths = save_positions(tmp_path, positions)
    assert sorted(p.name for p in paths) == sorted(f"{b}.npz" for b in BLOCK_NAMES)
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind
    loaded = load_positions(tmp_path, unit_shapes(8, 56, 56))
    for block, p in positions.items():
        q = loaded[block]
        assert (q.block, q.area, q.unit_shape) == (p.block, p.area, p.unit_shape)
        np.testing.assert_array_equal(q.coordinates, p.coordinates)
        np.testing.assert_array_equal(q.neighbourhoods, p.neighbourhoods)
        assert q.sheet_side_mm == p.sheet_side_mm
        assert q.neighbourhood_width_mm == p.neighbourhood_width_mm
    with np.load(tmp_path / "layer3.1.npz", allow_pickle=False) as f:
        assert int(f["format_version"]) == FORMAT_VERSION


def test_positions_are_checked_against_the_model(tmp_path):
    save_positions(tmp_path, initial_positions(small_config()))
    with pytest.raises(
        PositionsMismatchError, match=r"layer1\.0\.npz.*\(64, 28, 28\).*50176 units.*\(64, 56, 56\)"
    ):
        load_positions(tmp_path, unit_shapes(8, 112, 112))


def test_dataclass_checks_shapes():
    good = dict(
        block="layer3.1",
        area="MT",
        unit_shape=(2, 3, 3),
        coordinates=np.full((18, 2), 0.5),
        neighbourhoods=np.zeros((2, 4), dtype=np.int32),
        sheet_side_mm=1.0,
        neighbourhood_width_mm=0.5,
    )
    BlockPositions(**good)
    with pytest.raises(PositionsMismatchError, match=r"\(17, 2\), expected \(18, 2\)"):
        BlockPositions(**{**good, "coordinates": np.zeros((17, 2))})
    with pytest.raises(PositionsMismatchError, match="outside"):
        BlockPositions(**{**good, "neighbourhoods": np.full((2, 4), 18)})
    with pytest.raises(PositionsMismatchError, match="leave the sheet"):
        BlockPositions(**{**good, "coordinates": np.full((18, 2), 1.5)})
    with pytest.raises(PositionsMismatchError, match="does not fit"):
        BlockPositions(**{**good, "neighbourhood_width_mm": 2.0})


def test_bad_positions_files_name_the_file(tmp_path):
    p = BlockPositions(
        block="layer4.1",
        area="LIP",
        unit_shape=(2, 2, 2),
        coordinates=np.full((8, 2), 0.25),
        neighbourhoods=np.arange(8, dtype=np.int32).reshape(2, 4),
        sheet_side_mm=1.0,
        neighbourhood_width_mm=0.5,
    )
    path = p.save(tmp_path / "ok.npz")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(path.read_bytes()[:100])
    with pytest.raises(PositionsFileError, match=r"truncated\.npz.*corrupt"):
        BlockPositions.load(truncated)
    old = tmp_path / "old.npz"
    np.savez(old, coordinates=p.coordinates)
    with pytest.raises(PositionsFileError, match=r"old\.npz.*no format_version"):
        BlockPositions.load(old)
    future = tmp_path / "future.npz"
    with np.load(path) as f:
        np.savez(future, **{**{k: f[k] for k in f.files}, "format_version": np.int64(99)})
    with pytest.raises(PositionsFileError, match=r"future\.npz.*format 99"):
        BlockPositions.load(future)
    pickled = tmp_path / "pickled.npz"
    with np.load(path) as f:
        np.savez(
            pickled, **{**{k: f[k] for k in f.files}, "block": np.array([{"a": 1}], dtype=object)}
        )
    with pytest.raises(PositionsFileError, match=r"pickled\.npz.*pickle"):
        BlockPositions.load(pickled)
    with pytest.raises(PositionsFileError, match=r"missing\.npz"):
        BlockPositions.load(tmp_path / "missing.npz")
    assert zipfile.is_zipfile(path)


def test_permuted_moves_units_and_remaps_neighbourhoods():
    coords = np.array([[0.1, 0.1], [0.9, 0.1], [0.1, 0.9], [0.9, 0.9]])
    p = BlockPositions("layer4.1", "LIP", (1, 2, 2), coords, np.array([[0, 1], [2, 3]]), 1.0, 0.5)
    # Unit 0 moves to position 3 and unit 3 to position 0.
    q = p.permuted(np.array([3, 1, 2, 0]))
    np.testing.assert_array_equal(q.coordinates, coords[[3, 1, 2, 0]])
    # The window that held positions 0 and 1 now holds units 3 and 1.
    np.testing.assert_array_equal(q.neighbourhoods, [[3, 1], [2, 0]])
    with pytest.raises(PositionsMismatchError, match="not a permutation"):
        p.permuted(np.array([0, 0, 1, 2]))


def test_cli_positions_init_writes_every_block(tmp_path, capsys):
    cfg_path = tmp_path / "topo.yaml"
    small = {"base": str(Path(CONFIG).resolve()), "data": {"frames": 8, "size": 56}}
    cfg_path.write_text(yaml.safe_dump(small))
    assert (
        stdann_main(
            [
                "positions",
                "init",
                "--config",
                str(cfg_path),
                "--set",
                "topography.neighbourhoods.per_block=20",
                "--out",
                str(tmp_path / "pos"),
            ]
        )
        == 0
    )
    assert len(capsys.readouterr().out.split()) == 8
    loaded = load_positions(tmp_path / "pos", unit_shapes(8, 56, 56))
    assert loaded["layer3.1"].area == "MT"
    assert (
        stdann_main(
            ["positions", "init", "--config", str(tmp_path / "none.yaml"), "--out", str(tmp_path)]
        )
        == 2
    )
    (line,) = capsys.readouterr().err.splitlines()
    assert (
        line.startswith("stdann positions init: ConfigError: cannot read ") and "none.yaml" in line
    )


def test_single_array_file_is_not_positions(tmp_path):
    path = tmp_path / "array.npz"
    with open(path, "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(PositionsFileError, match=r"array\.npz.*not an \.npz archive"):
        BlockPositions.load(path)
