"""A model folder others can load: `stdann export RUN --out DIR` and `stdann.load_model(DIR)`.

The folder holds everything needed to use or analyse the topographic model
without stdann's run folder, and nothing else, so it can be published as it
is (a Hugging Face model repository, say):

- `model.safetensors`: the backbone (r3d_18 up to its pooled features, no
  classifier) under torchvision's key names, so that at width 64
  `torchvision.models.video.r3d_18().load_state_dict(..., strict=False)`
  takes it, missing only `fc.weight` and `fc.bias`;
- `positions.safetensors`: every block's unit coordinates, neighbourhoods and
  sheet geometry (`stdann.topo.positions.save_positions_safetensors`);
- `config.yaml`: the run's whole config;
- `metrics.json`: the analysis of this very checkpoint, copied as written,
  where there is one;
- `README.md`: a model card whose YAML front matter says what data, how many
  steps, which alpha, the MT block's key numbers beside their controls, and
  how to cite.

Weights in torchvision's format from elsewhere (a supervised Kinetics r3d_18)
load with `backbone_from_weights`, for `stdann analyze --weights`.

The reading side (`load_model`, the file names, the weights' format) is
`stdann.train.model_folder`, below the analysis, which analyses model
folders; this module writes folders, with the analysis's numbers in the
card, and sits above it. Its names are re-exported here.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path
from typing import Any

import yaml

from stdann.analysis.targets import AnalysisError, load_target, recipe_folder
from stdann.atomic import atomic_write_text
from stdann.config import Config
from stdann.topo.positions import save_positions_safetensors
from stdann.train.checkpoint import (
    backbone_from_checkpoint,
    file_sha256,
    load_checkpoint,
    resolve_checkpoint,
)
from stdann.train.model_folder import (
    CARD_FILE,
    CLASSIFIER_KEYS,
    CONFIG_FILE,
    FORMAT,
    METRICS_FILE,
    MODEL_FILE,
    POSITIONS_FILE,
    Model,
    ModelFolderError,
    architecture,
    backbone_from_weights,
    is_model_folder,
    load_model,
    read_weights,
    save_weights,
    weights_bytes,
    weights_metadata,
)

CITATION = (
    'Gu et al., "Self-organized MT Direction Maps Emerge from Spatiotemporal Contrastive '
    'Optimization", arXiv:2605.11718 (2026); the TDANN it carries to video: Margalit et al., '
    "Neuron (2024)"
)
# The author list stdann knows is second-hand ("Gu et al."): the entry says no more.
BIBTEX = """@misc{gu2026mtmaps,
  title = {Self-organized {MT} Direction Maps Emerge from Spatiotemporal Contrastive Optimization},
  author = {Gu and others},
  year = {2026},
  eprint = {2605.11718},
  archivePrefix = {arXiv}
}"""

__all__ = [
    "CARD_FILE",
    "CLASSIFIER_KEYS",
    "CONFIG_FILE",
    "FORMAT",
    "METRICS_FILE",
    "MODEL_FILE",
    "POSITIONS_FILE",
    "Model",
    "ModelFolderError",
    "architecture",
    "backbone_from_weights",
    "export_model",
    "is_model_folder",
    "load_model",
    "model_card",
    "read_weights",
    "save_weights",
    "weights_bytes",
    "weights_metadata",
]

log = logging.getLogger("stdann.export")


# ---- writing a model folder --------------------------------------------------


def _read_metrics(path: Path) -> dict[str, Any]:
    try:
        metrics = json.loads(path.read_text())
    except OSError as err:
        raise ModelFolderError(f"cannot read '{path}': {err.strerror}") from None
    except ValueError as err:
        raise ModelFolderError(f"'{path}': not JSON ({err})") from None
    if not isinstance(metrics, dict) or "model" not in metrics or "mt_block" not in metrics:
        raise ModelFolderError(f"'{path}': not the metrics.json of `stdann analyze`")
    return metrics


def find_metrics(source: str | Path, checkpoint_sha256: str | None) -> Path | None:
    """The analysis of the exported checkpoint in the `make demo` layout,
    SOURCE/analysis/metrics.json, or None. One of another checkpoint (the run
    went on after it was analysed) is left out with a warning: its numbers are
    not this model's."""
    path = Path(source) / "analysis" / METRICS_FILE
    if not path.is_file():
        return None
    try:
        found = _read_metrics(path).get("checkpoint_sha256")
    except ModelFolderError as err:
        log.warning("not exporting %s", err)
        return None
    if found != checkpoint_sha256:
        log.warning(
            "not exporting '%s': it is the analysis of another checkpoint (sha256 %s); "
            "analyse the run again, or pass --metrics",
            path,
            found,
        )
        return None
    return path


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ModelFolderError(f"'{out}': a file, not a folder for the model")
    if out.is_dir() and any(out.iterdir()) and not is_model_folder(out):
        # A run folder given as --out would have its config.yaml replaced.
        raise ModelFolderError(
            f"'{out}': not empty and not a model folder: export into a new folder"
        )


