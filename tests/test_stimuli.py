"""Drifting gratings with known directions and speeds; block responses per unit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from stdann.model.backbone import r3d18_backbone, unit_shapes
from stdann.model.inputs import clips_to_input
from stdann.model.recording import (
    load_block_responses,
    record_block_responses,
    save_block_responses,
)
from stdann.stimuli import drifting_gratings, read_table


def drift_cycles_per_frame(signal: np.ndarray, cycles_across: int) -> float:
    """Phase advance per frame of a (T, N) signal at `cycles_across` cycles, in cycles:
    negative when the pattern moves toward increasing index."""
    phase = np.angle(np.fft.fft(signal - signal.mean(), axis=1)[:, cycles_across])
    return float(np.mean(np.angle(np.exp(1j * np.diff(phase)))) / (2 * np.pi))


@pytest.mark.parametrize(
    ("direction", "axis", "sign"),
    [(0, "row", -1), (180, "row", 1), (90, "column_upward", -1), (270, "column_upward", 1)],
)
def test_gratings_drift_in_their_direction_at_their_speed(direction, axis, sign):
    s = drifting_gratings(
        frames=8,
        size=112,
        directions=4,
        spatial_frequencies_cpd=(0.5,),
        temporal_frequencies_hz=(2.0,),
        field_of_view_deg=8.0,
        frame_rate_hz=12.5,
        blank=False,
    )
    i = int(np.flatnonzero(s.table["direction_deg"] == direction)[0])
    clip = s.clips[i, ..., 0].astype(float)  # (T, H, W)
    signal = clip[:, 56, :] if axis == "row" else clip[:, ::-1, 56]
    # 0.5 cycles/deg over 8 deg: 4 cycles across; 2 Hz at 12.5 Hz: 0.16 cycles a frame.
    assert drift_cycles_per_frame(signal, 4) == pytest.approx(sign * 0.16, abs=0.005)
    # Along the other axis the grating is constant.
    across = clip[:, :, 56] if axis == "row" else clip[:, 56, :]
    assert np.ptp(across, axis=1).max() <= 1
    assert s.table["speed_deg_per_s"][i] == pytest.approx(4.0)


def test_table_blank_and_contrast():
    s = drifting_gratings(
        frames=4,
        size=32,
        directions=8,
        spatial_frequencies_cpd=(0.5, 1.0),
        temporal_frequencies_hz=(1.0,),
        phases_deg=(0, 90),
        contrasts=(0.5, 1.0),
        field_of_view_deg=8.0,
        frame_rate_hz=12.5,
    )
    assert len(s) == 8 * 2 * 2 * 2 + 1
    assert all(len(v) == len(s) for v in s.table.values())
    assert s.table["blank"].sum() == 1 and s.table["blank"][-1]
    assert (s.clips[-1] == 128).all()
    assert np.allclose(sorted(set(s.table["direction_deg"][:-1])), np.arange(8) * 45)
    full = s.clips[(s.table["contrast"] == 1.0)].std()
    half = s.clips[(s.table["contrast"] == 0.5)].std()
    assert half / full == pytest.approx(0.5, abs=0.01)
    assert (s.clips[..., 0] == s.clips[..., 1]).all() and (s.clips[..., 0] == s.clips[..., 2]).all()


def test_frequencies_at_or_above_nyquist_are_refused():
    with pytest.raises(ValueError, match="half the frame rate"):
        drifting_gratings(temporal_frequencies_hz=(6.25,), frame_rate_hz=12.5)
    with pytest.raises(ValueError, match="Nyquist"):
        drifting_gratings(size=32, field_of_view_deg=8.0, spatial_frequencies_cpd=(2.0,))


class Toy(nn.Module):
    """A 'network' whose block layer1.0 passes its input on: the recorded
    responses are the input clips averaged over time."""

    def __init__(self) -> None:
        super().__init__()
        self.layer1 = nn.Sequential(nn.Identity())
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer1(x) * self.scale


def test_recorded_responses_are_time_averages_in_unit_order(tmp_path):
    s = drifting_gratings(
        frames=4,
        size=16,
        directions=4,
        spatial_frequencies_cpd=(1.0,),
        temporal_frequencies_hz=(1.0,),
        field_of_view_deg=4.0,
    )
    model = Toy().train()
    out = record_block_responses(model, s.clips, ["layer1.0"], batch_size=3)
    expected = clips_to_input(torch.from_numpy(s.clips)).mean(2).flatten(1).numpy()
    assert out["layer1.0"].shape == (len(s), 3 * 16 * 16)
    assert np.allclose(out["layer1.0"], expected, atol=1e-6)
    assert model.training and not model.layer1[0]._forward_hooks
    with pytest.raises(KeyError, match=r"no block 'layer9\.9'"):
        record_block_responses(model, s.clips, ["layer9.9"])
    written = save_block_responses(tmp_path, out, s)
    assert {p.name for p in written} == {"layer1.0.npy", "stimuli.csv", "stimuli.json"}
    loaded, table = load_block_responses(tmp_path)
    assert np.array_equal(loaded["layer1.0"], out["layer1.0"])
    assert np.array_equal(table["direction_deg"], s.table["direction_deg"], equal_nan=True)
    assert read_table(tmp_path)[1]["field_of_view_deg"] == 4.0


def test_hooks_are_removed_when_the_forward_fails():
    class Broken(Toy):
        def forward(self, x):
            self.layer1(x)
            raise RuntimeError("boom")

    model = Broken()
    with pytest.raises(RuntimeError, match="boom"):
        record_block_responses(model, np.zeros((1, 2, 8, 8, 3), np.uint8), ["layer1.0"])
    assert not model.layer1[0]._forward_hooks


def test_r3d18_responses_have_the_blocks_unit_counts():
    model = r3d18_backbone(width=4)
    clips = np.zeros((2, 4, 32, 32, 3), np.uint8)
    blocks = ["layer1.0", "layer3.1", "layer4.1"]
    out = record_block_responses(model, clips, blocks)
    shapes = unit_shapes(4, 32, 32, channels=4)
    for b in blocks:
        assert out[b].shape == (2, int(np.prod(shapes[b])))
