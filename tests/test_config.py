"""The experiment config: base chains, overrides, typed errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stdann.config import (
    ConfigError,
    config_differences,
    load_config,
)
from stdann.model.backbone import BLOCK_NAMES, unit_shapes
from stdann.topo import block_sheets, initial_positions

CONFIGS = Path(__file__).parent.parent / "configs"


def write(tmp_path: Path, data: dict, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"base": str(CONFIGS / "paper.yaml"), **data}))
    return path


def test_every_shipped_config_loads():
    for path in sorted(CONFIGS.glob("*.yaml")):
        config = load_config(path)
        assert config.data.views >= 2


def test_base_chain_and_overrides_apply_in_order(tmp_path):
    path = write(tmp_path, {"train": {"steps": 7}, "model": {"width": 16}})
    config = load_config(path, ["train.steps=9", "topography.alpha={layer3.1: 0.5}"])
    assert config.train.steps == 9
    assert config.model.width == 16
    # Untouched values come from the base.
    assert config.moco.queue == load_config(CONFIGS / "paper.yaml").moco.queue
    assert config.topography.alpha == {"layer3.1": 0.5}
    assert config.data.augment.scale == (0.2, 0.766)


def test_unknown_key_missing_key_and_wrong_type_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key train\.stepz"):
        load_config(write(tmp_path, {"train": {"stepz": 3}}))
    with pytest.raises(ConfigError, match=r"train\.steps: expected an integer, got 'many'"):
        load_config(CONFIGS / "paper.yaml", ["train.steps=many"])
    with pytest.raises(ConfigError, match=r"moco\.symmetric: expected true or false"):
        load_config(CONFIGS / "paper.yaml", ["moco.symmetric=1"])
    with pytest.raises(ConfigError, match=r"data\.augment\.scale: expected 2 values"):
        load_config(CONFIGS / "paper.yaml", ["data.augment.scale=[0.2]"])
    alone = tmp_path / "alone.yaml"
    alone.write_text("seed: 1\n")
    with pytest.raises(ConfigError, match="missing key data"):
        load_config(alone)
    with pytest.raises(ConfigError, match="not of the form"):
        load_config(CONFIGS / "paper.yaml", ["train.steps"])
    with pytest.raises(ConfigError, match=r"moco\.batch_norm"):
        load_config(CONFIGS / "paper.yaml", ["moco.batch_norm=magic"])


def test_base_cycle_is_an_error(tmp_path):
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "a.yaml")


def test_saved_config_round_trips(tmp_path):
    config = load_config(CONFIGS / "tiny.yaml")
    path = tmp_path / "saved.yaml"
    path.write_text(config.to_yaml())
    assert load_config(path) == config


def test_differences_ignore_run_length_and_logging():
    a = load_config(CONFIGS / "tiny.yaml").to_dict()
    b = load_config(CONFIGS / "tiny.yaml", ["train.steps=5", "train.log_every=1"]).to_dict()
    assert config_differences(a, b) == []
    c = load_config(CONFIGS / "tiny.yaml", ["moco.temperature=0.3", "seed=3"]).to_dict()
    assert config_differences(a, c) == ["moco.temperature", "seed"]


def test_topography_section_drives_the_sheets_and_unit_shapes():
    config = load_config(CONFIGS / "tiny.yaml")
    sheets = block_sheets(config.topography)
    assert sheets["layer1.0"].neighbourhood_width_mm == 0.1
    assert sheets["layer3.1"].area == "MT"
    positions = initial_positions(config)
    d = config.data
    assert (
        positions["layer1.0"].unit_shape
        == unit_shapes(d.frames, d.size, d.size, channels=config.model.width)["layer1.0"]
    )


def test_a_saved_config_from_an_earlier_stdann_takes_the_keys_it_lacks_from_paper_yaml():
    from stdann.config import config_from_saved

    saved = load_config(CONFIGS / "tiny.yaml").to_dict()
    del saved["analysis"]["responsive_fraction"]
    del saved["train"]["checkpoint_every_minutes"]
    config, filled = config_from_saved(saved)
    assert filled == ["analysis.responsive_fraction", "train.checkpoint_every_minutes"]
    paper = load_config(CONFIGS / "paper.yaml")
    assert config.analysis.responsive_fraction == paper.analysis.responsive_fraction
    # What the checkpoint holds is kept: tiny's width, not paper's.
    assert config.model.width == 8
    assert config_from_saved(load_config(CONFIGS / "tiny.yaml").to_dict())[1] == []
    saved["analysis"]["no_such_key"] = 1
    with pytest.raises(ConfigError, match="no_such_key"):
        config_from_saved(saved)


@pytest.mark.parametrize(
    ("written", "value"),
    [("1e-4", 1e-4), ("1E4", 1e4), (".5", 0.5), ("5.", 5.0), ("2.5E-3", 2.5e-3), ("3", 3.0)],
)
def test_numbers_as_people_write_them_in_files_and_overrides(tmp_path, written, value):
    # PyYAML reads YAML 1.1, where 1e-4 is a string; stdann reads YAML 1.2's numbers.
    path = tmp_path / "c.yaml"
    path.write_text(
        f"base: {CONFIGS / 'tiny.yaml'}\noptim:\n  weight_decay: {written}\n"
        f"  lr_per_64_clips: {written}\n"
    )
    config = load_config(path)
    assert config.optim.weight_decay == value
    assert config.optim.lr_per_64_clips == value
    override = load_config(CONFIGS / "tiny.yaml", [f"optim.weight_decay={written}"])
    assert override.optim.weight_decay == value
    # Words stay words, and a list of such numbers reads as numbers.
    named = load_config(CONFIGS / "tiny.yaml", [f"recipe.gratings.phases_deg=[0, {written}]"])
    assert named.recipe.gratings.phases_deg == [0.0, value]


def test_data_list_is_null_by_default_and_checked():
    paper = load_config(CONFIGS / "paper.yaml")
    assert paper.data.list is None and paper.data.list_subset is None
    hmdb = [
        "data.root=/data/hmdb51",
        "data.list=testTrainMulti_7030_splits/*_test_split1.txt",
        "data.list_subset=train",
    ]
    config = load_config(CONFIGS / "paper.yaml", hmdb)
    assert config.data.list == "testTrainMulti_7030_splits/*_test_split1.txt"
    assert config.data.list_subset == "train"
    with pytest.raises(ConfigError, match=r"data\.list: the built-in corpus has no list files"):
        load_config(CONFIGS / "paper.yaml", ["data.list=trainlist01.txt"])
    with pytest.raises(ConfigError, match=r"data\.list_subset: train, test or null, not 'val'"):
        load_config(CONFIGS / "paper.yaml", [*hmdb, "data.list_subset=val"])
    with pytest.raises(ConfigError, match=r"data\.list_subset picks .* which is null"):
        load_config(CONFIGS / "paper.yaml", ["data.root=/data/hmdb51", "data.list_subset=test"])
    with pytest.raises(ConfigError, match=r"data\.list: a list file relative to data\.root"):
        load_config(CONFIGS / "paper.yaml", ["data.root=/data/ucf101", "data.list=''"])
    with pytest.raises(ConfigError, match=r"data\.list: expected str \| None, got 3"):
        load_config(CONFIGS / "paper.yaml", ["data.root=/data/ucf101", "data.list=3"])


def test_a_saved_config_without_the_swaps_min_fill_takes_paper_yamls():
    from stdann.config import config_from_saved

    saved = load_config(CONFIGS / "tiny.yaml").to_dict()
    del saved["topography"]["swap"]["min_fill"]
    config, filled = config_from_saved(saved)
    assert filled == ["topography.swap.min_fill"]
    paper = load_config(CONFIGS / "paper.yaml")
    assert config.topography.swap.min_fill == paper.topography.swap.min_fill
    # A knob of the same name elsewhere is another value, kept as saved.
    assert (
        config.topography.neighbourhoods.min_fill
        == saved["topography"]["neighbourhoods"]["min_fill"]
    )


#: Every block on the sheet of an area no config defines.
ALL_IN_MST = "{" + ", ".join(f"{b}: MST" for b in BLOCK_NAMES) + "}"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("topography.blocks={layer1.0: retina}", r"topography\.blocks: missing layer1\.1"),
        ("topography.blocks.conv9=MT", r"unknown blocks \['conv9'\]"),
        (f"topography.blocks={ALL_IN_MST}", r"topography\.blocks\.layer1\.0: no area 'MST'"),
        ("topography.areas.V1.sheet_area_mm2=0", r"areas\.V1\.sheet_area_mm2 must be > 0"),
        ("topography.areas.V1.neighbourhood_width_mm=-1", r"V1\.neighbourhood_width_mm must"),
        ("topography.alpha={layer9.9: 0.5}", r"topography\.alpha: unknown blocks \['layer9\.9'\]"),
        ("topography.alpha=-1", "finite and >= 0"),
        ("topography.alpha=.nan", "finite and >= 0"),
        ("topography.spatial_loss.kind=cosine", "rel or abs"),
        ("topography.neighbourhoods.max_units=2", r"max_units must be >= 3"),
        ("topography.neighbourhoods.min_fill=0", r"neighbourhoods\.min_fill must be in \(0, 1\]"),
        ("topography.placement.jitter=-0.1", r"jitter must be >= 0"),
        ("topography.swap.steps_per_window=0", "steps_per_window >= 1"),
        ("topography.swap.min_fill=1.5", r"swap\.min_fill must be in \[0, 1\]"),
    ],
)
def test_topography_is_checked_with_the_rest_of_the_config(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(CONFIGS / "paper.yaml", [override])
