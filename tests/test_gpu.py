"""The spatial loss on a CUDA device: the same numbers as on the CPU and the NumPy twin.

Skipped without a GPU (CI has none); `pytest -m gpu` runs them where there is one.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from stdann.model import BLOCK_NAMES, r3d18_backbone
from stdann.topo import SpatialLoss, spatial_loss_abs, spatial_loss_rel
from stdann.topo.reference import spatial_loss_abs_numpy, spatial_loss_rel_numpy
from test_spatial_loss import random_case, small_positions

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("seed", [0, 1])
def test_cuda_loss_matches_the_numpy_twin(seed):
    responses, coords = random_case(seed, batch=64, k=500)
    responses[:, 3] = 0.0  # a dead unit: left out, not NaN
    x = torch.tensor(responses, dtype=torch.float32, device="cuda", requires_grad=True)
    c = torch.tensor(coords, dtype=torch.float32, device="cuda")
    rel, absolute = spatial_loss_rel(x, c), spatial_loss_abs(x, c)
    keep = [i for i in range(500) if i != 3]
    assert rel.item() == pytest.approx(
        spatial_loss_rel_numpy(responses[:, keep], coords[keep]), abs=1e-4
    )
    assert absolute.item() == pytest.approx(
        spatial_loss_abs_numpy(responses[:, keep], coords[keep]), abs=1e-4
    )
    (rel + absolute).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_hooked_loss_under_bf16_autocast_equals_the_cpu_loss_of_the_same_outputs():
    torch.manual_seed(0)
    model = r3d18_backbone().cuda()
    spatial = SpatialLoss(model, small_positions(), dict.fromkeys(BLOCK_NAMES, 0.25), seed=3)
    outputs = {}
    for name in BLOCK_NAMES:
        model.get_submodule(name).register_forward_hook(
            lambda _m, _i, out, name=name: outputs.__setitem__(name, out.detach())
        )
    clips = torch.randn(8, 3, 8, 56, 56, device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16), spatial.collect():
        features = model(clips)
    losses = spatial.block_losses()
    for block in BLOCK_NAMES:
        out = outputs[block]
        assert out.dtype == torch.bfloat16
        responses, _coords = spatial._collected[block]
        assert responses.dtype == torch.float32 and responses.device.type == "cuda"
        # The same units taken on the CPU from the bf16 block output, averaged in float64.
        p = spatial.positions[block]
        units = p.neighbourhoods[spatial._chosen[block].numpy()][0]
        mean = out.double().mean(2).flatten(1).cpu().numpy()[:, units]
        assert losses[block].item() == pytest.approx(
            spatial_loss_rel_numpy(mean, p.coordinates[units]), abs=1e-4
        )
    total = features.float().pow(2).mean() + spatial.loss()
    total.backward()
    grads = [q.grad for q in model.parameters() if q.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    np.testing.assert_allclose(
        spatial.loss().item(), 0.25 * sum(v.item() for v in losses.values()), rtol=1e-5
    )


def test_a_step_with_the_spatial_loss_never_waits_for_the_gpu():
    # A synchronising call in a hook (a copy from pageable memory, say) makes
    # the CPU wait for the forward pass once per block, and the GPU then idles
    # while the CPU launches the rest of the step.
    torch.manual_seed(0)
    model = r3d18_backbone().cuda()
    spatial = SpatialLoss(model, small_positions(), dict.fromkeys(BLOCK_NAMES, 0.25))
    clips = torch.randn(4, 3, 8, 56, 56, device="cuda")

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16), spatial.collect():
            features = model(clips)
        (features.float().pow(2).mean() + spatial.loss()).backward()

    step()  # the first step caches the neighbourhoods on the device
    torch.cuda.synchronize()
    with warnings.catch_warnings():  # "a prototype feature", says torch
        warnings.simplefilter("ignore", UserWarning)
        torch.cuda.set_sync_debug_mode("error")
    try:
        step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
