"""`stdann export` writes a model folder that `stdann.load_model` and `stdann analyze`
read back exactly; `stdann analyze --weights` takes r3d_18 weights in torchvision's
format; the model card quotes metrics.json and nothing else."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file
from torch import nn
from torchvision.models.video import r3d_18

import stdann
from stdann.analysis.targets import (
    UNKNOWN_DATA,
    AnalysisError,
    alpha_zero_control,
    load_target,
    load_weights_target,
    untrained_control,
    weights_positions,
)
from stdann.cli import main as stdann_main
from stdann.config import load_config
from stdann.export import (
    CARD_FILE,
    METRICS_FILE,
    MODEL_FILE,
    POSITIONS_FILE,
    ModelFolderError,
    backbone_from_weights,
    key_metrics,
    load_model,
    lookup,
    metrics_table,
    model_card,
    save_weights,
    weights_metadata,
)
from stdann.model.backbone import r3d18_backbone, unit_shapes
from stdann.topo import (
    BlockPositions,
    PositionsFileError,
    PositionsMismatchError,
    initial_positions,
    load_positions,
)
from stdann.topo.positions import (
    SAFETENSORS_FORMAT,
    load_positions_safetensors,
    save_positions_safetensors,
)
from stdann.train.checkpoint import backbone_from_checkpoint, file_sha256, resolve_checkpoint
from train_fixtures import CONFIGS, MICRO, micro_corpus

#: The micro run's analysis: few gratings, dots a 32-px clip can show.
MICRO_ANALYSIS = [
    "recipe.gratings.directions=8",
    "recipe.gratings.phases_deg=[0]",
    "analysis.dot_speeds_deg_per_s=[1,2,4,8,16]",
    "analysis.batch_size=64",
]
FIELDS = (
    "block",
    "area",
    "unit_shape",
    "sheet_side_mm",
    "neighbourhood_width_mm",
)


def micro_config(*extra: str):
    return load_config(CONFIGS / "tiny.yaml", [*MICRO, *MICRO_ANALYSIS, *extra])


def assert_same_positions(got: dict, expected: dict) -> None:
    assert list(got) == list(expected)
    for block, p in expected.items():
        q = got[block]
        for field in FIELDS:
            assert getattr(q, field) == getattr(p, field), (block, field)
        assert np.array_equal(q.coordinates, p.coordinates), block
        assert q.coordinates.dtype == p.coordinates.dtype, block
        assert np.array_equal(q.neighbourhoods, p.neighbourhoods), block
        assert q.neighbourhoods.dtype == p.neighbourhoods.dtype, block


def assert_same_state(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for k, v in expected.items():
        assert torch.equal(got[k], v), k


# ---- positions as safetensors -------------------------------------------------


def test_positions_round_trip_through_safetensors_exactly(tmp_path):
    config = micro_config()
    positions = initial_positions(config)
    # A block of known values: a sheet side with every digit of a double, and
    # 16-bit neighbourhood indices, whose dtype must come back as it went.
    side = float(np.sqrt(50.0))
    known = BlockPositions(
        block="layer3.1",
        area="MT",
        unit_shape=(2, 1, 2),
        coordinates=[[0.0, side], [1.0 / 3.0, 2.0], [side, 0.0], [0.1, 0.2]],
        neighbourhoods=np.array([[0, 1, 2], [3, 2, 1]], dtype=np.int16),
        sheet_side_mm=side,
        neighbourhood_width_mm=2.1,
    )
    positions["layer3.1"] = known
    path = save_positions_safetensors(tmp_path / "positions.safetensors", positions)
    got = load_positions_safetensors(path)
    assert_same_positions(got, positions)
    assert got["layer3.1"].sheet_side_mm == 7.0710678118654755
    assert got["layer3.1"].coordinates[1].tolist() == [1.0 / 3.0, 2.0]
    assert got["layer3.1"].neighbourhoods.dtype == np.int16
    assert got["layer1.0"].neighbourhoods.dtype == np.int32

    # The file itself: tensors per block, the rest as str -> str metadata.
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        metadata = f.metadata()
        assert f.get_tensor("layer3.1.neighbourhoods").tolist() == [[0, 1, 2], [3, 2, 1]]
        assert len(list(f.keys())) == 2 * len(positions)
    assert metadata["format"] == SAFETENSORS_FORMAT
    assert json.loads(metadata["blocks"]) == list(positions)
    assert json.loads(metadata["layer3.1"]) == {
        "area": "MT",
        "unit_shape": [2, 1, 2],
        "sheet_side_mm": side,
        "neighbourhood_width_mm": 2.1,
    }


def test_positions_safetensors_checked_against_unit_shapes(tmp_path):
    config = micro_config()
    positions = initial_positions(config)
    path = save_positions_safetensors(tmp_path / "p.safetensors", positions)
    shapes = unit_shapes(4, 32, 32, channels=4)
    assert_same_positions(load_positions_safetensors(path, shapes), positions)
    with pytest.raises(PositionsMismatchError, match=r"made for units \(4, 16, 16\) .* \(8, 16"):
        load_positions_safetensors(path, unit_shapes(4, 32, 32, channels=8))
    one = {"layer3.1": positions["layer3.1"]}
    save_positions_safetensors(tmp_path / "one.safetensors", one)
    with pytest.raises(PositionsFileError, match=r"one\.safetensors': no positions of layer1\.0"):
        load_positions_safetensors(tmp_path / "one.safetensors", shapes)


def test_bad_positions_safetensors_files_name_the_file(tmp_path):
    with pytest.raises(PositionsFileError, match=r"'.*none\.safetensors': no such positions"):
        load_positions_safetensors(tmp_path / "none.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file at all")
    with pytest.raises(PositionsFileError, match=r"'.*junk\.safetensors': not a readable"):
        load_positions_safetensors(junk)
    save_file({"w": torch.zeros(2)}, tmp_path / "weights.safetensors")
    with pytest.raises(PositionsFileError, match=r"not a stdann positions file"):
        load_positions_safetensors(tmp_path / "weights.safetensors")


# ---- weights in torchvision's format ------------------------------------------


def test_exported_weights_load_into_torchvision_r3d18_at_width_64(tmp_path):
    torch.manual_seed(0)
    backbone = r3d18_backbone(64)
    config = micro_config("model.width=64")
    path = save_weights(tmp_path / "model.safetensors", backbone, config, step=7)
    model = r3d_18()
    result = model.load_state_dict(load_file(path), strict=False)
    # Every weight of the backbone has torchvision's name; only the classifier is not there.
    assert result.missing_keys == ["fc.weight", "fc.bias"]
    assert result.unexpected_keys == []
    with pytest.raises(RuntimeError, match="Missing key"):
        r3d_18().load_state_dict(load_file(path), strict=True)
    for k, v in backbone.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    metadata = weights_metadata(path)
    assert metadata["architecture"] == "torchvision r3d_18"
    assert metadata["width"] == "64" and metadata["step"] == "7"
    assert metadata["clip"] == "4x32x32"


def test_narrow_weights_do_not_fit_torchvision_r3d18(tmp_path):
    config = micro_config("model.width=8")
    path = save_weights(tmp_path / "m.safetensors", r3d18_backbone(8), config)
    with pytest.raises(RuntimeError, match=r"size mismatch for stem\.0\.weight"):
        r3d_18().load_state_dict(load_file(path), strict=False)
    assert weights_metadata(path)["architecture"] == "r3d_18 at width 8"


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_torchvision_weights_give_the_same_features(tmp_path, suffix):
    """A random torchvision r3d_18 saved as torchvision saves it: the backbone
    read back computes its pooled features exactly."""
    torch.manual_seed(1)
    model = r3d_18().eval()
    path = tmp_path / f"r3d18{suffix}"
    if suffix == ".pth":
        torch.save(model.state_dict(), path)
    else:
        save_file(model.state_dict(), path)
    backbone, width = backbone_from_weights(path)
    assert width == 64
    expected = {k: v for k, v in model.state_dict().items() if not k.startswith("fc.")}
    assert_same_state(backbone.state_dict(), expected)
    clip = torch.randn(1, 3, 4, 16, 16)
    model.fc = nn.Identity()
    with torch.no_grad():
        assert torch.equal(backbone.eval()(clip), model(clip))


def test_weights_that_are_not_r3d18_say_what_differs(tmp_path):
    torch.save(nn.Conv3d(3, 4, 3).state_dict(), tmp_path / "conv.pth")
    with pytest.raises(ModelFolderError, match=r"'.*conv\.pth': no 5-D 'stem\.0\.weight'"):
        backbone_from_weights(tmp_path / "conv.pth")
    state = r3d18_backbone(4).state_dict()
    del state["layer2.0.conv1.0.weight"]
    state["head.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "cut.pt")
    with pytest.raises(
        ModelFolderError,
        match=r"does not fit r3d_18 at width 4 .*missing \['layer2\.0\.conv1\.0\.weight'\]; "
        r"unexpected \['head\.weight'\]",
    ):
        backbone_from_weights(tmp_path / "cut.pt")
    torch.save({"format": "stdann-checkpoint-1", "moco": {}}, tmp_path / "ckpt.pt")
    with pytest.raises(ModelFolderError, match=r"a stdann checkpoint, not a state dict"):
        backbone_from_weights(tmp_path / "ckpt.pt")
    (tmp_path / "w.bin").write_bytes(b"")
    with pytest.raises(ModelFolderError, match=r"must be a \.safetensors, \.pth or \.pt file"):
        backbone_from_weights(tmp_path / "w.bin")
    with pytest.raises(ModelFolderError, match=r"no such weights file"):
        backbone_from_weights(tmp_path / "none.pth")


# ---- the model card -----------------------------------------------------------


def network(dsi, density, *, responsive=0.5, reasons=None) -> dict:
    return {
        "blocks": {
            "layer3.1": {
                "fraction_responsive": responsive,
                "class_fractions": {"direction-selective": 0.25},
                "dsi": {"n": 10, "median": dsi, "median_ci95": [0.2, 0.4]},
                "cv": {"n": 10, "median": 0.75},
                "preferred_direction": {"resultant": 0.125},
            }
        },
        "map": {
            "direction": {
                "defined": density is not None,
                "wavelength_mm": None if density is None else 1.5,
                "density": density,
                "density_ci95": None if density is None else [2.5, 3.5],
                "reasons": reasons or {},
            }
        },
    }


#: A metrics.json of known numbers: a model with a map, an untrained network
#: without one, no alpha = 0 network, and shuffled positions.
METRICS = {
    "checkpoint_sha256": "ab" * 32,
    "mt_block": "layer3.1",
    "scale": {"paper_scale": False},
    "warnings": ["model, layer3.1: dominated"],
    "model": network(0.3, 3.0),
    "controls": {
        "untrained": network(
            0.1,
            None,
            reasons={"wavelength_mm": "peak clarity 1.2 < 5", "density": "peak clarity 1.2 < 5"},
        ),
        "alpha_0": {"reason": "not part of a recipe run"},
        "shuffled_positions": {"map": network(0.0, None)["map"]},
    },
}


def test_lookup_gives_the_value_or_the_reason_metrics_json_gives():
    model, untrained = METRICS["model"], METRICS["controls"]["untrained"]
    assert lookup(model, ("map", "direction", "density")) == (3.0, None)
    assert lookup(untrained, ("map", "direction", "density")) == (None, "peak clarity 1.2 < 5")
    assert lookup({"reason": "none here"}, ("blocks", "layer3.1", "dsi")) == (None, "none here")
    assert lookup({"dsi": {"n": 0, "median": None}}, ("dsi", "median")) == (
        None,
        "no unit has a value",
    )
    assert lookup({"class_fractions": {"bidirectional": None}}, ("class_fractions", "x")) == (
        None,
        "no responsive units",
    )
    assert lookup({"map": {}}, ("map", "x")) == (None, "null in metrics.json, no reason given")
    # Where a result gives a reason at some level, it holds for what lies below.
    assert lookup({"map": {"reason": "no positions for layer3.1"}}, ("map", "direction", "x")) == (
        None,
        "no positions for layer3.1",
    )


def test_key_metrics_quote_metrics_json_beside_the_controls():
    got = key_metrics(METRICS)
    assert got["median_dsi"] == {
        "model": 0.3,
        "untrained": 0.1,
        "alpha_0": "not defined: not part of a recipe run",
    }
    assert got["pinwheel_density"] == {
        "model": 3.0,
        "untrained": "not defined: peak clarity 1.2 < 5",
        "alpha_0": "not defined: not part of a recipe run",
        "shuffled_positions": "not defined: null in metrics.json, no reason given",
    }
    assert got["direction_map_defined"]["model"] is True
    assert got["direction_map_defined"]["shuffled_positions"] is False
    assert got["fraction_direction_selective"]["model"] == 0.25
    table = metrics_table(METRICS)
    rows = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines()}
    assert rows["median DSI [95% interval]"] == (
        "| median DSI [95% interval] | 0.3 [0.2, 0.4] | 0.1 [0.2, 0.4] | "
        "not defined: not part of a recipe run | the model's (only the positions are shuffled) |"
    )
    assert rows["pinwheels per Lambda^2 [95% interval]"].startswith(
        "| pinwheels per Lambda^2 [95% interval] | 3 [2.5, 3.5] | not defined: peak clarity"
    )


def test_model_card_front_matter_and_text():
    config = micro_config("topography.alpha=0.5")
    card = model_card(
        config,
        name="micro",
        step=2,
        positions_source="trained on (the run's positions/ folder)",
        source_sha256="cd" * 32,
        metrics=METRICS,
    )
    front, body = re.fullmatch(r"---\n(.*?)\n---\n(.*)", card, re.DOTALL).groups()
    meta = yaml.safe_load(front)
    assert meta["library_name"] == "stdann"
    s = meta["stdann"]
    assert (s["data"], s["steps"], s["alpha"], s["width"]) == ("builtin", 2, 0.5, 4)
    assert s["source_checkpoint_sha256"] == "cd" * 32
    assert s["analysis"]["key_metrics"] == key_metrics(METRICS)
    assert s["analysis"]["warnings"] == ["model, layer3.1: dominated"]
    assert "arXiv:2605.11718" in meta["cite"]
    assert "stdann.load_model" in body and "stdann analyze" in body
    assert "do not fit torchvision's r3d_18 class" in body
    assert metrics_table(METRICS) in body
    assert "reduced scale" in body and "Warning from the analysis: model, layer3.1" in body
    # Not analysed: no numbers at all.
    bare = model_card(
        load_config(CONFIGS / "paper.yaml"),
        name="paper",
        step=None,
        positions_source="retinotopic",
        source_sha256=None,
        metrics=None,
    )
    meta = yaml.safe_load(bare.split("---\n")[1])
    assert meta["stdann"]["analysis"] is None and meta["stdann"]["steps"] is None
    assert "Not analysed" in bare and "| quantity |" not in bare
    assert 'model.load_state_dict(load_file("model.safetensors"), strict=False)' in bare


# ---- export and load a micro run ----------------------------------------------


@pytest.fixture(scope="module")
def micro_run(tmp_path_factory):
    """A two-step run of the micro network with the spatial loss (so with positions/)."""
    root = tmp_path_factory.mktemp("export")
    corpus = micro_corpus(root / "videos")
    sets = [*MICRO, f"data.root={corpus}", "train.steps=2", *MICRO_ANALYSIS]
    command = ["train", "--config", str(CONFIGS / "tiny.yaml"), "--out", str(root / "run")]
    assert stdann_main([*command, "--no-progress", *(a for s in sets for a in ("--set", s))]) == 0
    return root / "run"


def export(source, out, *extra) -> int:
    return stdann_main(["export", str(source), "--out", str(out), *map(str, extra)])


def test_export_then_load_gives_the_same_weights_positions_and_config(micro_run, tmp_path, capsys):
    out = tmp_path / "model"
    assert export(micro_run, out) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert sorted(p.name for p in out.iterdir()) == [
        CARD_FILE,
        "config.yaml",
        MODEL_FILE,
        POSITIONS_FILE,
    ]
    checkpoint = resolve_checkpoint(micro_run)
    backbone, config = backbone_from_checkpoint(checkpoint)

    model = stdann.load_model(out)
    assert stdann.load_model is load_model
    assert_same_state(model.backbone.state_dict(), backbone.state_dict())
    assert not model.backbone.training
    shapes = unit_shapes(4, 32, 32, channels=4)
    assert_same_positions(model.positions, load_positions(micro_run / "positions", shapes))
    assert model.config.to_dict() == config.to_dict()
    backbone_, positions, _ = model  # unpacks as the card shows
    assert backbone_ is model.backbone and positions is model.positions

    metadata = weights_metadata(out / MODEL_FILE)
    assert metadata["source_checkpoint_sha256"] == file_sha256(checkpoint)
    assert metadata["step"] == "2" and metadata["architecture"] == "r3d_18 at width 4"
    card = (out / CARD_FILE).read_text()
    assert "Not analysed" in card and "steps: 2" in card

    # The analysis reads the folder as it is: same network, positions, config.
    target = load_target(out)
    assert_same_state(target.backbone.state_dict(), backbone.state_dict())
    assert_same_positions(target.positions, model.positions)
    assert target.step == 2 and target.label == "model"
    assert target.checkpoint == out / MODEL_FILE
    assert target.positions_source.startswith("the model folder's positions.safetensors: trained")
    assert alpha_zero_control(target, out) == (
        "a model folder holds one network, not its recipe's stage 1"
    )
    untrained = untrained_control(target)
    run_untrained = untrained_control(load_target(micro_run))
    assert_same_state(untrained.backbone.state_dict(), run_untrained.backbone.state_dict())

    # The earlier form: an --out ending in .safetensors is the weights alone.
    assert export(micro_run, tmp_path / "w.safetensors") == 0
    assert_same_state(load_file(tmp_path / "w.safetensors"), backbone.state_dict())


def test_export_takes_the_analysis_of_this_checkpoint_only(micro_run, tmp_path, capsys, caplog):
    sha = file_sha256(resolve_checkpoint(micro_run))
    analysis = tmp_path / "analysis.json"
    analysis.write_text(json.dumps({**METRICS, "checkpoint_sha256": sha}))

    out = tmp_path / "model"
    assert export(micro_run, out, "--metrics", analysis) == 0
    assert (out / METRICS_FILE).read_bytes() == analysis.read_bytes()
    card = (out / CARD_FILE).read_text()
    assert metrics_table(METRICS) in card
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["stdann"]["analysis"]["key_metrics"]["median_dsi"]["model"] == 0.3

    # Another checkpoint's analysis: refused when named, left out when found.
    other = tmp_path / "other.json"
    other.write_text(json.dumps(METRICS))
    capsys.readouterr()
    assert export(micro_run, out, "--metrics", other) == 2
    err = capsys.readouterr().err
    assert re.search(
        r"^stdann export: ModelFolderError: '.*other\.json': the analysis of "
        r"another checkpoint",
        err,
        re.M,
    ), err
    assert (out / METRICS_FILE).read_bytes() == analysis.read_bytes()  # untouched

    found = tmp_path / "found"
    (found / "analysis").mkdir(parents=True)
    (found / "checkpoints").symlink_to(micro_run / "checkpoints", target_is_directory=True)
    (found / "positions").symlink_to(micro_run / "positions", target_is_directory=True)
    (found / "analysis" / METRICS_FILE).write_text(json.dumps(METRICS))
    assert export(found, out) == 0
    assert "it is the analysis of another checkpoint" in caplog.text
    # Re-exported without an analysis: the earlier metrics.json does not stay behind.
    assert not (out / METRICS_FILE).exists()
    assert "Not analysed" in (out / CARD_FILE).read_text()
    (found / "analysis" / METRICS_FILE).write_text(
        json.dumps({**METRICS, "checkpoint_sha256": sha})
    )
    assert export(found, out) == 0
    assert json.loads((out / METRICS_FILE).read_text())["checkpoint_sha256"] == sha


def test_export_refuses_a_folder_that_is_not_a_model_folder(micro_run, tmp_path, capsys):
    assert export(micro_run, micro_run) == 2
    err = capsys.readouterr().err
    assert re.search(
        r"^stdann export: ModelFolderError: '.*run': not empty and not a model "
        r"folder",
        err,
        re.M,
    ), err
    assert export(tmp_path / "nothing", tmp_path / "m") == 2
    assert "no checkpoint file, and no run folder" in capsys.readouterr().err
    with pytest.raises(ModelFolderError, match=r"'.*run': no model\.safetensors: not a stdann"):
        load_model(micro_run)


def test_a_model_folder_whose_files_disagree(micro_run, tmp_path):
    out = tmp_path / "model"
    assert export(micro_run, out) == 0
    text = (out / "config.yaml").read_text()
    (out / "config.yaml").write_text(re.sub(r"(?m)^  width: 4$", "  width: 8", text))
    with pytest.raises(ModelFolderError, match=r"weights of width 4, but .* says model.width 8"):
        load_model(out)
    (out / "config.yaml").write_text(re.sub(r"(?m)^  size: 32$", "  size: 64", text))
    with pytest.raises(ModelFolderError, match=r"positions\.safetensors'.* made for units"):
        load_model(out)
    with pytest.raises(AnalysisError, match=r"made for units"):
        load_target(out)


# ---- analysing weights stdann did not train ------------------------------------


@pytest.fixture(scope="module")
def torchvision_weights(tmp_path_factory):
    """A random torchvision r3d_18 saved with its classifier, as torchvision saves it,
    and a micro config for its analysis."""
    root = tmp_path_factory.mktemp("torchvision")
    torch.manual_seed(2)
    model = r3d_18()
    torch.save(model.state_dict(), root / "r3d18.pth")
    save_file(model.state_dict(), root / "r3d18.safetensors")
    (root / "micro.yaml").write_text(micro_config().to_yaml())
    return root


def test_weights_target_takes_its_width_from_the_weights(torchvision_weights):
    root = torchvision_weights
    target = load_weights_target(root / "r3d18.pth", config=root / "micro.yaml")
    assert target.config.model.width == 64  # the config said 4
    assert target.config.data.root == UNKNOWN_DATA and target.alpha == 0.0
    assert target.config.data.size == 32 and target.step is None
    assert target.label == "r3d18" and target.checkpoint_sha256 == file_sha256(root / "r3d18.pth")
    assert target.positions_source == (
        "retinotopic, made from 'micro.yaml' at width 64 (the weights carry none)"
    )
    expected = initial_positions(target.config)
    assert_same_positions(target.positions, expected)
    assert target.positions["layer3.1"].unit_shape == (256, 4, 4)
    assert alpha_zero_control(target, root / "r3d18.pth") == (
        "'r3d18.pth' was not trained by stdann: no recipe stage 1"
    )
    untrained = untrained_control(target)
    torch.manual_seed(target.config.seed)
    assert_same_state(untrained.backbone.state_dict(), r3d18_backbone(64).state_dict())
    other = load_weights_target(root / "r3d18.safetensors", config=root / "micro.yaml")
    assert_same_state(other.backbone.state_dict(), target.backbone.state_dict())

    paper = load_weights_target(root / "r3d18.pth")
    assert paper.config.data.size == 112 and paper.config.data.frames == 16
    assert paper.positions_source.startswith("retinotopic, made from configs/paper.yaml")


def test_weights_target_positions_from_a_folder(torchvision_weights, tmp_path):
    root = torchvision_weights
    config = micro_config("model.width=64")
    positions = initial_positions(config, seed=5)
    save_positions_safetensors(tmp_path / "model" / POSITIONS_FILE, positions)
    target = load_weights_target(
        root / "r3d18.pth", config=root / "micro.yaml", positions=tmp_path / "model"
    )
    assert_same_positions(target.positions, positions)
    assert target.positions_source == "from 'model' (the weights carry none)"
    # Positions made for the micro network (width 4) do not fit width 64.
    narrow = initial_positions(micro_config())
    from stdann.topo import save_positions

    save_positions(tmp_path / "narrow", narrow)
    with pytest.raises(AnalysisError, match=r"layer1\.0\.npz.* made for units \(4, 16, 16\)"):
        weights_positions(tmp_path / "narrow", unit_shapes(4, 32, 32, channels=64))
    with pytest.raises(AnalysisError, match=r"neither positions\.safetensors nor a folder"):
        weights_positions(tmp_path, unit_shapes(4, 32, 32, channels=64))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], r"nothing to analyse"),
        (["run", "--positions", "x"], r"--positions and --config go with --weights"),
        (["--weights", "w.pth", "run"], r"--weights is analysed alone"),
        (["--weights", "conv.pth"], r"'.*conv\.pth': no 5-D 'stem\.0\.weight'"),
    ],
)
def test_analyze_options_that_do_not_go_together(tmp_path, capsys, argv, message):
    torch.save(nn.Conv3d(3, 4, 3).state_dict(), tmp_path / "conv.pth")
    argv = [str(tmp_path / a) if a.endswith(".pth") else a for a in argv]
    assert stdann_main(["analyze", *argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert re.search(f"^stdann analyze: AnalysisError: {message}", err, re.M), err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_analyze_torchvision_weights_end_to_end(torchvision_weights, tmp_path, capsys):
    root = torchvision_weights
    out = tmp_path / "analysis"
    argv = ["analyze", "--arch", "r3d_18", "--weights", str(root / "r3d18.safetensors")]
    assert stdann_main([*argv, "--config", str(root / "micro.yaml"), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out / "report.html")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["checkpoint"] == str(root / "r3d18.safetensors")
    assert metrics["scale"]["network"] == "torchvision r3d_18"
    assert metrics["scale"]["data"] == UNKNOWN_DATA and metrics["scale"]["steps"] is None
    assert metrics["positions"].startswith("retinotopic, made from 'micro.yaml' at width 64")
    assert "not trained by stdann" in metrics["controls"]["alpha_0"]["reason"]
    mt = metrics["model"]["blocks"]["layer3.1"]
    assert mt["units"] == 256 * 4 * 4
    assert metrics["controls"]["untrained"]["blocks"]["layer3.1"]["units"] == mt["units"]


@pytest.mark.slow
def test_analyze_an_exported_model_folder(micro_run, tmp_path, capsys):
    """The folder analysed gives the run's own responses, on the run's positions."""
    from stdann.analysis.analyze import record
    from stdann.stimuli import grating_set

    folder = tmp_path / "model"
    assert export(micro_run, folder) == 0
    out = tmp_path / "analysis"
    assert stdann_main(["analyze", str(folder), "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["checkpoint"] == str(folder / MODEL_FILE)
    assert metrics["positions"].startswith("the model folder's positions.safetensors")
    assert metrics["model"]["step"] == 2
    assert "a model folder holds one network" in metrics["controls"]["alpha_0"]["reason"]
    run = load_target(micro_run)
    expected = record(run, grating_set(run.config), ["layer3.1"], torch.device("cpu"))
    got = np.load(out / "responses" / "layer3.1.npy")
    np.testing.assert_allclose(got, expected["layer3.1"], rtol=1e-5, atol=1e-6)
