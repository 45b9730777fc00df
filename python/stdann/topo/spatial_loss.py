"""The spatial loss of TDANN (Margalit et al., Neuron 2024), collected with forward hooks.

On a batch of block outputs averaged over time, within one neighbourhood of
the sheet: r_ij is the Pearson correlation across the batch of the responses
of units i and j, D_ij = 1 / (d_ij + 1) with d_ij their distance in mm, and

    SL_rel = (1 - pearson(lower triangle of r, lower triangle of D)) / 2
    SL_abs = mean over i > j of |r_ij - D_ij|

A unit whose response does not vary across the batch (a dead ReLU, say) has
no defined correlation: its pairs are left out of the loss instead of turning
it into NaN. The NumPy twin in `stdann.topo.reference` is the reference.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from stdann.model.backbone import named_blocks
from stdann.topo.errors import PositionsMismatchError
from stdann.topo.positions import BlockPositions

# A unit counts as constant when its standard deviation across the batch is
# below this fraction of its mean magnitude: float32 rounding of a constant
# column leaves residue of about 1e-7 of its value.
CONSTANT_TOLERANCE = 1e-5


def proximity(coordinates: torch.Tensor) -> torch.Tensor:
    """D_ij = 1 / (d_ij + 1) for coordinates (..., K, 2) in mm: (..., K, K)."""
    diff = coordinates.unsqueeze(-2) - coordinates.unsqueeze(-3)
    return 1.0 / (diff.pow(2).sum(-1).sqrt() + 1.0)


def unit_correlations(responses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pearson r_ij across the batch for responses (..., B, K), and which units vary.

    Returns r (..., K, K), 0 on pairs with a constant unit, and valid (..., K).
    """
    centred = responses - responses.mean(-2, keepdim=True)
    ss = centred.pow(2).sum(-2)
    scale = responses.abs().mean(-2) * CONSTANT_TOLERANCE
    # Only units that really do not vary are left out. A non-finite response
    # (a diverged model) is not "constant": it makes the loss non-finite, so the
    # training loop's check stops the run instead of a silently masked loss.
    valid = (ss > (scale.pow(2) * responses.shape[-2]).clamp_min(torch.finfo(ss.dtype).tiny)) | (
        ~torch.isfinite(ss)
    )
    norm = torch.where(valid, ss, torch.ones_like(ss)).sqrt()
    z = centred / norm.unsqueeze(-2) * valid.unsqueeze(-2)
    return z.transpose(-1, -2) @ z, valid


