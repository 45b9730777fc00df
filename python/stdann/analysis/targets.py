"""What an analysis runs on: a checkpoint, its config, and the positions of its units.

A run folder of `stdann train` or `stdann recipe` means its final model with
the positions it trained on (kept in the stage's `positions/` folder); a
model trained without the spatial loss (alpha = 0) has no positions of its
own, and its maps use retinotopic positions made from its config, which the
report says.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from stdann.config import Config
from stdann.model.backbone import BLOCK_NAMES, unit_shapes
from stdann.model.moco import Encoder
from stdann.topo import BlockPositions, TopographyError, initial_positions, load_positions
from stdann.topo.sheets import topography_from_config
from stdann.train.checkpoint import (
    CheckpointError,
    backbone_from_checkpoint,
    file_sha256,
    load_checkpoint,
    resolve_checkpoint,
)


class AnalysisError(ValueError):
    """An analysis that cannot run: a bad checkpoint, block or positions."""


@dataclass
class AnalysisTarget:
    label: str
    checkpoint: Path | None
    checkpoint_sha256: str | None
    step: int | None
    config: Config
    backbone: nn.Module
    positions: dict[str, BlockPositions]
    positions_source: str

    @property
    def alpha(self) -> float | dict[str, float]:
        return self.config.topography.alpha


def _positions(config: Config, checkpoint: Path) -> tuple[dict[str, BlockPositions], str]:
    shapes = unit_shapes(
        config.data.frames, config.data.size, config.data.size, channels=config.model.width
    )
    folder = checkpoint.parent.parent / "positions"
    if folder.is_dir():
        try:
            found = {b: s for b, s in shapes.items() if (folder / f"{b}.npz").is_file()}
            return load_positions(folder, found), "trained on (the run's positions/ folder)"
        except TopographyError as err:
            raise AnalysisError(f"positions of '{checkpoint}': {err}") from None
    return (
        initial_positions(topography_from_config(config)),
        "retinotopic, made from the config (the model trained without positions)",
    )


def load_target(source: str | Path, label: str | None = None) -> AnalysisTarget:
    """The checkpoint (or a run folder's final one) with its config and positions."""
    try:
        checkpoint = resolve_checkpoint(source)
        backbone, config = backbone_from_checkpoint(checkpoint)
        step = load_checkpoint(checkpoint).get("step")
        step = None if step is None else int(step)
    except CheckpointError as err:
        raise AnalysisError(str(err)) from None
    positions, where = _positions(config, checkpoint)
    return AnalysisTarget(
        label=label or Path(source).name,
        checkpoint=checkpoint,
        checkpoint_sha256=file_sha256(checkpoint),
        step=step,
        config=config,
        backbone=backbone,
        positions=positions,
        positions_source=where,
    )


def untrained_control(target: AnalysisTarget) -> AnalysisTarget:
    """The same architecture with the weights training started from (same seed):
    random 3-D convolutions are already somewhat direction selective."""
    config = target.config
    torch.manual_seed(config.seed)
    encoder = Encoder(config.model.width, config.model.head_hidden, config.model.embedding_dim)
    return AnalysisTarget(
        label=f"{target.label} (untrained)",
        checkpoint=None,
        checkpoint_sha256=None,
        step=0,
        config=config,
        backbone=encoder.backbone,
        positions=target.positions,
        positions_source=target.positions_source,
    )


def check_block(block: str) -> None:
    if block not in BLOCK_NAMES:
        raise AnalysisError(f"no block {block!r} in r3d_18 (blocks: {', '.join(BLOCK_NAMES)})")


def recipe_folder(source: str | Path) -> Path | None:
    """The recipe run a source belongs to (the folder holding `1-pretrain/`),
    found from the run folder, a stage folder or a checkpoint inside one; None
    when the source is not part of a recipe run."""
    path = Path(source).resolve()
    for folder in (path, *path.parents[:3]):
        if (folder / "1-pretrain" / "finished.json").is_file():
            return folder
    return None


def alpha_zero_control(target: AnalysisTarget, source: str | Path) -> AnalysisTarget | str:
    """The recipe's stage-1 network (the contrastive loss alone, alpha = 0) on
    the target's own positions, or why there is none (a string).

    The final positions were swap-optimised on this very network's grating
    responses, so whatever map it shows on them is the swap's doing; what the
    trained model adds is the spatial loss's."""
    from stdann.train.recipe import final_checkpoint

    run = recipe_folder(source)
    if run is None:
        return f"'{source}' is not part of a recipe run (no 1-pretrain/ stage beside it)"
    try:
        checkpoint = final_checkpoint(run / "1-pretrain")
        if target.checkpoint is not None and checkpoint.resolve() == target.checkpoint.resolve():
            return "the analysed checkpoint is the stage-1 network itself"
        control = load_target(checkpoint, label=f"{target.label} (alpha = 0, stage 1)")
    except (AnalysisError, OSError, KeyError, ValueError) as err:
        return f"the stage-1 network of '{run}' cannot be loaded: {err}"
    control.positions = target.positions
    control.positions_source = f"the analysed model's: {target.positions_source}"
    return control
