"""What an analysis runs on: a checkpoint, its config, and the positions of its units.

A run folder of `stdann train` or `stdann recipe` means its final model with
the positions it trained on (kept in the stage's `positions/` folder); a
model trained without the spatial loss (alpha = 0) has no positions of its
own, and its maps use retinotopic positions made from its config, which the
report says.

A model folder of `stdann export` brings its own config and positions
(`load_folder_target`); weights in torchvision's format that stdann did not
train are analysed on a config and positions the user picks
(`load_weights_target`). Neither has a recipe stage 1 to serve as the alpha =
0 control.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from stdann.config import Config
from stdann.errors import StdannError
from stdann.model.backbone import BLOCK_NAMES, unit_shapes
from stdann.model.moco import Encoder
from stdann.topo import BlockPositions, TopographyError, initial_positions, load_positions
from stdann.train.checkpoint import (
    CheckpointError,
    backbone_from_checkpoint,
    file_sha256,
    load_checkpoint,
    resolve_checkpoint,
)
from stdann.train.model_folder import (
    METRICS_FILE,
    MODEL_FILE,
    POSITIONS_FILE,
    ModelFolderError,
    backbone_from_weights,
    is_model_folder,
    load_model,
    weights_metadata,
)
from stdann.train.recipe import STAGES, final_checkpoint


class AnalysisError(StdannError, ValueError):
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
    #: Why there is no alpha = 0 network (a model folder, foreign weights), or
    #: None: look for the recipe run the source belongs to.
    no_stage_1: str | None = None

    @property
    def alpha(self) -> float | dict[str, float]:
        return self.config.topography.alpha


def _positions(config: Config, checkpoint: Path) -> tuple[dict[str, BlockPositions], str]:
    """The positions a checkpoint's network is analysed on: its run's own, or
    for a recipe's stage 4 trained at alpha = 0 (which trains without
    positions) the swap-optimised ones the other alphas of a sweep trained on,
    so that alpha = 0 differs from them in the spatial loss alone; else
    retinotopic ones made from the config."""
    stage = checkpoint.parent.parent
    candidates = [(stage / "positions", "trained on (the run's positions/ folder)")]
    run = recipe_folder(checkpoint)
    if run is not None and stage.name == STAGES[3]:
        candidates.append(
            (
                run / STAGES[2] / "positions",
                "the recipe's swap-optimised positions (stage 4 trained at alpha = 0, "
                "without them)",
            )
        )
    shapes = unit_shapes(
        config.data.frames, config.data.size, config.data.size, channels=config.model.width
    )
    for folder, where in candidates:
        if folder.is_dir():
            try:
                found = {b: s for b, s in shapes.items() if (folder / f"{b}.npz").is_file()}
                return load_positions(folder, found), where
            except TopographyError as err:
                raise AnalysisError(f"positions of '{checkpoint}': {err}") from None
    return (
        initial_positions(config),
        "retinotopic, made from the config (the model trained without positions)",
    )


def load_target(source: str | Path, label: str | None = None) -> AnalysisTarget:
    """The checkpoint (or a run folder's final one) with its config and positions,
    or a model folder of `stdann export` (`load_folder_target`)."""
    if is_model_folder(source):
        return load_folder_target(source, label)
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


def load_folder_target(folder: str | Path, label: str | None = None) -> AnalysisTarget:
    """A model folder of `stdann export`: its weights, config and positions."""

    folder = Path(folder)
    weights = folder / MODEL_FILE
    try:
        backbone, positions, config = load_model(folder)
        metadata = weights_metadata(weights)
    except ModelFolderError as err:
        raise AnalysisError(str(err)) from None
    step = metadata.get("step")
    trained_on = metadata.get("positions")
    analysed = (folder / METRICS_FILE).is_file()
    return AnalysisTarget(
        label=label or folder.name,
        checkpoint=weights,
        checkpoint_sha256=file_sha256(weights),
        step=int(step) if step and step.isdigit() else None,
        config=config,
        backbone=backbone,
        positions=positions,
        positions_source="the model folder's positions.safetensors"
        + (f": {trained_on}" if trained_on else ""),
        no_stage_1="a model folder holds one network, not its recipe's stage 1"
        + (
            f" (the folder's {METRICS_FILE} is the analysis made before export)" if analysed else ""
        ),
    )


#: What the config of foreign weights says of their training, which stdann does not know.
UNKNOWN_DATA = "unknown (weights not trained by stdann)"


def weights_positions(
    source: str | Path, shapes: dict[str, tuple[int, int, int]]
) -> dict[str, BlockPositions]:
    """Positions from a positions.safetensors file, a model folder holding one,
    or a folder of BLOCK.npz files (`stdann positions init`, a run's
    positions/), checked against the blocks' unit `shapes`."""
    from stdann.topo.positions import load_positions_safetensors

    path = Path(source)
    if path.is_dir() and (path / POSITIONS_FILE).is_file():
        path = path / POSITIONS_FILE
    try:
        if path.is_file():
            found = load_positions_safetensors(path)
            for block, p in found.items():
                if block not in shapes:
                    raise AnalysisError(f"'{path}': positions of {block!r}, not a block of r3d_18")
                p.check_unit_shape(shapes[block], source=f"'{path}'")
            return found
        if path.is_dir():
            blocks = {b: s for b, s in shapes.items() if (path / f"{b}.npz").is_file()}
            if blocks:
                return load_positions(path, blocks)
    except TopographyError as err:
        raise AnalysisError(f"positions '{source}': {err}") from None
    raise AnalysisError(
        f"'{source}': neither {POSITIONS_FILE} nor a folder of BLOCK.npz positions: give a "
        "model folder, a positions folder (`stdann positions init`, a run's positions/) or "
        "'retinotopic'"
    )


def load_weights_target(
    weights: str | Path,
    label: str | None = None,
    *,
    arch: str = "r3d_18",
    positions: str | Path = "retinotopic",
    config: str | Path | None = None,
) -> AnalysisTarget:
    """r3d_18 weights in torchvision's format (.pth, .pt or .safetensors; a
    supervised Kinetics model, say) set up for the analysis.

    The width comes from the weights. The clip size, stimuli and analysis
    settings come from `config` (default configs/paper.yaml, the paper's:
    16 x 112 x 112 clips), with model.width set to that width; what the
    config says of training is replaced, since stdann does not know it: the
    data are unknown and alpha is 0 (stdann's spatial loss had no part in
    it). `positions`: "retinotopic" (made from that config, as for a run
    trained without positions) or a model folder, positions.safetensors or
    folder of BLOCK.npz. The untrained control is r3d_18 at that width and the
    config's seed; there is no alpha = 0 control.
    """
    from stdann.config import PAPER_CONFIG, load_config

    if arch != "r3d_18":
        raise AnalysisError(f"unknown architecture {arch!r} (known: r3d_18)")
    weights = Path(weights)
    try:
        backbone, width = backbone_from_weights(weights)
    except ModelFolderError as err:
        raise AnalysisError(str(err)) from None
    path = Path(config) if config is not None else PAPER_CONFIG
    if config is None and not path.is_file():
        raise AnalysisError(
            "configs/paper.yaml, the config --weights uses by default, is not part of this "
            "installation: pass --config FILE (a stdann config; its clip size, stimuli and "
            "analysis settings are used)"
        )
    cfg = load_config(
        path, [f"model.width={width}", "topography.alpha=0.0", f"data.root={UNKNOWN_DATA}"]
    )
    named = "configs/paper.yaml" if config is None else f"'{path.name}'"
    if str(positions) == "retinotopic":
        placed = initial_positions(cfg)
        where = f"retinotopic, made from {named} at width {width} (the weights carry none)"
    else:
        shapes = unit_shapes(cfg.data.frames, cfg.data.size, cfg.data.size, channels=width)
        placed = weights_positions(positions, shapes)
        where = f"from '{Path(positions).name}' (the weights carry none)"
    return AnalysisTarget(
        label=label or weights.stem,
        checkpoint=weights,
        checkpoint_sha256=file_sha256(weights),
        step=None,
        config=cfg,
        backbone=backbone.eval(),
        positions=placed,
        positions_source=where,
        no_stage_1=f"'{weights.name}' was not trained by stdann: no recipe stage 1",
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

    if target.no_stage_1 is not None:
        return target.no_stage_1
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