def export_model(source: str | Path, out: str | Path, *, metrics: str | Path | None = None) -> Path:
    """Write the model folder of a run (its final checkpoint) or of a checkpoint into `out`.

    The positions are those the analysis uses: the run's positions/ folder, or
    retinotopic ones made from its config for a model trained without them
    (the card says which). `metrics`, a metrics.json of `stdann analyze`,
    must be the analysis of this very checkpoint; without it,
    SOURCE/analysis/metrics.json is taken where it is. Each file is written
    atomically, the card last; a metrics.json left from an earlier export of
    another analysis is removed.
    """

    out = Path(out)
    _check_out(out)
    try:
        target = load_target(source)
    except AnalysisError as err:
        raise ModelFolderError(str(err)) from None
    if metrics is not None:
        metrics_path: Path | None = Path(metrics)
        found = _read_metrics(metrics_path).get("checkpoint_sha256")
        if found != target.checkpoint_sha256:
            raise ModelFolderError(
                f"'{metrics}': the analysis of another checkpoint (sha256 {found}), not of "
                f"'{target.checkpoint}' (sha256 {target.checkpoint_sha256}): analyse that one "
                "with `stdann analyze`"
            )
    else:
        metrics_path = find_metrics(source, target.checkpoint_sha256)
    metrics_text = None if metrics_path is None else metrics_path.read_text()

    config = target.config
    save_weights(
        out / MODEL_FILE,
        target.backbone,
        config,
        step=target.step,
        source_sha256=target.checkpoint_sha256,
        positions_source=target.positions_source,
    )
    save_positions_safetensors(out / POSITIONS_FILE, target.positions)
    atomic_write_text(out / CONFIG_FILE, config.to_yaml())
    if metrics_text is None:
        (out / METRICS_FILE).unlink(missing_ok=True)
    else:
        atomic_write_text(out / METRICS_FILE, metrics_text)
    card = model_card(
        config,
        name=out.resolve().name,
        step=target.step,
        positions_source=target.positions_source,
        source_sha256=target.checkpoint_sha256,
        metrics=None if metrics_text is None else json.loads(metrics_text),
        recipe=recipe_folder(source) is not None,
    )
    atomic_write_text(out / CARD_FILE, card)
    return out


# ---- the model card ----------------------------------------------------------

#: The MT block's key numbers: (front-matter key, row of the card, path in one
#: network's result, "{block}" standing for the MT block; the path of a
#: bootstrap interval or None). Paths under "blocks" are the units' tuning,
#: which the shuffled-positions control shares with the model.
KEY_METRICS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...] | None], ...] = (
    (
        "fraction_responsive",
        "fraction responsive",
        ("blocks", "{block}", "fraction_responsive"),
        None,
    ),
    (
        "fraction_direction_selective",
        "fraction direction-selective (DSI >= 1/3)",
        ("blocks", "{block}", "class_fractions", "direction-selective"),
        None,
    ),
    (
        "median_dsi",
        "median DSI [95% interval]",
        ("blocks", "{block}", "dsi", "median"),
        ("blocks", "{block}", "dsi", "median_ci95"),
    ),
    (
        "median_direction_cv",
        "median direction circular variance [95% interval]",
        ("blocks", "{block}", "cv", "median"),
        ("blocks", "{block}", "cv", "median_ci95"),
    ),
    (
        "preferred_direction_resultant",
        "preferred-direction resultant (0: every direction alike)",
        ("blocks", "{block}", "preferred_direction", "resultant"),
        None,
    ),
    (
        "direction_map_defined",
        "direction map with a characteristic wavelength",
        ("map", "direction", "defined"),
        None,
    ),
    (
        "column_spacing_mm",
        "column spacing Lambda (mm)",
        ("map", "direction", "wavelength_mm"),
        None,
    ),
    (
        "pinwheel_density",
        "pinwheels per Lambda^2 [95% interval]",
        ("map", "direction", "density"),
        ("map", "direction", "density_ci95"),
    ),
)
NETWORKS = (
    ("model", "model"),
    ("untrained", "untrained"),
    ("alpha_0", "alpha = 0 (stage 1)"),
    ("shuffled_positions", "shuffled positions"),
)
#: The shuffled-positions control moves units, so its tuning is the model's.
SAME_AS_MODEL = "the model's (only the positions are shuffled)"


