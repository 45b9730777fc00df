"""Per-unit block responses: time averages in (C, H, W) unit order, hooks that
never outlive the call, and an exact save/load round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from stdann.model.backbone import BLOCK_NAMES, r3d18_backbone, unit_shapes
from stdann.model.inputs import KINETICS_MEAN, KINETICS_STD
from stdann.model.recording import (
    BlockResponsesError,
    UnknownBlockError,
    load_block_responses,
    record_block_responses,
    save_block_responses,
)
from stdann.stimuli import drifting_gratings


class SquareAndCopy(nn.Module):
    """(B, 3, T, H, W) -> (B, 6, T, H, W): the input, then its square."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, x**2], dim=1)


class FirstChannelTimesTwo(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x[:, :1]


class Toy(nn.Module):
    """Blocks named as in r3d_18 (layer1.0, layer1.1) with outputs known by hand.

    It records whether it ran in training mode and with gradients enabled.
    """

    def __init__(self) -> None:
        super().__init__()
        self.layer1 = nn.Sequential(SquareAndCopy(), FirstChannelTimesTwo())
        self.scale = nn.Parameter(torch.ones(()))
        self.seen: list[tuple[bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append((self.training, torch.is_grad_enabled()))
        return self.layer1(x).mean((1, 2, 3, 4)) * self.scale


def normalised(clips: np.ndarray) -> np.ndarray:
    """(N, T, H, W, 3) uint8 -> (N, 3, T, H, W) float64, torchvision's video statistics."""
    x = (clips / 255.0 - np.array(KINETICS_MEAN)) / np.array(KINETICS_STD)
    return x.transpose(0, 4, 1, 2, 3)


def no_hooks(model: nn.Module) -> bool:
    return not any(m._forward_hooks for m in model.modules())


def test_responses_are_time_averages_in_channel_row_column_order():
    rng = np.random.default_rng(0)
    n, t, h, w = 5, 3, 5, 4  # every axis a different length
    clips = rng.integers(0, 256, (n, t, h, w, 3), dtype=np.uint8)
    model = Toy()
    out = record_block_responses(model, clips, ["layer1.0", "layer1.1"], batch_size=2)
    assert list(out) == ["layer1.0", "layer1.1"]

    x = normalised(clips)  # (N, 3, T, H, W)
    block = np.concatenate([x, x**2], axis=1)  # layer1.0's output, (N, 6, T, H, W)
    assert out["layer1.0"].dtype == np.float32 and out["layer1.0"].shape == (n, 6 * h * w)
    # Unit c * H * W + row * W + column is channel c at (row, column), averaged over time:
    # the mean of the squares, not the square of the mean.
    for c, row, col in [(0, 0, 0), (2, 4, 1), (3, 1, 3), (5, 2, 0), (4, 4, 3)]:
        unit = c * h * w + row * w + col
        expected = [np.mean([block[i, c, k, row, col] for k in range(t)]) for i in range(n)]
        assert out["layer1.0"][:, unit] == pytest.approx(expected, rel=1e-5, abs=1e-5)
    assert np.allclose(out["layer1.0"], block.mean(2).reshape(n, -1), rtol=1e-5, atol=1e-5)
    assert np.allclose(out["layer1.1"], 2 * x[:, 0].mean(1).reshape(n, -1), rtol=1e-5, atol=1e-5)


def test_the_model_runs_in_eval_mode_without_gradients_and_is_restored():
    clips = np.zeros((3, 2, 4, 4, 3), np.uint8)
    for training in (True, False):
        model = Toy().train(training)
        record_block_responses(model, clips, ["layer1.0"], batch_size=2)
        assert model.seen == [(False, False), (False, False)]  # two batches
        assert model.training is training
        assert all(m.training is training for m in model.modules())
        assert no_hooks(model)
    assert torch.is_grad_enabled()


def test_hooks_are_removed_and_mode_restored_when_the_forward_fails():
    class Broken(Toy):
        def forward(self, x):
            self.layer1(x)
            raise RuntimeError("boom")

    model = Broken().train()
    with pytest.raises(RuntimeError, match="boom"):
        record_block_responses(model, np.zeros((1, 2, 8, 8, 3), np.uint8), ["layer1.0"])
    assert no_hooks(model) and model.training

    class Flat(Toy):
        """A 'block' whose output is not (B, C, T, H, W)."""

        def __init__(self):
            super().__init__()
            self.layer1 = nn.Sequential(nn.Flatten())

    model = Flat()
    with pytest.raises(BlockResponsesError, match=r"block 'layer1\.0' gave \(1, 384\)"):
        record_block_responses(model, np.zeros((1, 2, 8, 8, 3), np.uint8), ["layer1.0"])
    assert no_hooks(model)


def test_unknown_blocks_and_bad_clips_are_named():
    model = Toy()
    clips = np.zeros((1, 2, 4, 4, 3), np.uint8)
    with pytest.raises(UnknownBlockError, match=r"no block 'layer9\.9'.*layer1\.0, layer1\.1"):
        record_block_responses(model, clips, ["layer1.0", "layer9.9"])
    with pytest.raises(KeyError):  # also a KeyError (and a ValueError)
        record_block_responses(model, clips, ["layer3.1"])
    with pytest.raises(BlockResponsesError, match="uint8"):
        record_block_responses(model, clips.astype(np.float32), ["layer1.0"])
    with pytest.raises(BlockResponsesError, match=r"\(N, T, H, W, 3\)"):
        record_block_responses(model, clips[0], ["layer1.0"])
    with pytest.raises(BlockResponsesError, match="repeat"):
        record_block_responses(model, clips, ["layer1.0", "layer1.0"])
    with pytest.raises(BlockResponsesError, match="no clips"):
        record_block_responses(model, clips[:0], ["layer1.0"])
    model.layer2 = nn.Sequential(SquareAndCopy())  # never called by forward
    with pytest.raises(BlockResponsesError, match=r"\['layer2\.0'\] did not run"):
        record_block_responses(model, clips, ["layer1.0", "layer2.0"])
    assert no_hooks(model)


def test_r3d18_units_are_its_blocks_unit_shapes():
    model = r3d18_backbone()
    clips = np.random.default_rng(1).integers(0, 256, (3, 4, 32, 32, 3), dtype=np.uint8)
    out = record_block_responses(model, torch.from_numpy(clips), BLOCK_NAMES, batch_size=2)
    shapes = unit_shapes(4, 32, 32)
    assert list(out) == list(BLOCK_NAMES)
    for block in BLOCK_NAMES:
        assert out[block].shape == (3, int(np.prod(shapes[block])))
    # Eval mode: a clip's responses do not depend on the batch it came in.
    one_by_one = record_block_responses(model, clips, ["layer3.1"], batch_size=1, progress=True)
    assert np.allclose(one_by_one["layer3.1"], out["layer3.1"], rtol=1e-4, atol=1e-5)
    assert no_hooks(model)


def test_narrow_r3d18_units_follow_its_width():
    out = record_block_responses(
        r3d18_backbone(width=4), np.zeros((2, 4, 32, 32, 3), np.uint8), ["layer1.0", "layer4.1"]
    )
    shapes = unit_shapes(4, 32, 32, channels=4)
    assert out["layer1.0"].shape == (2, int(np.prod(shapes["layer1.0"])))  # 4 x 16 x 16
    assert out["layer4.1"].shape == (2, int(np.prod(shapes["layer4.1"])))  # 32 x 2 x 2


def gratings():
    return drifting_gratings(
        frames=2,
        size=8,
        directions=2,
        spatial_frequencies_cpd=(0.5,),
        temporal_frequencies_hz=(1.0,),
        field_of_view_deg=4.0,
    )


def test_save_load_round_trip_is_exact(tmp_path):
    s = gratings()
    rng = np.random.default_rng(2)
    responses = {
        "layer1.0": rng.standard_normal((len(s), 12)).astype(np.float32),
        "layer3.1": rng.standard_normal((len(s), 7)).astype(np.float32),
    }
    written = save_block_responses(tmp_path, responses, s)
    assert [p.name for p in written] == [
        "layer1.0.npy",
        "layer3.1.npy",
        "stimuli.csv",
        "stimuli.json",
        "responses.json",
    ]
    loaded, table = load_block_responses(tmp_path)
    assert list(loaded) == list(responses)
    for block, array in responses.items():
        assert loaded[block].dtype == np.float32 and np.array_equal(loaded[block], array)
    assert list(table) == list(s.table)
    for column, values in s.table.items():
        assert np.array_equal(table[column], values, equal_nan=values.dtype.kind == "f")
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_later_save_replaces_an_earlier_one(tmp_path):
    s = gratings()
    save_block_responses(tmp_path, {"layer1.0": np.zeros((len(s), 3), np.float32)}, s)
    save_block_responses(tmp_path, {"layer3.1": np.ones((len(s), 2), np.float32)}, s)
    loaded, _ = load_block_responses(tmp_path)
    assert list(loaded) == ["layer3.1"]  # layer1.0.npy of the earlier save is not mixed in


def test_bad_saves_and_folders_are_refused(tmp_path):
    s = gratings()
    with pytest.raises(BlockResponsesError, match="stimuli, units"):
        save_block_responses(tmp_path, {"layer1.0": np.zeros((len(s) + 1, 3))}, s)
    with pytest.raises(BlockResponsesError, match="cannot name a file"):
        save_block_responses(tmp_path, {"a/b": np.zeros((len(s), 3))}, s)
    with pytest.raises(BlockResponsesError, match="cut short"):
        load_block_responses(tmp_path)
    save_block_responses(tmp_path, {"layer1.0": np.zeros((len(s), 3), np.float32)}, s)
    np.save(tmp_path / "layer1.0.npy", np.zeros((len(s), 4), np.float32))
    with pytest.raises(BlockResponsesError, match="manifest says"):
        load_block_responses(tmp_path)
    manifest = json.loads((tmp_path / "responses.json").read_text())
    assert manifest == {"stimuli": "drifting_gratings", "blocks": {"layer1.0": [len(s), 3]}}