def _pair_weights(valid: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """1 for pairs i != j of varying units, else 0: (..., K, K).

    r and D are symmetric, so statistics over all off-diagonal pairs equal those
    over the lower triangle (each pair counted twice, alike); masking the full
    matrix spares the gathers of a lower-triangle index and their backward.
    """
    v = valid.to(dtype)
    w = v.unsqueeze(-1) * v.unsqueeze(-2)
    k = valid.shape[-1]
    return w * (1.0 - torch.eye(k, dtype=dtype, device=valid.device))


def _weighted_pearson(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of a and b over the last axis, pairs weighted 0 or 1.

    0 where either side is flat or fewer than three pairs count (six entries:
    the callers weight each pair twice, once per triangle).
    """
    sw = w.sum(-1)
    n = sw.clamp_min(1.0)
    ma = (w * a).sum(-1) / n
    mb = (w * b).sum(-1) / n
    da = (a - ma.unsqueeze(-1)) * w
    db = (b - mb.unsqueeze(-1)) * w
    cov = (da * db).sum(-1)
    var = da.pow(2).sum(-1) * db.pow(2).sum(-1)
    # A flat side gives 0; a NaN (from non-finite responses) is passed on.
    ok = (sw >= 6) & ((var > 0) | torch.isnan(var))
    return torch.where(
        ok, cov / torch.where(ok, var, torch.ones_like(var)).sqrt(), torch.zeros_like(cov)
    )


def spatial_loss_rel(responses: torch.Tensor, coordinates: torch.Tensor) -> torch.Tensor:
    """SL_rel per neighbourhood for responses (..., B, K) and coordinates (..., K, 2) in mm."""
    r, valid = unit_correlations(responses)
    d = proximity(coordinates).to(r.dtype)
    w = _pair_weights(valid, r.dtype)
    rho = _weighted_pearson(r.flatten(-2), d.flatten(-2), w.flatten(-2))
    return (1.0 - rho) / 2.0


def spatial_loss_abs(responses: torch.Tensor, coordinates: torch.Tensor) -> torch.Tensor:
    """SL_abs = mean |r_ij - D_ij| over pairs i > j of varying units, per neighbourhood."""
    r, valid = unit_correlations(responses)
    d = proximity(coordinates).to(r.dtype)
    w = _pair_weights(valid, r.dtype)
    return (w * (r - d).abs()).sum((-2, -1)) / w.sum((-2, -1)).clamp_min(1.0)


_LOSSES = {"rel": spatial_loss_rel, "abs": spatial_loss_abs}


class SpatialLoss:
    """sum_b alpha_b SL_b over the blocks of a model, from forward hooks.

    Use:

        with spatial.collect():      # draws this step's neighbourhoods
            features = model(clips)
        loss = task_loss + spatial.loss()

    Hooks gather only the sampled units of each block, average them over time
    and keep them in float32, also under bf16 autocast; the loss is computed
    with autocast off. Blocks with alpha = 0 are not collected.
    """

    def __init__(
        self,
        model: nn.Module,
        positions: dict[str, BlockPositions],
        alpha: dict[str, float],
        kind: str = "rel",
        neighbourhoods_per_step: int = 1,
        seed: int = 0,
    ) -> None:
        if kind not in _LOSSES:
            raise ValueError(f"spatial loss kind must be one of {sorted(_LOSSES)}, got {kind!r}")
        if neighbourhoods_per_step < 1:
            raise ValueError("neighbourhoods_per_step must be >= 1")
        blocks = named_blocks(model)
        unknown = set(positions) - set(blocks)
        if unknown:
            raise PositionsMismatchError(f"positions for blocks the model lacks: {sorted(unknown)}")
        self.kind = kind
        self.neighbourhoods_per_step = neighbourhoods_per_step
        self.alpha = {b: float(alpha[b]) for b in positions if float(alpha.get(b, 0.0)) > 0}
        self.positions = positions
        self._generator = torch.Generator().manual_seed(seed)
        self._device_cache: dict[tuple[str, torch.device], tuple[torch.Tensor, torch.Tensor]] = {}
        self._weights_cache: dict[tuple, torch.Tensor] = {}
        self._chosen: dict[str, torch.Tensor] = {}
        self._collected: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._active = False
        self._handles = [blocks[b].register_forward_hook(self._hook_for(b)) for b in self.alpha]

    def _tensors(self, block: str, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        key = (block, device)
        if key not in self._device_cache:
            p = self.positions[block]
            self._device_cache[key] = (
                torch.as_tensor(p.neighbourhoods.astype(np.int64), device=device),
                torch.as_tensor(p.coordinates, dtype=torch.float32, device=device),
            )
        return self._device_cache[key]

    def _hook_for(self, block: str):
        def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            if not self._active:
                return
            batch, c, time, h, w = output.shape
            p = self.positions[block]
            if (c, h, w) != p.unit_shape:
                raise PositionsMismatchError(
                    f"{block}: output units (C, H, W) = {(c, h, w)} but positions are for "
                    f"{p.unit_shape}; the clip size differs from the one positions were made for"
                )
            neighbourhoods, coordinates = self._tensors(block, output.device)
            chosen = self._chosen[block]
            if output.device.type == "cuda":
                # A copy from pageable memory would wait for the GPU to finish
                # the forward pass so far, once per block: pinned memory and
                # a non-blocking copy keep the CPU ahead of the GPU.
                chosen = chosen.pin_memory().to(output.device, non_blocking=True)
            else:
                chosen = chosen.to(output.device)
            units = neighbourhoods[chosen]  # (n, K)
            # Every time step of every unit as one index into the flattened
            # (C, T, H, W) output. index_select's backward is one index_add
            # into a zero gradient; indexing the (B, C, T, H*W) view directly
            # at C and H*W costs a transposed copy of the whole block
            # gradient and back, several ms a step at batch 64.
            hw = h * w
            steps = torch.arange(time, device=output.device) * hw
            flat_index = ((units // hw) * (time * hw) + units % hw).unsqueeze(-1) + steps
            picked = output.reshape(batch, -1).index_select(1, flat_index.flatten())
            # Averaging over time in float32 keeps bf16 rounding out of r_ij.
            responses = picked.view(batch, *flat_index.shape).float().mean(-1)  # (B, n, K)
            self._collected[block] = (responses.transpose(0, 1), coordinates[units])

        return hook

    @contextlib.contextmanager
    def collect(self) -> Iterator[None]:
        """Within this block, forward passes record the units of freshly drawn neighbourhoods."""
        self._collected.clear()
        for block in self.alpha:
            count = self.positions[block].neighbourhoods.shape[0]
            self._chosen[block] = torch.randint(
                count, (self.neighbourhoods_per_step,), generator=self._generator
            )
        self._active = True
        try:
            yield
        finally:
            self._active = False

    def block_losses(self) -> dict[str, torch.Tensor]:
        """SL_b of every collected block (mean over its neighbourhoods this step)."""
        if not self.alpha:
            return {}
        per_window = self._per_window()
        counts = [self._collected[b][0].shape[0] for b in self.alpha]
        return {
            b: part.mean() for b, part in zip(self.alpha, per_window.split(counts), strict=True)
        }

    def loss(self) -> torch.Tensor:
        """sum_b alpha_b SL_b, in float32 (0 when every alpha is 0)."""
        if not self.alpha:
            return torch.zeros(())
        per_window = self._per_window()
        return (per_window * self._window_weights(per_window.device)).sum()

    def _per_window(self) -> torch.Tensor:
        """SL of every collected window of every block, in block order: (sum of n_b,).

        All blocks go through one batched computation: windows of blocks with
        fewer units are padded with constant units, which the loss leaves out
        exactly like a dead unit. Eight blocks then cost the kernel launches
        of one instead of eight times as many small ones.
        """
        missing = set(self.alpha) - set(self._collected)
        if missing:
            raise RuntimeError(
                f"no responses collected for {sorted(missing)}: run the forward pass inside collect()"
            )
        collected = [self._collected[b] for b in self.alpha]
        k = max(r.shape[-1] for r, _ in collected)
        responses = torch.cat([nn.functional.pad(r, (0, k - r.shape[-1])) for r, _ in collected])
        coordinates = torch.cat(
            [nn.functional.pad(c, (0, 0, 0, k - c.shape[-2])) for _, c in collected]
        )
        with torch.autocast(device_type=responses.device.type, enabled=False):
            return _LOSSES[self.kind](responses, coordinates)

    def _window_weights(self, device: torch.device) -> torch.Tensor:
        """alpha_b / n_b for every window of block b: the weights that make
        sum_b alpha_b SL_b out of the per-window losses."""
        counts = [self._collected[b][0].shape[0] for b in self.alpha]
        key = (device, tuple(counts))
        if key not in self._weights_cache:
            weights = np.concatenate(
                [np.full(n, self.alpha[b] / n) for b, n in zip(self.alpha, counts, strict=True)]
            )
            self._weights_cache[key] = torch.as_tensor(weights, dtype=torch.float32, device=device)
        return self._weights_cache[key]

    def remove(self) -> None:
        """Detach the hooks from the model."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
