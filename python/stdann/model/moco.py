"""Momentum contrast on clips (MoCo, He et al. CVPR 2020), in the rho-MoCo form.

rho-MoCo (Feichtenhofer et al., CVPR 2021) takes rho clips from different
times of one video as positives of each other. Every clip goes through the
query encoder and the momentum (key) encoder; each ordered pair of views
(i, j), i != j, gives an InfoNCE term with view i's query, view j's key as
the positive and the queue as negatives (the symmetric loss). The keys of all
views then enter the queue, with the video each came from, so that negatives
from the query's own video can be masked (a small dataset fills the queue
with them; none of the anchors masks them).

Batch norm must not tell the network which clips belong together: the key
encoder sees its batch shuffled (across ranks as MoCo's `_batch_shuffle_ddp`
does, and into batch-norm groups on each device), so that a query and its
positive key are normalised with statistics of different sets of clips.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from stdann.model.backbone import feature_dim, r3d18_backbone


class ProjectionHead(nn.Sequential):
    """MLP from the backbone's pooled features to the embedding, without batch norm
    (rho-MoCo: 512-2048-2048-128)."""

    def __init__(self, in_dim: int, hidden: list[int], out_dim: int) -> None:
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [nn.Linear(in_dim, width), nn.ReLU(inplace=True)]
            in_dim = width
        layers.append(nn.Linear(in_dim, out_dim))
        super().__init__(*layers)


class Encoder(nn.Module):
    """Backbone (r3d_18 with named blocks) followed by the projection head."""

    def __init__(self, width: int, head_hidden: list[int], embedding_dim: int) -> None:
        super().__init__()
        self.backbone = r3d18_backbone(width)
        self.head = ProjectionHead(feature_dim(width), head_hidden, embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


class GroupedBatchNorm3d(nn.BatchNorm3d):
    """BatchNorm3d whose training statistics are computed within `groups`
    consecutive, equal slices of the batch (one device's form of shuffle BN,
    as the SplitBatchNorm of MoCo's CIFAR demo). Running statistics are the
    mean over groups; evaluation is plain BatchNorm3d."""

    groups: int

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.groups
        if not self.training or g == 1:
            return super().forward(x)
        n, c = x.shape[:2]
        if n % g:
            raise ValueError(f"a batch of {n} clips does not split into {g} batch-norm groups")
        rest = x.shape[2:]
        # Group k holds samples k*n/g ... (k+1)*n/g - 1; as channels of one batch
        # of n/g samples, each group's statistics are separate.
        xs = x.reshape(g, n // g, c, *rest).transpose(0, 1).reshape(n // g, g * c, *rest)
        mean = self.running_mean.repeat(g)
        var = self.running_var.repeat(g)
        out = F.batch_norm(
            xs, mean, var, self.weight.repeat(g), self.bias.repeat(g), True, self.momentum, self.eps
        )
        with torch.no_grad():
            self.running_mean.copy_(mean.view(g, c).mean(0))
            self.running_var.copy_(var.view(g, c).mean(0))
            self.num_batches_tracked.add_(1)
        return out.reshape(n // g, g, c, *rest).transpose(0, 1).reshape(n, c, *rest)


def group_batch_norm(module: nn.Module, groups: int) -> nn.Module:
    """Replace every BatchNorm3d of `module` by a GroupedBatchNorm3d with `groups` groups
    (parameters and statistics kept); returns `module`."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm3d:
            grouped = GroupedBatchNorm3d(
                child.num_features, child.eps, child.momentum, child.affine
            )
            grouped.load_state_dict(child.state_dict())
            grouped.groups = groups
            setattr(module, name, grouped)
        else:
            group_batch_norm(child, groups)
    return module


def momentum_at(step: int, total: int, start: float, final: float) -> float:
    """Key-encoder momentum annealed from `start` to `final` on a half cosine
    (BYOL's schedule, as rho-MoCo uses it)."""
    if total <= 0:
        return final
    progress = min(max(step / total, 0.0), 1.0)
    return final - (final - start) * (math.cos(math.pi * progress) + 1) / 2


def info_nce(
    q: torch.Tensor,
    k: torch.Tensor,
    queue: torch.Tensor,
    temperature: float,
    query_videos: torch.Tensor | None = None,
    queue_videos: torch.Tensor | None = None,
) -> torch.Tensor:
    """InfoNCE of queries q (N, D) with positives k (N, D) and negatives queue (K, D),
    all L2-normalised: mean over n of -log softmax([q.k, q.queue] / T)[0].

    Negatives whose video equals the query's are left out (logit -inf) when
    both video tensors are given; computed in float32.
    """
    q, k, queue = q.float(), k.float(), queue.float()
    l_pos = (q * k).sum(1, keepdim=True)
    l_neg = q @ queue.T
    if query_videos is not None and queue_videos is not None:
        same = query_videos.view(-1, 1) == queue_videos.view(1, -1)
        l_neg = l_neg.masked_fill(same, float("-inf"))
    logits = torch.cat([l_pos, l_neg], 1) / temperature
    labels = torch.zeros(len(q), dtype=torch.long, device=q.device)
    return F.cross_entropy(logits, labels)


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


@torch.no_grad()
def all_gather(x: torch.Tensor) -> torch.Tensor:
    """Concatenate `x` from every rank, in rank order (x itself on one process)."""
    _, world = _world()
    if world == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world)]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