def lookup(result: Any, path: tuple[str, ...]) -> tuple[Any, str | None]:
    """(value, None) at `path` in one network's result, or (None, why not):
    the reason metrics.json gives beside the null value or above it."""
    node, reason = result, None
    for i, key in enumerate(path):
        if not isinstance(node, dict):
            return None, reason or "not in metrics.json"
        reason = node.get("reason") or reason
        reasons = node.get("reasons")
        if key not in node or node[key] is None:
            if isinstance(reasons, dict) and reasons.get(key):
                return None, str(reasons[key])
            if reason:
                return None, str(reason)
            if node.get("n") == 0:
                return None, "no unit has a value"
            if path[i - 1 : i] == ("class_fractions",):
                return None, "no responsive units"
            return None, "null in metrics.json, no reason given"
        node = node[key]
    return node, None


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:.3g}"
    return str(value)


def key_metrics(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Front-matter key -> network -> the MT block's number as metrics.json
    holds it, or "not defined: REASON"; the shuffled-positions control only
    where it differs from the model (its map)."""
    block = metrics["mt_block"]
    networks = {"model": metrics["model"], **metrics.get("controls", {})}
    out: dict[str, dict[str, Any]] = {}
    for key, _, path, _ in KEY_METRICS:
        path = tuple(block if p == "{block}" else p for p in path)
        row: dict[str, Any] = {}
        for name, _ in NETWORKS:
            if name == "shuffled_positions" and path[0] == "blocks":
                continue
            if name not in networks:
                row[name] = "not defined: not in metrics.json"
                continue
            value, reason = lookup(networks[name], path)
            row[name] = value if reason is None else f"not defined: {reason}"
        out[key] = row
    return out


def _cell(result: Any, path: tuple[str, ...], interval: tuple[str, ...] | None) -> str:
    value, reason = lookup(result, path)
    if reason is not None:
        return f"not defined: {reason}"
    ci = lookup(result, interval)[0] if interval else None
    if isinstance(ci, list) and len(ci) == 2 and all(isinstance(c, int | float) for c in ci):
        return f"{_number(value)} [{_number(ci[0])}, {_number(ci[1])}]"
    return _number(value)


def metrics_table(metrics: dict[str, Any]) -> str:
    """The MT block's key numbers beside the controls, as a Markdown table."""
    block = metrics["mt_block"]
    networks = {"model": metrics["model"], **metrics.get("controls", {})}
    lines = [
        "| quantity | " + " | ".join(label for _, label in NETWORKS) + " |",
        "| --- |" + " --- |" * len(NETWORKS),
    ]
    for _, label, path, interval in KEY_METRICS:
        path = tuple(block if p == "{block}" else p for p in path)
        interval = interval and tuple(block if p == "{block}" else p for p in interval)
        cells = []
        for name, _ in NETWORKS:
            if name == "shuffled_positions" and path[0] == "blocks":
                cells.append(SAME_AS_MODEL)
            elif name not in networks:
                cells.append("not defined: not in metrics.json")
            else:
                cells.append(_cell(networks[name], path, interval))
        lines.append(f"| {label} | " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def _alpha_text(alpha: float | dict[str, float]) -> str:
    if isinstance(alpha, dict):
        return ", ".join(f"{b}: {a:g}" for b, a in alpha.items())
    return f"{alpha:g}"


def _trained_without_spatial_loss(alpha: float | dict[str, float]) -> bool:
    values = alpha.values() if isinstance(alpha, dict) else [alpha]
    return all(math.isclose(a, 0.0) for a in values)


def model_card(
    config: Config,
    *,
    name: str,
    step: int | None,
    positions_source: str,
    source_sha256: str | None,
    metrics: dict[str, Any] | None,
    recipe: bool = False,
) -> str:
    """README.md of a model folder: YAML front matter (data, steps, alpha, the
    MT block's key numbers beside their controls, the citation) and the same
    in words, with how to load and analyse the model. Every number is one of
    `metrics` (a metrics.json of `stdann analyze`), none made up; a null one
    is "not defined" with the reason metrics.json gives."""
    from stdann import __version__

    width = config.model.width
    alpha = config.topography.alpha
    plain = config.to_dict()
    front: dict[str, Any] = {
        "library_name": "stdann",
        "tags": ["stdann", "topographic", "video", "r3d_18", "self-supervised", "moco"],
        "stdann": {
            "format": FORMAT,
            "version": __version__,
            "architecture": architecture(width),
            "width": width,
            "data": config.data.root,
            "clip": {
                "frames": config.data.frames,
                "stride": config.data.stride,
                "size": config.data.size,
            },
            "steps": step,
            "alpha": plain["topography"]["alpha"],
            "seed": config.seed,
            "positions": positions_source,
            "source_checkpoint_sha256": source_sha256,
        },
        "cite": CITATION,
    }
    if recipe:
        front["stdann"]["recipe"] = {
            "pretrain_steps": config.recipe.pretrain_steps,
            "topographic_steps": config.recipe.topographic_steps,
            "init": config.recipe.init,
        }
    if metrics is None:
        front["stdann"]["analysis"] = None
    else:
        front["stdann"]["analysis"] = {
            "mt_block": metrics["mt_block"],
            "paper_scale": (metrics.get("scale") or {}).get("paper_scale"),
            "key_metrics": key_metrics(metrics),
            "warnings": metrics.get("warnings", []),
        }
    header = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=1000)

    loss = (
        "without the spatial loss (alpha = 0)"
        if _trained_without_spatial_loss(alpha)
        else f"with the spatial loss at alpha = {_alpha_text(alpha)}"
    )
    data = (
        "stdann's built-in corpus (`stdann samples`; a toy)"
        if config.data.root == "builtin"
        else f"the videos of `{config.data.root}`"
    )
    training = (
        f"The recipe: {config.recipe.pretrain_steps} steps of the contrastive loss alone "
        f"(alpha = 0), positions made and swap-optimised on that network's grating "
        f"responses, then {config.recipe.topographic_steps} steps {loss} "
        f"({config.recipe.init}); this is the final network."
        if recipe
        else f"One run {loss}."
    )
    parts = [
        f"---\n{header}---\n",
        f"# {name}\n",
        f"An {architecture(width)} (a 3-D ResNet-18 on video clips) trained self-supervised "
        f"with momentum contrast (rho-MoCo) by stdann, every unit placed on a simulated "
        "cortical sheet.\n",
        "## Training\n",
        f"- data: {data}\n"
        f"- clips: {config.data.frames} frames at stride {config.data.stride}, "
        f"{config.data.size} x {config.data.size} pixels\n"
        f"- steps: {'unknown' if step is None else step}\n"
        f"- alpha (weight of the spatial loss): {_alpha_text(alpha)}\n"
        f"- seed: {config.seed}\n"
        f"- positions: {positions_source}\n\n"
        f"{training} The whole config is `{CONFIG_FILE}`.\n",
    ]
    block = metrics["mt_block"] if metrics else config.analysis.block
    parts.append(f"## The MT-like block ({block}) beside its controls\n")
    if metrics is None:
        parts.append(
            "Not analysed: this folder has no metrics.json. `stdann analyze` (below) measures "
            "it beside its controls.\n"
        )
    else:
        scale = metrics.get("scale") or {}
        parts.append(
            "From `metrics.json`, the analysis of this very checkpoint by `stdann analyze` "
            "(every number it holds, with the definitions, is there and in its report). "
            "Controls: the untrained network (same architecture, seed and positions), the "
            "recipe's stage-1 network (alpha = 0) on the final positions, and the model's "
            "units on shuffled positions. Pinwheel density is given only where the map has "
            "a characteristic wavelength.\n"
        )
        parts.append(metrics_table(metrics) + "\n")
        if scale.get("paper_scale") is False:
            parts.append(
                "Trained at reduced scale (a narrower network or smaller clips than the "
                "paper's): the numbers show the method working, not a reproduction.\n"
            )
        for warning in metrics.get("warnings", []):
            parts.append(f"Warning from the analysis: {warning}\n")
    parts.append("## Use\n")
    parts.append(
        "```python\n"
        "import stdann\n\n"
        'backbone, positions, config = stdann.load_model("path/to/this/folder")\n'
        "# backbone: r3d_18 up to its pooled features; positions[block].coordinates: each\n"
        "# unit's place on the sheet (mm), units in the block output's (C, H, W) order\n"
        "```\n"
    )
    if width == 64:
        parts.append(
            "The weights carry torchvision's key names; torchvision's own class takes them "
            "(the classifier `fc` is not part of the backbone):\n\n"
            "```python\n"
            "import torch\n"
            "from safetensors.torch import load_file\n"
            "from torchvision.models.video import r3d_18\n\n"
            "model = r3d_18()\n"
            'model.load_state_dict(load_file("model.safetensors"), strict=False)  '
            "# missing: fc.weight, fc.bias\n"
            "model.fc = torch.nn.Identity()\n"
            "```\n"
        )
    else:
        parts.append(
            f"The weights carry torchvision's key names, but at width {width} (channels of "
            "layer1; torchvision's r3d_18 has 64) they do not fit torchvision's r3d_18 class: "
            "`stdann.load_model` builds the network of this width.\n"
        )
    parts.append(
        "Measure its MT physiology beside its controls with stdann (writes metrics.json, "
        "figures and report.html):\n\n"
        "```\n"
        "stdann analyze path/to/this/folder --out analysis\n"
        "```\n"
    )
    parts.append(
        "## Files\n\n"
        f"- `{MODEL_FILE}`: the backbone's weights (safetensors)\n"
        f"- `{POSITIONS_FILE}`: every block's unit coordinates (mm), neighbourhoods and "
        "sheet geometry\n"
        f"- `{CONFIG_FILE}`: the training config\n"
        + (f"- `{METRICS_FILE}`: the analysis\n" if metrics is not None else "")
        + f"- `{CARD_FILE}`: this card\n"
    )
    parts.append(f"## Citation\n\n{CITATION}.\n\n```bibtex\n{BIBTEX}\n```\n")
    return "\n".join(parts)


# ---- `stdann export` -------------------------------------------------------


def run_export(args: argparse.Namespace) -> int:
    if args.out.suffix == ".safetensors":
        # The earlier form, kept for scripts that use it: the weights alone.
        if args.metrics is not None:
            raise ModelFolderError("--metrics goes with a model folder, not a weights file")
        checkpoint = resolve_checkpoint(args.checkpoint)
        backbone, config = backbone_from_checkpoint(checkpoint)
        step = load_checkpoint(checkpoint).get("step")
        save_weights(
            args.out,
            backbone,
            config,
            step=None if step is None else int(step),
            source_sha256=file_sha256(checkpoint),
        )
    else:
        export_model(args.checkpoint, args.out, metrics=args.metrics)
    print(args.out)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="a model folder others can load and analyse: weights, positions, config, "
        "metrics and a model card",
        description="Write DIR/model.safetensors (the backbone, torchvision's key names), "
        "positions.safetensors, config.yaml, metrics.json (the analysis of this checkpoint: "
        "--metrics, or RUN/analysis/metrics.json where it is) and README.md (a model card). "
        "`stdann.load_model(DIR)` and `stdann analyze DIR` read it. An --out ending in "
        ".safetensors writes the weights alone.",
    )
    p.add_argument("checkpoint", type=Path, help="a checkpoint, or a run folder (its latest)")
    p.add_argument("--out", required=True, type=Path, help="the model folder (or FILE.safetensors)")
    p.add_argument("--metrics", type=Path, help="metrics.json of `stdann analyze` of the run")
    p.set_defaults(run=run_export)
