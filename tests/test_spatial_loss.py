"""The spatial loss: parity with the NumPy twin, known answers, hooks, bf16, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stdann.model import BLOCK_NAMES, r3d18_backbone, unit_shapes
from stdann.topo import (
    BlockPositions,
    PositionsMismatchError,
    SpatialLoss,
    proximity,
    retinotopic_positions,
    sample_neighbourhoods,
    spatial_loss_abs,
    spatial_loss_rel,
)
from stdann.topo.reference import spatial_loss_abs_numpy, spatial_loss_rel_numpy


def random_case(seed: int, batch: int = 16, k: int = 30) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    coords = rng.random((k, 2)) * 3.0
    # Responses that correlate with position, plus noise: a loss well inside (0, 1).
    basis = rng.normal(size=(batch, 3))
    responses = basis @ np.stack([coords[:, 0], coords[:, 1], np.ones(k)]) + rng.normal(
        size=(batch, k)
    )
    return np.maximum(responses, 0.0), coords


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rel_and_abs_match_the_numpy_twin(seed):
    responses, coords = random_case(seed)
    x, c = torch.tensor(responses, dtype=torch.float32), torch.tensor(coords, dtype=torch.float32)
    assert spatial_loss_rel(x, c).item() == pytest.approx(
        spatial_loss_rel_numpy(responses, coords), abs=1e-5
    )
    assert spatial_loss_abs(x, c).item() == pytest.approx(
        spatial_loss_abs_numpy(responses, coords), abs=1e-5
    )


def test_known_answer_for_two_uncorrelated_groups():
    # Units 0-5 carry one signal, units 6-11 another, orthogonal to it: r_ij is
    # exactly 1 within a group and 0 across, so SL_rel = (1 - pearson(same_group, D)) / 2.
    k = 12
    coords = np.stack([np.linspace(0, 4, k), np.zeros(k)], axis=1)
    c = torch.tensor(coords, dtype=torch.float64)
    d = proximity(c).numpy()
    assert d[0, 0] == 1.0 and d[0, 1] == pytest.approx(1.0 / (4 / 11 + 1.0))
    rng = np.random.default_rng(0)
    s = rng.normal(size=(32, 2))
    s -= s.mean(0)
    s[:, 1] -= s[:, 0] * (s[:, 0] @ s[:, 1]) / (s[:, 0] @ s[:, 0])  # Gram-Schmidt
    for order in (np.arange(k), np.array([0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11])):
        group = (np.arange(k) >= 6)[order]
        responses = s[:, group.astype(int)]
        i, j = np.tril_indices(k, -1)
        same = (group[i] == group[j]).astype(float)
        expected = (1 - np.corrcoef(same, d[i, j])[0, 1]) / 2
        got = spatial_loss_rel(torch.tensor(responses), c).item()
        assert got == pytest.approx(expected, abs=1e-9)
        # SL_abs: mean |r - D| with r the same-group indicator.
        assert spatial_loss_abs(torch.tensor(responses), c).item() == pytest.approx(
            np.abs(same - d[i, j]).mean(), abs=1e-9
        )
    # Groups placed apart: a low cost.
    apart = spatial_loss_rel(torch.tensor(s[:, (np.arange(k) >= 6).astype(int)]), c).item()
    assert apart < 0.3


def test_zero_variance_units_are_left_out_not_nan():
    responses, coords = random_case(3)
    responses[:, 4] = 0.0  # a dead ReLU
    responses[:, 7] = 2.5  # a constant unit
    x = torch.tensor(responses, dtype=torch.float32, requires_grad=True)
    c = torch.tensor(coords, dtype=torch.float32)
    loss = spatial_loss_rel(x, c) + spatial_loss_abs(x, c)
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(x.grad).all()
    keep = [i for i in range(30) if i not in (4, 7)]
    expected = spatial_loss_rel_numpy(responses[:, keep], coords[keep])
    assert spatial_loss_rel(x, c).item() == pytest.approx(expected, abs=1e-5)
    # Every unit constant: no pair counts; the loss is the uninformative 1/2, not NaN.
    flat = torch.zeros(8, 5, requires_grad=True)
    value = spatial_loss_rel(flat, c[:5])
    assert value.item() == 0.5
    value.backward()
    assert torch.isfinite(flat.grad).all()


def test_batched_neighbourhoods_equal_one_at_a_time():
    cases = [random_case(s) for s in (4, 5)]
    x = torch.tensor(np.stack([r for r, _ in cases]), dtype=torch.float32)
    c = torch.tensor(np.stack([k for _, k in cases]), dtype=torch.float32)
    together = spatial_loss_rel(x, c)
    assert together.shape == (2,)
    for i in range(2):
        assert together[i].item() == pytest.approx(spatial_loss_rel(x[i], c[i]).item(), abs=1e-6)


def small_positions(seed: int = 0) -> dict[str, BlockPositions]:
    """Positions of all eight blocks for 8 x 56 x 56 clips, on 10 mm sheets."""
    rng = np.random.default_rng(seed)
    out = {}
    for block, shape in unit_shapes(8, 56, 56).items():
        coords = retinotopic_positions(shape, 10.0, 0.1, rng)
        nb = sample_neighbourhoods(coords, 10.0, 2.5, 4, 60, 0.75, rng)
        out[block] = BlockPositions(block, "test", shape, coords, nb, 10.0, 2.5)
    return out


def test_hooks_collect_time_averaged_units_in_float32_even_under_bf16():
    torch.manual_seed(0)
    model = r3d18_backbone().eval()
    positions = small_positions()
    spatial = SpatialLoss(
        model, positions, dict.fromkeys(BLOCK_NAMES, 0.25), neighbourhoods_per_step=2
    )
    full = {}
    for name in BLOCK_NAMES:
        model.get_submodule(name).register_forward_hook(
            lambda _m, _i, out, name=name: full.__setitem__(name, out.detach())
        )
    clips = torch.randn(4, 3, 8, 56, 56)
    with torch.autocast("cpu", dtype=torch.bfloat16), spatial.collect():
        model(clips)
    losses = spatial.block_losses()
    assert set(losses) == set(BLOCK_NAMES)
    for block in BLOCK_NAMES:
        responses, coords = spatial._collected[block]
        assert responses.dtype == torch.float32 and responses.shape[:2] == (2, 4)
        out = full[block]
        assert out.dtype == torch.bfloat16  # autocast was on inside the block
        units = positions[block].neighbourhoods[spatial._chosen[block].numpy()]
        c, h, w = positions[block].unit_shape
        # The reference: average over time in float32, flatten (C, H, W), take the units.
        mean = out.float().mean(2).reshape(4, c * h * w).numpy()
        for n in range(2):
            np.testing.assert_allclose(
                responses[n].detach().numpy(), mean[:, units[n]], rtol=1e-6, atol=1e-6
            )
            np.testing.assert_allclose(
                coords[n].numpy(), positions[block].coordinates[units[n]], rtol=1e-6
            )
            twin = np.mean(
                [
                    spatial_loss_rel_numpy(
                        mean[:, units[m]], positions[block].coordinates[units[m]]
                    )
                    for m in range(2)
                ]
            )
        assert losses[block].dtype == torch.float32
        assert losses[block].item() == pytest.approx(twin, abs=1e-4)
    total = spatial.loss()
    assert total.item() == pytest.approx(0.25 * sum(v.item() for v in losses.values()), rel=1e-5)


def test_loss_trains_the_model_and_hooks_are_idle_outside_collect():
    torch.manual_seed(1)
    model = r3d18_backbone()
    alpha = dict.fromkeys(BLOCK_NAMES, 0.0)
    alpha["layer3.1"] = 1.0
    spatial = SpatialLoss(model, small_positions(), alpha)
    model(torch.randn(2, 3, 8, 56, 56))
    assert spatial._collected == {}
    with spatial.collect():
        model(torch.randn(4, 3, 8, 56, 56))
    assert set(spatial._collected) == {"layer3.1"}  # alpha = 0 blocks are not collected
    loss = spatial.loss()
    loss.backward()
    grad = model.get_submodule("layer3.1").conv2[0].weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    spatial.remove()
    with spatial.collect():
        model(torch.randn(2, 3, 8, 56, 56))
    assert spatial._collected == {}


def test_all_alpha_zero_collects_nothing_and_the_loss_is_zero():
    model = r3d18_backbone().eval()
    spatial = SpatialLoss(model, small_positions(), dict.fromkeys(BLOCK_NAMES, 0.0))
    with torch.no_grad(), spatial.collect():
        model(torch.randn(2, 3, 8, 56, 56))
    assert spatial._collected == {} and spatial.block_losses() == {}
    assert spatial.loss().item() == 0.0


def test_positions_for_another_clip_size_are_refused():
    model = r3d18_backbone().eval()
    spatial = SpatialLoss(model, small_positions(), dict.fromkeys(BLOCK_NAMES, 0.25))
    with pytest.raises(PositionsMismatchError, match=r"layer1\.0.*\(64, 14, 14\).*\(64, 28, 28\)"):
        with torch.no_grad(), spatial.collect():
            model(torch.randn(1, 3, 8, 28, 28))


def test_non_finite_responses_make_the_loss_non_finite_not_silent():
    # A zero-variance unit is left out; a NaN or inf response is not masked
    # away: the loss becomes non-finite, which the training loop stops on.
    torch.manual_seed(0)
    coords = torch.rand(12, 2) * 3.0
    x = torch.randn(8, 12)
    assert torch.isfinite(spatial_loss_rel(x, coords))
    for bad in (float("nan"), float("inf")):
        y = x.clone()
        y[3, 5] = bad
        assert not torch.isfinite(spatial_loss_rel(y, coords))
