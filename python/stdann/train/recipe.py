"""The paper's training recipe as one resumable pipeline of four stages.

    RUN/1-pretrain      train with the contrastive loss alone (alpha = 0)
    RUN/2-positions     retinotopic positions of every block
    RUN/3-swap          the stage-1 model's responses to drifting gratings, and
                        positions swap-optimised on them (TDANN's pre-optimisation)
    RUN/4-topographic   train with both losses on the optimised positions:
                        from the stage-1 weights (recipe.init: progressive, the
                        paper's way, second-hand) or from scratch (TDANN's way)

A stage is finished when its folder holds `finished.json` (written last,
atomically); a rerun skips finished stages and resumes a killed training
stage from its last checkpoint.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from stdann.atomic import atomic_write_text
from stdann.config import Config, apply_overrides, config_from_dict
from stdann.model.backbone import BLOCK_NAMES
from stdann.runtime import distributed_context, pick_device
from stdann.stimuli import grating_set
from stdann.topo import (
    BlockPositions,
    initial_positions,
    positions_path,
    save_positions,
    swap_optimize,
)
from stdann.topo.swap import swap_settings
from stdann.train.checkpoint import backbone_from_checkpoint
from stdann.train.loop import train

log = logging.getLogger("stdann.recipe")

STAGES = ("1-pretrain", "2-positions", "3-swap", "4-topographic")


def stage_config(config: Config, overrides: list[str]) -> Config:
    return config_from_dict(apply_overrides(config.to_dict(), overrides))


def is_finished(folder: Path) -> bool:
    return (folder / "finished.json").is_file()


def _finish(folder: Path, **info) -> None:
    atomic_write_text(folder / "finished.json", json.dumps(info) + "\n")


def final_checkpoint(folder: Path) -> Path:
    info = json.loads((folder / "finished.json").read_text())
    return folder / "checkpoints" / info["checkpoint"]


def write_grating_responses(
    checkpoint: Path, out: Path, device: torch.device | None = None, batch_size: int = 16
) -> list[Path]:
    """Each block's time-averaged responses to the checkpoint's gratings, as BLOCK.npy."""
    from stdann.model.recording import record_block_responses, save_block_responses

    backbone, config = backbone_from_checkpoint(checkpoint)
    device = device or pick_device(config)
    stimuli = grating_set(config)
    responses = record_block_responses(
        backbone.to(device),
        stimuli.clips,
        BLOCK_NAMES,
        batch_size=batch_size,
        device=device,
        progress=True,
    )
    return save_block_responses(out, responses, stimuli)


def run_recipe(
    config: Config, out: str | Path, *, progress: bool = True, on_stage: Callable | None = None
) -> Path:
    """Run every unfinished stage of the recipe into `out`; returns the final stage's folder.

    Under torchrun (`torchrun ... -m stdann.cli recipe ...`) every rank trains
    in stages 1 and 4, rank 0 alone does stages 2 and 3 and writes the files,
    and the ranks wait for each other between stages.
    """
    out = Path(out)
    rank, _world, _local = distributed_context()

    def sync() -> None:
        if dist.is_initialized():
            dist.barrier()

    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "config.yaml", config.to_yaml())
    folders = {s: out / s for s in STAGES}

    def unfinished(stage: str) -> bool:
        """Whether the stage must run, decided alike on every rank before any acts."""
        done = is_finished(folders[stage])
        log.info("stage %s: %s", stage, "finished already" if done else "running")
        if on_stage is not None:
            on_stage(stage, done)
        sync()
        return not done

    # 1. Contrastive loss alone.
    stage = STAGES[0]
    if unfinished(stage):
        pre = stage_config(
            config, [f"train.steps={config.recipe.pretrain_steps}", "topography.alpha=0"]
        )
        train(pre, folders[stage], resume=True, progress=progress)
        sync()
    pretrained = final_checkpoint(folders[stage])

    # 2. Retinotopic positions.
    stage = STAGES[1]
    if unfinished(stage):
        if rank == 0:
            save_positions(folders[stage], initial_positions(config))
            _finish(folders[stage])
        sync()

    # 3. Grating responses of the stage-1 model; positions swap-optimised on them.
    stage = STAGES[2]
    if unfinished(stage) and rank == 0:
        responses_dir = folders[stage] / "responses"
        write_grating_responses(pretrained, responses_dir)
        optimised = {}
        for block in BLOCK_NAMES:
            positions = BlockPositions.load(positions_path(folders[STAGES[1]], block))
            responses = np.load(responses_dir / f"{block}.npy")
            optimised[block], stats = swap_optimize(
                responses,
                positions,
                **swap_settings(config),
                # Units of a network that never respond (dead ReLUs) are
                # uncorrelated with everything; they are not an error here.
                allow_constant_units=True,
                progress=progress,
                source=f"'{responses_dir / (block + '.npy')}'",
            )
            log.info(
                "%s: %d of %d swaps accepted",
                block,
                stats["swaps_accepted"],
                stats["steps_done"],
            )
        save_positions(folders[stage] / "positions", optimised)
        _finish(folders[stage])
    sync()

    # 4. Both losses on the optimised positions.
    stage = STAGES[3]
    if unfinished(stage):
        lr = config.optim.lr_per_64_clips * config.recipe.topographic_lr_scale
        topo = stage_config(
            config,
            [f"train.steps={config.recipe.topographic_steps}", f"optim.lr_per_64_clips={lr!r}"],
        )
        train(
            topo,
            folders[stage],
            resume=True,
            init_weights=pretrained if config.recipe.init == "progressive" else None,
            positions=folders[STAGES[2]] / "positions",
            progress=progress,
        )
        sync()
    if rank == 0:
        _finish(out, final=STAGES[3])
    return folders[STAGES[3]]
