"""The experiment config: one typed tree of dataclasses, read from YAML.

A config file may name a `base:` config (a path relative to itself) and set
only what differs; `configs/paper.yaml` is the root that every shipped config
builds on, and holds every default once. The dataclasses below have no
defaults of their own, so a value never lives in two places (one exception,
`AreaConfig.macaque_area_mm2`, says why beside it): a key missing from the
whole chain, an unknown key or a value of the wrong type is a `ConfigError`
naming the key, raised before anything runs. `validate` checks the values
that each section can be checked for on its own; code downstream takes the
`Config`, or a section of it, and reads no file again.

Overrides from the command line are `section.key=value` strings whose value
is parsed as YAML (`--set train.steps=200 --set topography.alpha=0`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, Union

import yaml

from stdann.errors import StdannError

#: The residual blocks of r3d_18 in network order, as torchvision names its
#: modules (stdann.model.backbone): the blocks `topography.blocks` places on
#: sheets. Here, not in the backbone, so that the config is checked without torch.
BLOCK_NAMES: tuple[str, ...] = (
    "layer1.0",
    "layer1.1",
    "layer2.0",
    "layer2.1",
    "layer3.0",
    "layer3.1",
    "layer4.0",
    "layer4.1",
)


class ConfigError(StdannError, ValueError):
    """A config that cannot be used: unknown or missing key, wrong type, bad value."""


@dataclass
class AugmentConfig:
    """Per-view augmentation of the native clip loader (its option names)."""

    scale: tuple[float, float]
    ratio: tuple[float, float]
    flip_p: float
    jitter_p: float
    brightness: float
    contrast: float
    saturation: float
    hue: float
    grayscale_p: float
    blur_p: float
    blur_sigma: tuple[float, float]


@dataclass
class DataConfig:
    root: str
    list: str | None
    list_subset: str | None
    frames: int
    stride: int
    size: int
    views: int
    threads: int | None
    prefetch: int | None
    autorotate: bool
    augment: AugmentConfig
    #: Probability of flipping a sample left-right and, apart, upside down,
    #: both views alike (`stdann.model.inputs.flip_samples`).
    sample_flip_p: tuple[float, float]
    probe_videos: int


@dataclass
class ModelConfig:
    width: int
    head_hidden: list[int]
    embedding_dim: int


@dataclass
class MocoConfig:
    queue: int
    momentum: float
    momentum_final: float
    temperature: float
    symmetric: bool
    mask_same_video: bool
    batch_norm: str
    bn_groups: int


@dataclass
class OptimConfig:
    lr_per_64_clips: float
    momentum: float
    nesterov: bool
    weight_decay: float
    warmup_fraction: float


@dataclass
class TrainConfig:
    steps: int
    batch_size: int
    device: str
    precision: str
    channels_last: bool
    compile: bool
    log_every: int
    checkpoint_every: int
    checkpoint_every_minutes: float
    keep_checkpoints: int
    probe_every: int
    probe_train_list: str | None
    probe_test_list: str | None
    tensorboard: bool


@dataclass
class AreaConfig:
    sheet_area_mm2: float
    neighbourhood_width_mm: float
    #: The sourced macaque area, for comparison only: known for MT alone, so the
    #: other areas leave the key out (a default of None, not a value).
    macaque_area_mm2: float | None = None


@dataclass
class SpatialLossConfig:
    kind: str
    neighbourhoods_per_step: int


@dataclass
class NeighbourhoodConfig:
    per_block: int
    max_units: int
    min_fill: float


@dataclass
class PlacementConfig:
    jitter: float


@dataclass
class SwapConfig:
    steps: int
    steps_per_window: int
    min_fill: float


@dataclass
class TopographyConfig:
    areas: dict[str, AreaConfig]
    blocks: dict[str, str]
    alpha: float | dict[str, float]
    spatial_loss: SpatialLossConfig
    neighbourhoods: NeighbourhoodConfig
    placement: PlacementConfig
    swap: SwapConfig
    positions: str | None


@dataclass
class GratingConfig:
    directions: int
    spatial_frequencies_cpd: list[float]
    temporal_frequencies_hz: list[float]
    phases_deg: list[float]
    field_of_view_deg: float
    frame_rate_hz: float


@dataclass
class AnalysisConfig:
    block: str
    map_pixel_mm: float
    map_sigma_mm: float
    responsive_fraction: float
    plaid_angle_deg: float
    plaid_component_contrast: float
    dot_speeds_deg_per_s: list[float]
    dot_coherence: float
    batch_size: int


@dataclass
class RecipeConfig:
    pretrain_steps: int
    topographic_steps: int
    init: str
    topographic_lr_scale: float
    gratings: GratingConfig


@dataclass
class Config:
    seed: int
    data: DataConfig
    model: ModelConfig
    moco: MocoConfig
    optim: OptimConfig
    train: TrainConfig
    topography: TopographyConfig
    recipe: RecipeConfig
    analysis: AnalysisConfig

    def to_dict(self) -> dict[str, Any]:
        """Plain data (tuples as lists), as saved in run folders and checkpoints."""
        return _plain(dataclasses.asdict(self))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


#: Keys that may differ between a checkpoint's config and the resuming run's.
RUN_LENGTH_AND_LOGGING = frozenset(
    {
        "train.steps",
        "train.log_every",
        "train.checkpoint_every",
        "train.checkpoint_every_minutes",
        "train.keep_checkpoints",
        "train.probe_every",
        "train.probe_train_list",
        "train.probe_test_list",
        "train.tensorboard",
        "data.threads",
        "data.prefetch",
    }
)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str) -> Any:
    """`value` checked against the annotation `tp`; ints are accepted for floats."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None:
            if type(None) in options:
                return None
            raise ConfigError(f"{key}: must be set, got null")
        for option in options:
            if option is type(None):
                continue
            with contextlib.suppress(ConfigError):
                return _convert(value, option, key)
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    if is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return _build(tp, value, key)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        ktp, vtp = typing.get_args(tp)
        return {
            _convert(k, ktp, f"{key}"): _convert(v, vtp, f"{key}.{k}") for k, v in value.items()
        }
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        args = typing.get_args(tp)
        if origin is tuple:
            if len(value) != len(args):
                raise ConfigError(f"{key}: expected {len(args)} values, got {value!r}")
            return tuple(
                _convert(v, a, f"{key}[{i}]")
                for i, (v, a) in enumerate(zip(value, args, strict=True))
            )
        return [_convert(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str) and value.strip().lower() in (".inf", "inf", "infinity"):
            return float("inf")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported type {_type_name(tp)}")


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(
            f"unknown key {where}{unknown[0]} (known in {prefix or 'the top level'}: "
            f"{', '.join(sorted(known))})"
        )
    kwargs = {}
    for f in fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        if f.name not in data:
            if f.default is not dataclasses.MISSING:
                continue
            raise ConfigError(f"missing key {key}")
        kwargs[f.name] = _convert(data[f.name], hints[f.name], key)
    return cls(**kwargs)


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`top` over `base`, mappings merged key by key (lists and scalars replaced)."""
    out = dict(base)
    for k, v in top.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's floats: PyYAML reads YAML 1.1, in
    which `1e-4`, `1E4`, `.5e3` (no dot or no sign in the exponent) are
    strings, although everyone writes learning rates so."""


# The float pattern of the YAML 1.2 core schema (plus 1.1's .inf and .nan),
# replacing PyYAML's 1.1 float resolver for every first character it may see.
_FLOAT_12 = re.compile(
    r"""^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.VERBOSE,
)
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))


def _yaml(text: str) -> Any:
    """YAML text as data, numbers read as YAML 1.2 reads them (`_Loader`)."""
    return yaml.load(text, Loader=_Loader)


def _read_yaml(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in chain:
        raise ConfigError(f"'{path}': base configs form a cycle")
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"cannot read config '{path}': {err.strerror}") from None
    try:
        data = _yaml(text) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"'{path}' is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"'{path}': expected a mapping at the top level")
    base = data.pop("base", None)
    if base is None:
        return data
    return _merge(_read_yaml(path.parent / str(base), (*chain, path)), data)


def add_override_argument(parser) -> None:
    """The `--set KEY=VALUE` option of every command that reads a config."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value (repeatable), e.g. --set train.steps=1000",
    )


def parse_override(text: str) -> tuple[list[str], Any]:
    """'a.b.c=value' as (['a', 'b', 'c'], value parsed as YAML)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r} is not of the form section.key=value")
    try:
        value = _yaml(raw) if raw.strip() else None
    except yaml.YAMLError as err:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({err})") from None
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    data = _merge(data, {})
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[path[-1]] = value
    return data


def config_from_dict(data: dict[str, Any]) -> Config:
    data = dict(data)
    data.pop("base", None)
    config = _build(Config, data, "")
    validate(config)
    return config


#: The root config of a source checkout. Its values fill the keys that a
#: checkpoint written by an earlier stdann lacks (a key added since), so that
#: old runs stay readable; an installed wheel has no such file.
PAPER_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "paper.yaml"


def config_from_saved(data: dict[str, Any]) -> tuple[Config, list[str]]:
    """(config, keys filled) of a config stored in a checkpoint: the keys it
    lacks, added to stdann after it was written, are taken from
    `configs/paper.yaml` where that file is found, and named; anything else
    wrong is a ConfigError as in `config_from_dict`."""
    try:
        return config_from_dict(data), []
    except ConfigError as err:
        if not str(err).startswith("missing key") or not PAPER_CONFIG.is_file():
            raise
    root = _read_yaml(PAPER_CONFIG)
    saved = flatten(data)
    filled = sorted(k for k in flatten(root) if k not in saved)
    return config_from_dict(_merge(root, data)), filled


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """The config at `path` (with its base chain) and the overrides applied, checked."""
    path = Path(path)
    data = apply_overrides(_read_yaml(path), list(overrides))
    try:
        return config_from_dict(data)
    except ConfigError as err:
        raise ConfigError(f"'{path}': {err}") from None


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def validate(c: Config) -> None:
    """Values each section can be checked for on its own (not the data or positions)."""
    d = c.data
    _check(
        d.frames >= 1 and d.stride >= 1 and d.size >= 16, "data: frames, stride >= 1, size >= 16"
    )
    _check(d.views >= 2, f"data.views: MoCo needs at least 2 views of a video, got {d.views}")
    _check(d.probe_videos >= 0, "data.probe_videos must be >= 0")
    _check(
        len(d.sample_flip_p) == 2 and all(0.0 <= p <= 1.0 for p in d.sample_flip_p),
        "data.sample_flip_p must be two probabilities [left-right, upside-down] in [0, 1]",
    )
    _check(
        d.list is None or d.list.strip() != "",
        "data.list: a list file relative to data.root, or null for every video under it",
    )
    _check(
        d.list is None or d.root != "builtin",
        "data.list: the built-in corpus has no list files; set data.root to a dataset's folder, "
        "or data.list to null",
    )
    _check(
        d.list_subset in (None, "train", "test"),
        f"data.list_subset: train, test or null, not {d.list_subset!r}",
    )
    _check(
        d.list_subset is None or d.list is not None,
        "data.list_subset picks videos of the HMDB51 split files in data.list, which is null",
    )
    _check(c.model.width >= 1 and c.model.embedding_dim >= 1, "model: width, embedding_dim >= 1")
    m = c.moco
    _check(m.queue >= 1, "moco.queue must be >= 1")
    _check(0 <= m.momentum <= m.momentum_final <= 1, "moco: 0 <= momentum <= momentum_final <= 1")
    _check(m.temperature > 0, "moco.temperature must be > 0")
    _check(
        m.batch_norm in ("shuffle", "sync", "plain"),
        f"moco.batch_norm must be shuffle, sync or plain, got {m.batch_norm!r}",
    )
    _check(m.bn_groups >= 1, "moco.bn_groups must be >= 1")
    o = c.optim
    _check(o.lr_per_64_clips > 0 and o.weight_decay >= 0, "optim: lr > 0, weight_decay >= 0")
    _check(0 <= o.warmup_fraction < 1, "optim.warmup_fraction must be in [0, 1)")
    t = c.train
    _check(t.steps >= 0 and t.batch_size >= 1, "train: steps >= 0, batch_size >= 1")
    _check(
        t.device in ("auto", "cpu", "cuda"), f"train.device: auto, cpu or cuda, not {t.device!r}"
    )
    _check(
        t.precision in ("auto", "bf16", "fp32"),
        f"train.precision: auto, bf16 or fp32, not {t.precision!r}",
    )
    _check(
        min(t.log_every, t.checkpoint_every, t.keep_checkpoints) >= 1 and t.probe_every >= 0,
        "train: log_every, checkpoint_every, keep_checkpoints >= 1; probe_every >= 0",
    )
    _check(
        (t.probe_train_list is None) == (t.probe_test_list is None),
        "train.probe_train_list and train.probe_test_list: set both (labelled lists relative "
        "to data.root, e.g. motion/trainlist01.txt and motion/testlist01.txt of the built-in "
        "corpus) or neither",
    )
    _check(
        t.checkpoint_every_minutes >= 0,
        "train.checkpoint_every_minutes must be >= 0 (0: by steps alone)",
    )
    a = c.analysis
    _check(
        a.map_pixel_mm > 0 and a.map_sigma_mm > 0 and a.batch_size >= 1,
        "analysis: map_pixel_mm, map_sigma_mm > 0 and batch_size >= 1",
    )
    _check(0 < a.plaid_angle_deg < 180, "analysis.plaid_angle_deg must be in (0, 180)")
    _check(
        0 < a.plaid_component_contrast <= 0.5,
        "analysis.plaid_component_contrast must be in (0, 0.5] (two components sum to at most 1)",
    )
    _check(
        0 <= a.responsive_fraction < 1,
        "analysis.responsive_fraction must be in [0, 1) (a fraction of the block's median peak)",
    )
    _check(0 <= a.dot_coherence <= 1, "analysis.dot_coherence must be in [0, 1]")
    _check(
        c.recipe.init in ("progressive", "scratch"),
        f"recipe.init: progressive or scratch, not {c.recipe.init!r}",
    )
    _check(
        0 < c.recipe.topographic_lr_scale <= 1,
        "recipe.topographic_lr_scale must be in (0, 1] (a fraction of optim.lr_per_64_clips)",
    )
    _validate_topography(c.topography)


def _validate_topography(t: TopographyConfig) -> None:
    """Every block of the backbone on the sheet of a known area, the sheets
    possible, the weights and the sampling settings usable."""
    missing = [b for b in BLOCK_NAMES if b not in t.blocks]
    _check(not missing, f"topography.blocks: missing {', '.join(missing)} (an area each)")
    unknown = sorted(set(t.blocks) - set(BLOCK_NAMES))
    _check(not unknown, f"topography.blocks: unknown blocks {unknown}; known: {BLOCK_NAMES}")
    for block, area in t.blocks.items():
        _check(
            area in t.areas,
            f"topography.blocks.{block}: no area {area!r} in topography.areas "
            f"({', '.join(t.areas)})",
        )
    for area, a in t.areas.items():
        where = f"topography.areas.{area}"
        _check(
            a.sheet_area_mm2 > 0 and math.isfinite(a.sheet_area_mm2),
            f"{where}.sheet_area_mm2 must be > 0 mm^2",
        )
        width = a.neighbourhood_width_mm
        _check(width > 0 and math.isfinite(width), f"{where}.neighbourhood_width_mm must be > 0")
        side = math.sqrt(a.sheet_area_mm2)
        _check(
            width <= side,
            f"{where}: neighbourhood width {width:g} mm is larger than the sheet side "
            f"{side:.3g} mm",
        )
    if isinstance(t.alpha, dict):
        unknown = sorted(set(t.alpha) - set(BLOCK_NAMES))
        _check(not unknown, f"topography.alpha: unknown blocks {unknown}; known: {BLOCK_NAMES}")
    alphas = t.alpha.values() if isinstance(t.alpha, dict) else [t.alpha]
    _check(
        all(a >= 0 and math.isfinite(a) for a in alphas),
        f"topography.alpha must be finite and >= 0, got {t.alpha}",
    )
    _check(
        t.spatial_loss.kind in ("rel", "abs"),
        f"topography.spatial_loss.kind must be rel or abs, not {t.spatial_loss.kind!r}",
    )
    _check(
        t.spatial_loss.neighbourhoods_per_step >= 1 and t.neighbourhoods.per_block >= 1,
        "topography: spatial_loss.neighbourhoods_per_step and neighbourhoods.per_block >= 1",
    )
    _check(t.neighbourhoods.max_units >= 3, "topography.neighbourhoods.max_units must be >= 3")
    _check(
        0 < t.neighbourhoods.min_fill <= 1,
        "topography.neighbourhoods.min_fill must be in (0, 1]",
    )
    _check(t.placement.jitter >= 0, "topography.placement.jitter must be >= 0")
    _check(
        t.swap.steps >= 0 and t.swap.steps_per_window >= 1,
        "topography.swap: steps >= 0, steps_per_window >= 1",
    )
    _check(0 <= t.swap.min_fill <= 1, "topography.swap.min_fill must be in [0, 1]")


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} as {'a.b': 1}."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


def config_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Keys whose values differ between two plain configs, run length and logging
    aside, and the recipe's and the analysis's settings, which no training step reads."""
    fa, fb = flatten(a), flatten(b)
    keys = sorted(set(fa) | set(fb))
    return [
        k
        for k in keys
        if fa.get(k) != fb.get(k)
        and k not in RUN_LENGTH_AND_LOGGING
        and not k.startswith(("recipe.", "analysis."))
    ]
