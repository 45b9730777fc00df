"""MoCo's parts against hand-computed values: InfoNCE, the video mask, the queue,
the momentum update and schedule, shuffle BN's grouped form."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stdann.model.moco import (
    GroupedBatchNorm3d,
    MoCo,
    group_batch_norm,
    info_nce,
    momentum_at,
)


def small_moco(**kw) -> MoCo:
    torch.manual_seed(0)
    args = dict(
        width=2,
        head_hidden=[8],
        embedding_dim=4,
        queue_size=8,
        temperature=0.5,
        symmetric=True,
        mask_same_video=True,
        bn_groups=1,
    )
    args.update(kw)
    return MoCo(**args)


def test_info_nce_equals_the_direct_formula():
    g = torch.Generator().manual_seed(1)
    q = F.normalize(torch.randn(3, 5, generator=g), dim=1)
    k = F.normalize(torch.randn(3, 5, generator=g), dim=1)
    queue = F.normalize(torch.randn(6, 5, generator=g), dim=1)
    t = 0.2
    expected = 0.0
    for n in range(3):
        pos = math.exp(float(q[n] @ k[n]) / t)
        neg = sum(math.exp(float(q[n] @ queue[m]) / t) for m in range(6))
        expected += -math.log(pos / (pos + neg))
    assert float(info_nce(q, k, queue, t)) == pytest.approx(expected / 3, rel=1e-5)


def test_negatives_from_the_query_video_are_left_out():
    g = torch.Generator().manual_seed(2)
    q = F.normalize(torch.randn(2, 4, generator=g), dim=1)
    k = F.normalize(torch.randn(2, 4, generator=g), dim=1)
    queue = F.normalize(torch.randn(5, 4, generator=g), dim=1)
    query_videos = torch.tensor([7, 9])
    queue_videos = torch.tensor([7, 1, 9, 7, -1])
    t = 0.1
    masked = info_nce(q, k, queue, t, query_videos, queue_videos)
    # By hand: query 0 (video 7) sees negatives 1, 2, 4; query 1 (video 9) sees 0, 1, 3, 4.
    by_hand = (
        info_nce(q[:1], k[:1], queue[[1, 2, 4]], t) + info_nce(q[1:], k[1:], queue[[0, 1, 3, 4]], t)
    ) / 2
    assert float(masked) == pytest.approx(float(by_hand), rel=1e-6)
    assert float(masked) != pytest.approx(float(info_nce(q, k, queue, t)), rel=1e-3)


def test_queue_fills_in_order_and_wraps_with_its_videos():
    moco = small_moco()
    keys = torch.arange(16, dtype=torch.float32).view(4, 4)
    moco.enqueue(keys, torch.tensor([0, 1, 2, 3]))
    assert int(moco.queue_ptr) == 4
    assert torch.equal(moco.queue[:4], keys)
    assert moco.queue_videos.tolist() == [0, 1, 2, 3, -1, -1, -1, -1]
    moco.enqueue(keys + 100, torch.tensor([4, 5, 6, 7]))
    assert int(moco.queue_ptr) == 0
    moco.enqueue(keys + 200, torch.tensor([8, 9, 10, 11]))
    assert torch.equal(moco.queue[:4], keys + 200)
    assert moco.queue_videos.tolist() == [8, 9, 10, 11, 4, 5, 6, 7]
    with pytest.raises(ValueError, match="not a multiple"):
        moco.enqueue(keys[:3], torch.tensor([0, 1, 2]))


def test_momentum_update_is_the_convex_combination():
    moco = small_moco()
    with torch.no_grad():
        for p in moco.encoder_q.parameters():
            p.add_(1.0)
    before_k = [p.clone() for p in moco.encoder_k.parameters()]
    q = [p.clone() for p in moco.encoder_q.parameters()]
    moco.momentum_update(0.9)
    for pk, k0, q0 in zip(moco.encoder_k.parameters(), before_k, q, strict=True):
        assert torch.allclose(pk, 0.9 * k0 + 0.1 * q0, atol=1e-6)
    assert all(not p.requires_grad for p in moco.encoder_k.parameters())


def test_momentum_schedule_is_a_half_cosine_from_start_to_final():
    assert momentum_at(0, 100, 0.994, 1.0) == pytest.approx(0.994)
    assert momentum_at(50, 100, 0.994, 1.0) == pytest.approx(0.997)
    assert momentum_at(100, 100, 0.994, 1.0) == pytest.approx(1.0)
    assert momentum_at(25, 100, 0.0, 1.0) == pytest.approx((1 - math.cos(math.pi / 4)) / 2)


def test_grouped_batch_norm_normalises_each_group_on_its_own():
    torch.manual_seed(3)
    bn = group_batch_norm(nn.Sequential(nn.BatchNorm3d(3)), 2)[0]
    assert isinstance(bn, GroupedBatchNorm3d)
    x = torch.randn(4, 3, 2, 3, 3)
    x[2:] = x[2:] * 5 + 10  # the second group has other statistics
    out = bn(x)
    ref = nn.BatchNorm3d(3)
    assert torch.allclose(out[:2], ref(x[:2]), atol=1e-5)
    assert torch.allclose(out[2:], ref(x[2:]), atol=1e-5)
    # Running statistics: the mean of the two groups' updates.
    m0 = x[:2].mean((0, 2, 3, 4))
    m1 = x[2:].mean((0, 2, 3, 4))
    assert torch.allclose(bn.running_mean, 0.1 * (m0 + m1) / 2, atol=1e-5)
    bn.eval()
    assert torch.allclose(bn(x), F.batch_norm(x, bn.running_mean, bn.running_var, eps=bn.eps))
    with pytest.raises(ValueError, match="does not split"):
        bn.train()(torch.randn(3, 3, 1, 1, 1))


def test_shuffled_keys_come_back_to_their_samples():
    """With shuffle BN, each clip's key is computed inside a permuted batch and
    returned to its place: in eval mode (no batch statistics) it equals the
    unshuffled key exactly."""
    moco = small_moco(bn_groups=2)
    moco.encoder_k.eval()
    x = torch.randn(8, 3, 2, 16, 16)
    plain = F.normalize(moco.encoder_k(x).float(), dim=1)
    assert torch.allclose(moco._keys(x), plain, atol=1e-6)


def test_key_encoder_with_hooks_is_refused():
    moco = small_moco()
    moco.check_key_encoder()
    moco.encoder_k.backbone.layer1.register_forward_hook(lambda *a: None)
    with pytest.raises(RuntimeError, match="key encoder"):
        moco.check_key_encoder()


def test_forward_enqueues_every_view_with_its_video():
    moco = small_moco(bn_groups=2, queue_size=16)
    x = torch.randn(8, 3, 2, 16, 16)  # 4 samples x 2 views
    loss, _ = moco(x, torch.tensor([3, 4, 5, 6]), views=2)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert moco.queue_videos[:8].tolist() == [3, 4, 5, 6, 3, 4, 5, 6]
    assert int(moco.queue_ptr) == 8
    loss.backward()
    assert all(p.grad is None for p in moco.encoder_k.parameters())
    assert any(p.grad is not None for p in moco.encoder_q.parameters())
