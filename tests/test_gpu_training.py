"""Training and analysis on a CUDA device: bf16 autocast, the loss in float32, resume.

Skipped without a GPU (CI has none); `pytest -m gpu` runs them where there is one.
"""

from __future__ import annotations

import math

import pytest
import torch

from stdann.config import load_config
from stdann.train import train
from train_fixtures import CONFIGS, MICRO, micro_corpus

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_training_on_cuda_under_bf16_resumes_and_stays_finite(tmp_path):
    corpus = micro_corpus(tmp_path / "videos")
    config = load_config(
        CONFIGS / "tiny.yaml", [*MICRO, f"data.root={corpus}", "train.device=cuda", "train.steps=4"]
    )
    first = train(config, tmp_path / "run", progress=False, stop_at=2)
    assert first.step == 2
    result = train(config, tmp_path / "run", progress=False)
    assert result.step == 4
    assert next(result.moco.encoder_q.parameters()).device.type == "cuda"
    assert result.moco.queue.dtype == torch.float32
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    import json

    losses = [json.loads(x)["loss"] for x in lines if '"loss"' in x]
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses)
