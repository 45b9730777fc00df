"""`stdann analyze`: known answers from a hand-built network of motion-energy
filters, the command end to end on a micro run, and bad input that fails clearly."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
import torch
from torch import nn

from stdann.analysis.analyze import analyze_target, clean, print_warnings, warnings_of
from stdann.analysis.commands import _row
from stdann.analysis.targets import AnalysisError, AnalysisTarget, check_block, load_target
from stdann.cli import main as stdann_main
from stdann.config import load_config
from stdann.model.backbone import BLOCK_NAMES, unit_shapes
from stdann.topo import BlockPositions, initial_positions, sample_neighbourhoods, save_positions
from stdann.topo.sheets import block_sheets
from stdann.train.checkpoint import load_checkpoint
from train_fixtures import CONFIGS, MICRO, micro_corpus

# ---- a network with known answers -------------------------------------------

#: Clips of 32 px over the recipe's 8 deg (4 px/deg) at 12.5 Hz.
SIZE, FRAMES = 32, 8
FIELD_OF_VIEW_DEG, FRAME_RATE_HZ = 8.0, 12.5
#: 8 px a cycle; a quarter cycle a frame, so that 4 frames are one whole period.
SF_CPD, TF_HZ = 0.5, 3.125
KERNEL_FRAMES = 4
#: The Gabors' Gaussian envelope (a quarter cycle) and the kernel's half side in pixels.
SIGMA_DEG, HALF_SIDE_PX = 0.5, 6

#: The MT block's channels: each the sum of motion energies (direction deg, weight).
#: A unit with the opposite direction's energy mixed in at m has preferred and
#: null responses E and m E, so DSI = (1 - m) / (1 + m).
PLANTED = (
    ((10.0, 1.0),),
    ((100.0, 1.0), (280.0, 0.1)),
    ((200.0, 1.0), (20.0, 0.3)),
    ((290.0, 1.0), (110.0, 0.6)),
    ((60.0, 1.0), (240.0, 1.0)),  # two opposite directions: bidirectional
)
MIXED = (0.0, 0.1, 0.3, 0.6, 1.0)
POOL = 4  # the block's output is (channels, 4, 4): 16 units a channel

#: The analysis of the hand-built network: its stimuli are the recipe's gratings.
GABOR_CONFIG = [
    f"data.size={SIZE}",
    f"data.frames={FRAMES}",
    "recipe.gratings.directions=16",
    f"recipe.gratings.spatial_frequencies_cpd=[{SF_CPD}]",
    f"recipe.gratings.temporal_frequencies_hz=[{TF_HZ}]",
    "recipe.gratings.phases_deg=[0, 90]",
    f"recipe.gratings.field_of_view_deg={FIELD_OF_VIEW_DEG}",
    f"recipe.gratings.frame_rate_hz={FRAME_RATE_HZ}",
    "analysis.block=layer3.1",
]


def drifting_gabor(direction_deg: float, phase: float) -> np.ndarray:
    """A Gabor drifting in `direction_deg` as a (t, row, column) template, in the
    conventions of `stdann.stimuli` (x rightward, y upward, 0 deg rightward).

    Conv3d correlates, so the template is the grating itself under a Gaussian:
    cos(2 pi (f (x cos theta + y sin theta) - w t) + phase).
    """
    offsets = np.arange(-HALF_SIDE_PX, HALF_SIDE_PX + 1) * FIELD_OF_VIEW_DEG / SIZE
    x, y = np.meshgrid(offsets, -offsets)  # rows run downward, y upward
    t = np.arange(KERNEL_FRAMES)[:, None, None] / FRAME_RATE_HZ
    theta = np.deg2rad(direction_deg)
    cycles = SF_CPD * (x * np.cos(theta) + y * np.sin(theta))[None] - TF_HZ * t
    envelope = np.exp(-(x**2 + y**2) / (2 * SIGMA_DEG**2))
    return np.cos(2 * np.pi * cycles + phase) * envelope[None]


class MotionEnergy(nn.Module):
    """Motion energy (Adelson & Bergen 1985): a quadrature pair of drifting Gabors
    per direction, squared and summed, so the response ignores the grating's phase.

    The kernels span one whole temporal period, so a grating drifting the
    other way, whose phase turns the other way in time, sums to zero over
    them (the sum of exp(i pi t) over t = 0..3): the null response is 0.
    Each output channel is a weighted sum of energies (`PLANTED`), pooled to
    a POOL x POOL grid: output (B, C, T, POOL, POOL).
    """

    def __init__(self, channels=PLANTED, silent: bool = False) -> None:
        super().__init__()
        directions = sorted({d for channel in channels for d, _ in channel})
        kernels = [drifting_gabor(d, p) for d in directions for p in (0.0, -np.pi / 2)]
        weight = torch.tensor(np.stack(kernels), dtype=torch.float32)
        weight = weight / weight.abs().sum(dim=(1, 2, 3), keepdim=True)
        side = 2 * HALF_SIDE_PX + 1
        self.conv = nn.Conv3d(3, len(kernels), (KERNEL_FRAMES, side, side), bias=False)
        # The same kernel on R, G and B: the stimuli are grey.
        self.conv.weight.data = weight[:, None].expand(-1, 3, -1, -1, -1) / 3
        mix = torch.zeros(len(channels), len(directions))
        for c, channel in enumerate(channels):
            for d, w in channel:
                mix[c, directions.index(d)] += w
        self.register_buffer("mix", 0 * mix if silent else mix)
        self.pool = nn.AdaptiveAvgPool3d((None, POOL, POOL))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.conv(x)
        energy = r[:, 0::2] ** 2 + r[:, 1::2] ** 2
        return self.pool(torch.einsum("ck,bkthw->bcthw", self.mix, energy))


class HandBuilt(nn.Module):
    """layer1.0 ... layer4.1 as the analysis names them; layer3.1 is `MotionEnergy`,
    the other blocks pass their input on."""

    def __init__(self, silent: bool = False) -> None:
        super().__init__()
        self.layer1 = nn.Sequential(nn.Identity(), nn.Identity())
        self.layer2 = nn.Sequential(nn.Identity(), nn.Identity())
        self.layer3 = nn.Sequential(nn.Identity(), MotionEnergy(silent=silent))
        self.layer4 = nn.Sequential(nn.Identity(), nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def striped_positions(config) -> BlockPositions:
    """Positions of the MT block with each channel in a stripe of its own: a
    planted map whose neighbours share their preference."""
    sheet = block_sheets(config.topography)["layer3.1"]
    nb = config.topography.neighbourhoods
    side = sheet.side_mm
    rng = np.random.default_rng(0)
    channels, units = len(PLANTED), POOL * POOL
    stripe = np.repeat(np.arange(channels), units)
    coordinates = np.stack(
        [
            (stripe + rng.random(channels * units)) * side / channels,
            rng.random(channels * units) * side,
        ],
        axis=1,
    )
    neighbourhoods = sample_neighbourhoods(
        coordinates,
        side,
        sheet.neighbourhood_width_mm,
        nb.per_block,
        nb.max_units,
        nb.min_fill,
        rng,
    )
    return BlockPositions(
        block="layer3.1",
        area=sheet.area,
        unit_shape=(channels, POOL, POOL),
        coordinates=coordinates,
        neighbourhoods=neighbourhoods,
        sheet_side_mm=side,
        neighbourhood_width_mm=sheet.neighbourhood_width_mm,
    )


def hand_built_target(silent: bool = False) -> AnalysisTarget:
    config = load_config(CONFIGS / "tiny.yaml", GABOR_CONFIG)
    return AnalysisTarget(
        label="motion energy",
        checkpoint=None,
        checkpoint_sha256=None,
        step=0,
        config=config,
        backbone=HandBuilt(silent=silent),
        positions={"layer3.1": striped_positions(config)},
        positions_source="striped by channel",
    )


def angle_difference(a, b) -> np.ndarray:
    return np.abs((np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0)


def public(result: dict) -> dict:
    """The JSON part of a result, as `stdann analyze` writes it."""
    out = {}
    for k, v in result.items():
        if not k.startswith("_"):
            out[k] = public(v) if isinstance(v, dict) else v
    return out


def no_nan(text: str):
    def refuse(constant: str):
        raise AssertionError(f"the JSON holds {constant}")

    return json.loads(text, parse_constant=refuse)


def test_motion_energy_units_have_their_planted_direction_selectivity_and_class():
    result = analyze_target(hand_built_target(), torch.device("cpu"))
    mt = result["_tuning"]["layer3.1"]
    units = POOL * POOL
    assert mt.units == len(PLANTED) * units
    assert np.all(mt.responsive)
    preferred = mt.preferred_deg.reshape(len(PLANTED), units)
    classes = mt.classes.reshape(len(PLANTED), units)
    # Preferences, within 5 deg, of every unit with a direction (16 directions, 22.5 deg
    # apart); y read downward would turn 100 and 290 deg into 260 and 70.
    for c, channel in enumerate(PLANTED[:-1]):
        assert np.all(angle_difference(preferred[c], channel[0][0]) < 5.0), (c, preferred[c])
    # DSI (1 - m) / (1 + m): the order of the mixing, and the value.
    dsi = mt.dsi.reshape(len(PLANTED), units)
    expected = [(1 - m) / (1 + m) for m in MIXED]
    for c, e in enumerate(expected):
        assert dsi[c] == pytest.approx(np.full(units, e), abs=0.02), c
    means = dsi.mean(axis=1)
    assert list(np.argsort(-means)) == list(range(len(PLANTED)))
    # Classes: DSI >= 1/3 is direction-selective; below it the curves with more
    # second than first harmonic are bidirectional: m = 0.6 (DSI 0.25) and the two
    # opposite directions (m = 1, DSI 0).
    assert classes[:3].tolist() == [["direction-selective"] * units] * 3
    assert classes[3:].tolist() == [["bidirectional"] * units] * 2
    summary = result["blocks"]["layer3.1"]
    assert summary["class_fractions"] == pytest.approx(
        {"direction-selective": 0.6, "bidirectional": 0.4, "non-selective": 0.0}
    )
    # The blank (mean grey) has no motion energy: relative to it the null
    # response m E gives DI = 1 - m, and the ratio above the blank 1 / m.
    di = mt.di_blank.reshape(len(PLANTED), units)
    for c, m in enumerate(MIXED):
        assert di[c] == pytest.approx(np.full(units, 1 - m), abs=0.02), c
    ratio = mt.ratio_above_blank.reshape(len(PLANTED), units)
    for c, m in enumerate(MIXED[1:], start=1):
        assert np.median(ratio[c]) == pytest.approx(1 / m, rel=0.05), c
    counted = summary["pref_null_ratio_above_blank"]
    assert counted["n"] + counted["null_at_or_below_blank"] == counted["units"] == mt.units
    # The planted preferences cover 10-290 deg: no single direction dominates.
    assert summary["preferred_direction"]["n"] == 3 * units
    # Energy filters see each grating of a plaid, not the pattern: component
    # cells, among the direction-selective units only.
    assert result["pattern_motion"]["units"] == 3 * units
    assert result["pattern_motion"]["class_fractions"]["pattern"] == 0.0
    assert result["pattern_motion"]["class_fractions"]["component"] >= 0.8
    # An energy filter prefers dots at its speed tf / sf, 6.25 deg/s.
    speed = result["speed"]["preferred_speed_deg_per_s"]["median"]
    assert TF_HZ / SF_CPD / 1.5 < speed < TF_HZ / SF_CPD * 1.5, speed
    # The planted map: neighbours on a stripe share their preference, shuffled ones do not.
    # The exactly bidirectional channel has no first harmonic, so no preference
    # and no place on the direction map; every other unit is on it.
    m = result["map"]
    has_preference = np.isfinite(mt.preferred_deg)
    assert m["units_on_map"] == int(has_preference.sum())
    assert has_preference.reshape(len(PLANTED), units)[:-1].all()
    near = m["nearest_neighbour_difference_deg"]
    assert near["observed"] < near["shuffled"] / 2, near
    smooth = m["smoothness"]
    assert smooth["observed_deg"][0] < smooth["shuffled_deg"][0] / 2, smooth
    # The report's and the sweep's row read the same number from the arrays.
    row = _row(result, "layer3.1")
    assert row["nearby_direction_difference_deg"] == pytest.approx(smooth["observed_deg"][0])
    json.dumps(clean(public(result)), allow_nan=False)


def test_silent_mt_block_gives_none_with_reasons_not_nan():
    result = analyze_target(hand_built_target(silent=True), torch.device("cpu"))
    summary = result["blocks"]["layer3.1"]
    assert summary["responsive"] == 0 and summary["fraction_responsive"] == 0.0
    assert set(summary["class_fractions"].values()) == {None}
    for name in ("axial_ratio", "fwhm_deg"):
        assert summary[name] == {"n": 0, "q1": None, "median": None, "q3": None}, name
    for name in ("dsi", "di_blank", "cv"):
        assert summary[name] == {
            "n": 0,
            "q1": None,
            "median": None,
            "q3": None,
            "median_ci95": None,
        }, name
    assert summary["preferred_direction"]["resultant"] is None
    m = result["map"]
    assert m["units_on_map"] == 0
    for period in ("direction", "axial"):
        topology = m[period]
        missing = [k for k, v in topology.items() if v is None]
        assert missing and set(missing) <= set(topology["reasons"]), (period, topology)
    for key in ("smoothness", "opposite_direction_fraction", "nearest_neighbour_difference_deg"):
        assert "too few" in m[key]["reason"], key
    assert result["pattern_motion"]["units"] == 0
    assert set(result["pattern_motion"]["class_fractions"].values()) == {None}
    assert result["speed"]["units"] == 0 and result["speed"]["fraction_fitted"] is None
    no_nan(json.dumps(clean(public(result))))


def test_a_population_dominated_by_one_direction_is_warned_about(capsys):
    # The three direction-selective channels prefer 10, 100 and 200 deg, 16 units
    # each: their resultant |e^10i + e^100i + e^200i| / 3 = 0.276 > 0.2.
    result = analyze_target(hand_built_target(), torch.device("cpu"))
    population = result["blocks"]["layer3.1"]["preferred_direction"]
    expected = abs(sum(np.exp(1j * np.deg2rad(d)) for d in (10.0, 100.0, 200.0))) / 3
    assert population["resultant"] == pytest.approx(expected, abs=0.02)
    assert population["dominated"]
    warnings = warnings_of("motion energy", result, "layer3.1")
    assert len(warnings) == 1 and "dominated by one direction" in warnings[0]
    print_warnings(warnings)
    assert "stdann analyze: warning: motion energy, layer3.1:" in capsys.readouterr().err


def test_check_block_names_the_blocks():
    check_block("layer3.1")
    with pytest.raises(
        AnalysisError, match=r"no block 'layer9\.9' in r3d_18 \(blocks: layer1\.0, "
    ):
        check_block("layer9.9")


# ---- `stdann analyze` on a micro run ----------------------------------------

#: The micro run's analysis: 8 directions, one phase, dots a 32-px clip can show.
MICRO_ANALYSIS = [
    "recipe.gratings.directions=8",
    "recipe.gratings.phases_deg=[0]",
    "analysis.dot_speeds_deg_per_s=[1,2,4,8,16]",
    "analysis.batch_size=64",
]
FIGURES = (
    "direction_map",
    "direction_maps_controls",
    "axial_maps_controls",
    "preferred_directions",
    "smoothness",
    "tuning_histograms",
    "example_tuning",
    "pattern_component",
    "speed_tuning",
)


@pytest.fixture(scope="module")
def micro_run(tmp_path_factory):
    """A two-step run of the micro network with the spatial loss (so with positions/)."""
    root = tmp_path_factory.mktemp("analyze")
    corpus = micro_corpus(root / "videos")
    sets = [*MICRO, f"data.root={corpus}", "train.steps=2", *MICRO_ANALYSIS]
    command = ["train", "--config", str(CONFIGS / "tiny.yaml"), "--out", str(root / "run")]
    assert stdann_main([*command, "--no-progress", *(a for s in sets for a in ("--set", s))]) == 0
    return root / "run"


def only_checkpoint(run):
    (checkpoint,) = (run / "checkpoints").glob("step-*.pt")
    return checkpoint


def altered_run(micro_run, folder, change=None, positions=None):
    """A run folder holding the micro run's checkpoint, changed by `change(state)`,
    and `positions` (none: no positions/ folder, so retinotopic ones from the config)."""
    state = load_checkpoint(only_checkpoint(micro_run))
    if change is not None:
        change(state)
    (folder / "checkpoints").mkdir(parents=True)
    torch.save(state, folder / "checkpoints" / only_checkpoint(micro_run).name)
    if positions is not None:
        save_positions(folder / "positions", positions)
    return folder


@pytest.mark.slow
def test_analyze_a_micro_run_writes_metrics_figures_and_a_report(micro_run, tmp_path, capsys):
    out = tmp_path / "analysis"
    assert stdann_main(["analyze", str(micro_run), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out / "report.html")
    metrics = no_nan((out / "metrics.json").read_text())
    assert metrics["mt_block"] == "layer3.1"
    assert metrics["checkpoint"] == str(only_checkpoint(micro_run))
    assert re.fullmatch(r"[0-9a-f]{64}", metrics["checkpoint_sha256"])
    assert metrics["positions"].startswith("trained on")
    # The stimuli are the recipe's gratings of the checkpoint's config.
    assert metrics["stimuli"]["gratings"]["directions"] == 8
    assert metrics["stimuli"]["gratings"]["phases_deg"] == [0.0]
    assert metrics["stimuli"]["clip"]["size"] == 32 and metrics["stimuli"]["clip"]["frames"] == 4
    with np.load(out / "tuning" / "layer3.1.npz") as tuning:
        assert tuning["directions_deg"].tolist() == [45.0 * k for k in range(8)]
    # 8 directions x 2 spatial x 2 temporal frequencies (paper.yaml), and the blank.
    assert np.load(out / "responses" / "layer3.1.npy").shape[0] == 8 * 2 * 2 + 1
    networks = {"model": metrics["model"], "untrained": metrics["controls"]["untrained"]}
    # A run of `stdann train` has no stage 1: the alpha = 0 control says why.
    assert "not part of a recipe run" in metrics["controls"]["alpha_0"]["reason"]
    for name, result in networks.items():
        assert set(result["blocks"]) == set(BLOCK_NAMES), name
        mt = result["blocks"]["layer3.1"]
        assert mt["units"] == np.prod(unit_shapes(4, 32, 32, channels=4)["layer3.1"])
        assert mt["dsi"]["n"] == mt["responsive"]
        assert mt["response_threshold"] >= 0
        assert set(mt["preferred_direction"]) >= {
            "histogram",
            "resultant",
            "axial_resultant",
            "rayleigh_p",
        }
        assert set(mt["class_fractions"]) == {
            "direction-selective",
            "bidirectional",
            "non-selective",
        }
        for period in ("direction", "axial"):
            topology = result["map"][period]
            assert {"density", "wavelength_mm", "n_total", "reasons", "defined"} <= set(topology)
            assert all(topology[k] is not None or k in topology["reasons"] for k in topology)
        smooth = result["map"]["smoothness"]
        assert len(smooth["observed_deg"]) == len(smooth["shuffled_deg"]) == 10
        assert set(result["pattern_motion"]["class_fractions"]) == {
            "pattern",
            "component",
            "unclassed",
        }
        assert result["pattern_motion"]["plaid_angle_deg"] == 120.0
        assert result["speed"]["units"] <= mt["responsive"]
        assert "preferred_speed_deg_per_s" in result["speed"]
    assert metrics["model"]["step"] == 2 and networks["untrained"]["step"] == 0
    shuffled = metrics["controls"]["shuffled_positions"]["map"]
    assert "nearest_neighbour_difference_deg" in shuffled
    # A run that names no labelled lists gets no probe, and says why.
    assert "no labelled lists" in metrics["model"]["probe"]["reason"]
    # The untrained control is another network: other responses.
    assert metrics["model"]["blocks"]["layer3.1"] != networks["untrained"]["blocks"]["layer3.1"]
    assert any(b["quantity"] == "mt_surface_area" and b["source"] for b in metrics["macaque"])
    assert all(m["reason"] for m in metrics["no_macaque_baseline"])
    assert metrics["scale"] == {
        "network": "r3d_18 at width 4",
        "clip": "4 x 32 x 32, stride 2",
        "data": str(micro_run.parent / "videos"),
        "steps": 2,
        "batch": "4 videos x 2 views per rank",
        "alpha": 0.25,
        "paper_scale": False,
    }
    figures = out / "figures"
    for name in FIGURES:
        assert (figures / f"{name}.png").is_file() and (figures / f"{name}.svg").is_file(), name
    pngs = sorted(figures.glob("*.png"))
    assert {p.stem for p in pngs} == {p.stem for p in figures.glob("*.svg")}
    html = (out / "report.html").read_text()
    assert "reduced scale" in html
    assert html.count("data:image/png;base64,") == len(pngs)
    for png in pngs:
        assert base64.b64encode(png.read_bytes()).decode() in html, png.name


@pytest.mark.slow
def test_analyze_a_silent_mt_block_reports_none_and_draws_what_it_can(micro_run, tmp_path):
    """layer3.1 outputs exactly 0 (its and layer3.0's last batch norms and the
    shortcut's zeroed): every number of the block is None, none NaN."""

    def silence(state):
        weights = state["moco"]["encoder_q"]
        for bn in ("layer3.0.conv2.1", "layer3.0.downsample.1", "layer3.1.conv2.1"):
            weights[f"backbone.{bn}.weight"].zero_()
            weights[f"backbone.{bn}.bias"].zero_()

    run = altered_run(micro_run, tmp_path / "silent", silence)
    out = tmp_path / "analysis"
    assert stdann_main(["analyze", str(run), "--out", str(out)]) == 0
    assert not np.load(out / "responses" / "layer3.1.npy").any()
    metrics = no_nan((out / "metrics.json").read_text())
    mt = metrics["model"]["blocks"]["layer3.1"]
    assert mt["responsive"] == 0 and mt["dsi"]["median"] is None
    m = metrics["model"]["map"]
    assert m["units_on_map"] == 0 and m["direction"]["density"] is None
    assert "nothing to analyse" in m["direction"]["reasons"]["density"]
    assert "too few" in m["smoothness"]["reason"]
    assert metrics["model"]["speed"]["fraction_fitted"] is None
    # The untrained control still responds.
    assert metrics["controls"]["untrained"]["blocks"]["layer3.1"]["responsive"] > 0
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(list((out / "figures").glob("*.png")))


# ---- bad input: a clear error and exit code 2 -------------------------------


def analyze_fails(source, tmp_path, capsys, message: str) -> None:
    assert stdann_main(["analyze", str(source), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert re.search(f"^stdann analyze: {message}", err, re.MULTILINE), err
    assert "Traceback" not in err
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_a_checkpoint_that_does_not_exist(tmp_path, capsys):
    analyze_fails(
        tmp_path / "nothing.pt",
        tmp_path,
        capsys,
        r"AnalysisError: '.*nothing\.pt': no checkpoint file, and no run folder with checkpoints",
    )


@pytest.mark.slow
def test_a_truncated_checkpoint(micro_run, tmp_path, capsys):
    data = only_checkpoint(micro_run).read_bytes()
    (tmp_path / "checkpoints").mkdir()
    cut = tmp_path / "checkpoints" / "step-000000002.pt"
    cut.write_bytes(data[: len(data) // 2])
    analyze_fails(cut, tmp_path, capsys, r"AnalysisError: '.*step-000000002\.pt': not a readable")


def test_a_state_dict_that_is_not_a_stdann_checkpoint(tmp_path, capsys):
    torch.save(nn.Conv3d(3, 4, 3).state_dict(), tmp_path / "weights.pt")
    analyze_fails(
        tmp_path / "weights.pt", tmp_path, capsys, r"AnalysisError: .*not a stdann checkpoint"
    )


@pytest.mark.slow
def test_a_checkpoint_of_another_width(micro_run, tmp_path, capsys):
    def widen(state):
        state["config"]["model"]["width"] = 8

    run = altered_run(micro_run, tmp_path / "wide", widen)
    analyze_fails(run, tmp_path, capsys, r"AnalysisError: .*not an r3d_18 MoCo checkpoint")


@pytest.mark.slow
def test_positions_made_for_another_clip_size(micro_run, tmp_path, capsys):
    config = load_config(CONFIGS / "tiny.yaml", [*MICRO, "data.size=64"])
    other = initial_positions(config)
    run = altered_run(micro_run, tmp_path / "moved", positions=other)
    analyze_fails(
        run,
        tmp_path,
        capsys,
        r"AnalysisError: positions of '.*': .*layer1\.0.npz.* made for units \(4, 32, 32\) "
        r".* but the model's block has \(4, 16, 16\)",
    )


@pytest.mark.slow
def test_an_mt_block_that_does_not_exist(micro_run, tmp_path, capsys):
    def rename(state):
        state["config"]["analysis"]["block"] = "layer9.9"

    run = altered_run(micro_run, tmp_path / "renamed", rename)
    analyze_fails(run, tmp_path, capsys, r"AnalysisError: no block 'layer9\.9' in r3d_18")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("gratings", "directions", 3, r"TuningError: directions must be at least 4"),
        ("gratings", "temporal_frequencies_hz", [7.0], r"StimulusError: temporal frequency 7"),
        ("analysis", "map_pixel_mm", 100.0, r"MapError: the pixel size 100\.0 mm is larger"),
    ],
)
def test_analysis_settings_it_cannot_use(micro_run, tmp_path, capsys, section, key, value, message):
    def change(state):
        config = state["config"]
        (config["recipe"]["gratings"] if section == "gratings" else config["analysis"])[key] = value

    run = altered_run(micro_run, tmp_path / "run", change)
    analyze_fails(run, tmp_path, capsys, message)


def test_over_seeds_gives_the_median_and_range_of_every_number_per_alpha():
    from stdann.analysis.commands import over_seeds

    rows = [
        {"label": "a", "alpha": 0.25, "seed": 0, "step": 8, "median_dsi": 0.5, "density": None},
        {"label": "b", "alpha": 0.25, "seed": 1, "step": 8, "median_dsi": 0.3, "density": 2.0},
        {"label": "c", "alpha": 0.25, "seed": 2, "step": 8, "median_dsi": 0.4, "density": 4.0},
        {"label": "d", "alpha": 0.0, "seed": 0, "step": 8, "median_dsi": 0.2, "density": None},
    ]
    (zero, quarter) = over_seeds(rows)
    assert zero == {
        "alpha": 0.0,
        "seeds": [0],
        "median_dsi": {"median": 0.2, "min": 0.2, "max": 0.2, "runs": 1},
        "density": None,
    }
    assert quarter["seeds"] == [0, 1, 2]
    assert quarter["median_dsi"] == {"median": 0.4, "min": 0.3, "max": 0.5, "runs": 3}
    # A number missing in one run: the median of the runs that have it, counted.
    assert quarter["density"] == {"median": 3.0, "min": 2.0, "max": 4.0, "runs": 2}


@pytest.mark.slow
def test_the_labelled_probe_of_the_model_and_its_controls(micro_run, tmp_path):
    from stdann.data import read_video_list
    from stdann.train.labelled_probe import probe_network

    videos = micro_run.parent / "videos"
    lists = videos / "lists"
    lists.mkdir(exist_ok=True)
    (lists / "classInd.txt").write_text("1 even\n2 odd\n")
    # UCF101's layout: CLASS/VIDEO paths, the class folders beside the videos.
    for i in range(8):
        linked = videos / ("even", "odd")[i % 2] / f"texture{i}.mp4"
        linked.parent.mkdir(exist_ok=True)
        if not linked.exists():
            linked.hardlink_to(videos / f"texture{i}.mp4")
    lines = [f"{('even', 'odd')[i % 2]}/texture{i}.mp4 {i % 2 + 1}" for i in range(8)]
    (lists / "trainlist01.txt").write_text("\n".join(lines[:6]) + "\n")
    (lists / "testlist01.txt").write_text("\n".join(lines[6:]) + "\n")

    def name_lists(state):
        state["config"]["train"]["probe_train_list"] = "lists/trainlist01.txt"
        state["config"]["train"]["probe_test_list"] = "lists/testlist01.txt"

    run = altered_run(micro_run, tmp_path / "probed", name_lists)
    out = tmp_path / "analysis"
    assert stdann_main(["analyze", str(run), "--out", str(out)]) == 0
    metrics = no_nan((out / "metrics.json").read_text())
    probe = metrics["model"]["probe"]
    assert (probe["train"], probe["test"], probe["classes"], probe["chance"]) == (6, 2, 2, 0.5)
    # The known answer: the same probe computed here from the checkpoint.
    target = load_target(run)
    expected = probe_network(
        target.backbone,
        read_video_list(videos, "lists/trainlist01.txt"),
        read_video_list(videos, "lists/testlist01.txt"),
        4,
        2,
        32,
    )
    assert probe["top1"] == expected["knn"]["top1"]
    assert metrics["controls"]["untrained"]["probe"]["test"] == 2
    assert "kNN top-1 on labelled videos" in (out / "report.html").read_text()