class MoCo(nn.Module):
    """Query encoder, momentum key encoder, and a queue of keys with their videos."""

    def __init__(
        self,
        width: int,
        head_hidden: list[int],
        embedding_dim: int,
        queue_size: int,
        temperature: float,
        symmetric: bool = True,
        mask_same_video: bool = True,
        bn_groups: int = 1,
        shuffle_keys: bool = True,
        sync_batch_norm: bool = False,
    ) -> None:
        super().__init__()
        self.temperature = temperature
        self.symmetric = symmetric
        self.mask_same_video = mask_same_video
        self.shuffle_keys = shuffle_keys
        self.bn_groups = bn_groups
        encoder = Encoder(width, head_hidden, embedding_dim)
        if sync_batch_norm:
            encoder = nn.SyncBatchNorm.convert_sync_batchnorm(encoder)
        elif bn_groups > 1:
            group_batch_norm(encoder, bn_groups)
        self.encoder_q = encoder
        # The key encoder is copied now, before anything (the spatial loss's
        # hooks) is attached to the query encoder; `check_key_encoder` guards it.
        self.encoder_k = copy.deepcopy(encoder)
        for p in self.encoder_k.parameters():
            p.requires_grad_(False)
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, embedding_dim), dim=1))
        self.register_buffer("queue_videos", torch.full((queue_size,), -1, dtype=torch.long))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    def query_encoder(self) -> Encoder:
        """The query encoder itself (unwrapped from DistributedDataParallel)."""
        q = self.encoder_q
        return q.module if hasattr(q, "module") else q

    def check_key_encoder(self) -> None:
        """Raise if any module of the key encoder carries a forward hook: the
        spatial loss belongs to the query encoder alone."""
        for name, m in self.encoder_k.named_modules():
            if m._forward_hooks or m._forward_pre_hooks:
                raise RuntimeError(
                    f"the key encoder's {name or 'root'} has forward hooks: it was copied "
                    "after the spatial loss was attached to the query encoder"
                )

    @torch.no_grad()
    def momentum_update(self, m: float) -> None:
        """theta_k <- m theta_k + (1 - m) theta_q."""
        for pk, pq in zip(
            self.encoder_k.parameters(), self.query_encoder().parameters(), strict=True
        ):
            pk.mul_(m).add_(pq.detach(), alpha=1 - m)

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor, videos: torch.Tensor) -> None:
        """Write keys (N, D) and their videos (N,), gathered from all ranks, at the pointer."""
        keys = all_gather(keys.float())
        videos = all_gather(videos)
        n, size = len(keys), len(self.queue)
        if size % n:
            raise ValueError(
                f"the queue ({size}) is not a multiple of the keys enqueued per step ({n})"
            )
        ptr = int(self.queue_ptr)
        self.queue[ptr : ptr + n].copy_(keys)
        self.queue_videos[ptr : ptr + n].copy_(videos)
        self.queue_ptr.fill_((ptr + n) % size)

    @torch.no_grad()
    def _keys(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised keys of clips x, with shuffle BN: the batch is permuted
        (across all ranks when distributed) before the key encoder and restored after."""
        if not self.shuffle_keys:
            return F.normalize(self.encoder_k(x).float(), dim=1)
        rank, world = _world()
        if world == 1:
            perm = torch.randperm(len(x), device=x.device)
            k = self.encoder_k(x[perm])
            return F.normalize(k.float(), dim=1)[torch.argsort(perm)]
        gathered = all_gather(x)
        perm = torch.randperm(len(gathered), device=x.device)
        dist.broadcast(perm, src=0)
        mine = perm.view(world, -1)[rank]
        k = F.normalize(self.encoder_k(gathered[mine]).float(), dim=1)
        k_all = all_gather(k)
        return k_all[torch.argsort(perm)].view(world, len(x), -1)[rank]

    def forward(
        self, x: torch.Tensor, videos: torch.Tensor, views: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The contrastive loss of clips x (B * views, 3, T, H, W), the views of a
        sample adjacent (as `clips_to_input` lays out a loader batch), whose samples
        come from `videos` (B,). Enqueues this step's keys."""
        n = len(x)
        b = n // views
        # View-major order: batch-norm groups then mix views of different samples.
        xv = x.view(b, views, *x.shape[1:]).transpose(0, 1).reshape(n, *x.shape[1:])
        q = F.normalize(self.encoder_q(xv).float(), dim=1).view(views, b, -1)
        k = self._keys(xv).view(views, b, -1)
        queue = self.queue.clone().detach()
        masked = self.mask_same_video
        pairs = (
            [(i, j) for i in range(views) for j in range(views) if i != j]
            if self.symmetric
            else [(0, 1)]
        )
        losses = [
            info_nce(
                q[i],
                k[j],
                queue,
                self.temperature,
                videos if masked else None,
                self.queue_videos if masked else None,
            )
            for i, j in pairs
        ]
        loss = torch.stack(losses).mean()
        # Statistics stay tensors: turning them into numbers every step would
        # make the CPU wait for the GPU.
        with torch.no_grad():
            stats = {
                "positive_similarity": (q[0] * k[1]).sum(1).mean(),
                "masked_negatives": (videos.view(-1, 1) == self.queue_videos.view(1, -1))
                .float()
                .sum(1)
                .mean(),
            }
        self.enqueue(k.reshape(n, -1), videos.repeat(views))
        return loss, stats
