"""Model input: whole-sample flips (`data.sample_flip_p`)."""

from __future__ import annotations

import pytest
import torch

from stdann.model.inputs import flip_samples


def batch(samples: int, views: int = 2) -> torch.Tensor:
    """(samples x views, 3, T, H, W) with every element distinct."""
    n = samples * views * 3 * 2 * 3 * 4
    return torch.arange(n, dtype=torch.float32).view(samples * views, 3, 2, 3, 4)


def test_certain_flips_turn_every_view_of_every_sample():
    x = batch(3)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(flip_samples(x, 2, (1.0, 0.0), g), x.flip(-1))
    assert torch.equal(flip_samples(x, 2, (0.0, 1.0), g), x.flip(-2))
    assert torch.equal(flip_samples(x, 2, (1.0, 1.0), g), x.flip(-1).flip(-2))
    assert torch.equal(flip_samples(x, 2, (0.0, 0.0), g), x)


def test_views_of_a_sample_flip_alike_and_the_draws_are_seeded():
    samples = 400
    x = batch(samples)
    y = flip_samples(x, 2, (0.5, 0.5), torch.Generator().manual_seed(1))
    kinds = []
    for s in range(samples):
        seen = []
        for v in range(2):
            i = 2 * s + v
            match = [
                k
                for k, f in enumerate((x[i], x[i].flip(-1), x[i].flip(-2), x[i].flip(-1).flip(-2)))
                if torch.equal(y[i], f)
            ]
            assert len(match) == 1
            seen += match
        assert seen[0] == seen[1], f"sample {s}: its views flipped differently"
        kinds.append(seen[0])
    counts = torch.bincount(torch.tensor(kinds), minlength=4)
    # Each of the four outcomes has probability 1/4: 100 of 400 expected; the
    # seeded draw lies well inside 100 +- 4 standard deviations (35).
    assert all(65 <= int(c) <= 135 for c in counts), counts
    again = flip_samples(x, 2, (0.5, 0.5), torch.Generator().manual_seed(1))
    assert torch.equal(y, again)


def test_a_batch_that_is_not_whole_samples_is_refused():
    with pytest.raises(ValueError, match="views"):
        flip_samples(batch(3)[:5], 2, (0.5, 0.5), torch.Generator())
