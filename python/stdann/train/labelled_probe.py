"""The labelled probe: how well do a network's frozen features tell classes apart?

Video self-supervised work reports it as the top-1 accuracy of a classifier on
frozen features, trained on one labelled list (UCF101's trainlist01) and tested
on another (testlist01). The default classifier is the weighted k-nearest-
neighbour vote of Wu, Xiong, Yu & Lin 2018 ("Unsupervised feature learning via
non-parametric instance discrimination", CVPR, section 3.4): features are L2-
normalised, a test video's k most cosine-similar training videos vote for their
class with weight exp(s / temperature), and the class with the largest summed
weight is the answer (k = 20, temperature = 0.07 as there). A linear probe
(multinomial logistic regression, `linear_top1`) is the option.

Beside every top-1 stand its two baselines: chance, 1 / classes, and the
majority rate, the top-1 of always answering the training list's most frequent
class (they differ when the classes are unbalanced).

A video's features (`video_features`) are the backbone's pooled output (the
global average over time and space of layer4) of `clips_per_video` clips,
unaugmented, evenly spaced in time from the first frame to the last, each
centre-cropped to a square of the frame's short side and resized to the
config's size, with the config's frames and stride; the clips' features are
averaged per video. The network runs in eval mode (batch-norm running
statistics).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stdann import _native
from stdann.data.lists import VideoList
from stdann.errors import StdannError
from stdann.model.inputs import clips_to_input

log = logging.getLogger("stdann.probe")

#: Wu et al. 2018's kNN: k neighbours, votes weighted by exp(similarity / temperature).
DEFAULT_K = 20
DEFAULT_TEMPERATURE = 0.07
#: Clips per video whose features are averaged.
DEFAULT_CLIPS_PER_VIDEO = 3


class ProbeError(StdannError, ValueError):
    """A probe that cannot run: empty or mismatched features, labels or lists."""


def _check(features: torch.Tensor, labels: torch.Tensor, what: str) -> None:
    if features.ndim != 2 or labels.ndim != 1 or len(features) != len(labels):
        raise ProbeError(
            f"{what}: features must be (N, D) and labels (N,), got {tuple(features.shape)} "
            f"and {tuple(labels.shape)}"
        )
    if len(features) == 0:
        raise ProbeError(f"{what}: no videos: name a list with some that exist")
    if labels.min() < 0:
        raise ProbeError(f"{what}: labels must be class indexes >= 0")


def _baselines(train_labels: torch.Tensor, test_labels: torch.Tensor, classes: int) -> dict:
    counts = torch.bincount(train_labels, minlength=classes)
    # Ties between equally frequent classes go to the lowest index, as argmax does.
    majority = int(counts.argmax())
    return {
        "classes": classes,
        "chance": 1.0 / classes,
        "majority": float((test_labels == majority).float().mean()),
        "train": len(train_labels),
        "test": len(test_labels),
    }


def _class_count(train_labels, test_labels, classes: int | None) -> int:
    seen = int(max(train_labels.max(), test_labels.max())) + 1
    if classes is not None and classes < seen:
        raise ProbeError(f"classes = {classes}, but a label is {seen - 1}")
    return classes if classes is not None else seen


@torch.no_grad()
def knn_top1(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    k: int = DEFAULT_K,
    temperature: float = DEFAULT_TEMPERATURE,
    classes: int | None = None,
) -> dict[str, Any]:
    """Top-1 accuracy of Wu et al. 2018's weighted kNN vote, with its baselines.

    Returns {"top1", "k" (used), "k_requested", "k_clamped", "temperature",
    "classes", "chance", "majority", "train", "test", "predictions"}. A k larger
    than the training set is clamped to its size, logged and marked in
    "k_clamped". Ties between classes go to the lowest class index.
    `classes` defaults to the largest label + 1."""
    train_labels = torch.as_tensor(train_labels, dtype=torch.long)
    test_labels = torch.as_tensor(test_labels, dtype=torch.long)
    _check(train_features, train_labels, "training set")
    _check(test_features, test_labels, "test set")
    if train_features.shape[1] != test_features.shape[1]:
        raise ProbeError(
            f"training and test features differ in size: {train_features.shape[1]} and "
            f"{test_features.shape[1]}"
        )
    if k < 1 or not temperature > 0:
        raise ProbeError(f"k must be >= 1 and temperature > 0, got k={k}, T={temperature}")
    n_classes = _class_count(train_labels, test_labels, classes)
    used = min(k, len(train_labels))
    if used < k:
        log.warning("kNN probe: k = %d > %d training videos: k clamped to %d", k, used, used)
    train = F.normalize(train_features.double(), dim=1)
    test = F.normalize(test_features.double(), dim=1)
    similarity = test @ train.T  # cosine, (test, train)
    top, index = similarity.topk(used, dim=1)
    # Wu et al. 2018, eq. (10): neighbour i votes for its class with w_i = exp(s_i / tau).
    # Subtracting each row's largest similarity scales a row's weights alike, so the
    # vote is unchanged, and keeps exp from overflowing at a small temperature.
    weights = torch.exp((top - top[:, :1]) / temperature)
    votes = torch.zeros(len(test), n_classes, dtype=torch.float64)
    votes.scatter_add_(1, train_labels[index], weights)
    predictions = votes.argmax(1)
    return {
        "top1": float((predictions == test_labels).double().mean()),
        "k": used,
        "k_requested": k,
        "k_clamped": used < k,
        "temperature": temperature,
        **_baselines(train_labels, test_labels, n_classes),
        "predictions": predictions.tolist(),
    }


def linear_top1(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    steps: int = 300,
    weight_decay: float = 1e-4,
    classes: int | None = None,
) -> dict[str, Any]:
    """Top-1 accuracy of a linear probe, with its baselines.

    Multinomial logistic regression on the frozen features, standardised with
    the training set's per-dimension mean and standard deviation: full-batch
    L-BFGS (strong Wolfe line search) for at most `steps` iterations on the mean
    cross-entropy plus weight_decay / 2 * |W|^2, from zero weights: the problem
    is convex and nothing is drawn at random, so the result is deterministic (no
    seed to set). Returns {"top1", "steps", "weight_decay", "train_loss",
    "classes", "chance", "majority", "train", "test", "predictions"}."""
    train_labels = torch.as_tensor(train_labels, dtype=torch.long)
    test_labels = torch.as_tensor(test_labels, dtype=torch.long)
    _check(train_features, train_labels, "training set")
    _check(test_features, test_labels, "test set")
    n_classes = _class_count(train_labels, test_labels, classes)
    x = train_features.double()
    mean, std = x.mean(0), x.std(0, unbiased=False).clamp_min(1e-8)
    x = (x - mean) / std
    x_test = (test_features.double() - mean) / std
    weight = torch.zeros(x.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS(
        [weight, bias], max_iter=steps, line_search_fn="strong_wolfe", tolerance_grad=1e-9
    )

    def loss_fn() -> torch.Tensor:
        optimiser.zero_grad()
        loss = F.cross_entropy(x @ weight + bias, train_labels)
        loss = loss + 0.5 * weight_decay * (weight**2).sum()
        loss.backward()
        return loss

    optimiser.step(loss_fn)
    with torch.no_grad():
        train_loss = float(F.cross_entropy(x @ weight + bias, train_labels))
        predictions = (x_test @ weight + bias).argmax(1)
    return {
        "top1": float((predictions == test_labels).double().mean()),
        "steps": steps,
        "weight_decay": weight_decay,
        "train_loss": train_loss,
        **_baselines(train_labels, test_labels, n_classes),
        "predictions": predictions.tolist(),
    }


# ---- features of videos ------------------------------------------------------------


def clip_starts(frame_count: int, frames: int, stride: int, clips: int) -> list[int]:
    """First frames of `clips` clips of `frames` frames `stride` apart, evenly spaced
    from the video's start to its end (the first clip starts at 0, the last ends
    on the last frame; one clip is centred). A video shorter than a clip gives
    starts of 0 (its frames are then held on the last, see `clip_indices`)."""
    span = (frames - 1) * stride + 1
    room = max(frame_count - span, 0)
    if clips == 1:
        return [room // 2]
    return [round(room * i / (clips - 1)) for i in range(clips)]


def clip_indices(frame_count: int, start: int, frames: int, stride: int) -> list[int]:
    """Frame indices of one clip; beyond the video's end the last frame is repeated."""
    return [min(start + i * stride, frame_count - 1) for i in range(frames)]


def centre_crop_resize(frames: np.ndarray, size: int) -> torch.Tensor:
    """(T, H, W, 3) uint8 frames: the centred square of side min(H, W), resized to
    size x size (bilinear, antialiased), as uint8 (T, size, size, 3)."""
    t = torch.from_numpy(np.ascontiguousarray(frames))
    h, w = t.shape[1:3]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = t[:, top : top + side, left : left + side].permute(0, 3, 1, 2).float()
    if side != size:
        square = F.interpolate(
            square, size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )
    return square.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def read_clips(
    path: str | Path, frames: int, stride: int, size: int, clips: int, autorotate: bool = True
) -> torch.Tensor:
    """The probe clips of one video, uint8 (clips, frames, size, size, 3)."""
    count = int(_native.index_video(str(path))["frame_count"])
    if count < 1:
        raise _native.VideoDecodeError(f"'{path}': no frames")
    wanted = [
        clip_indices(count, s, frames, stride) for s in clip_starts(count, frames, stride, clips)
    ]
    unique = sorted({i for clip in wanted for i in clip})
    decoded = _native.decode_frames(str(path), unique, autorotate=autorotate)
    where = {frame: row for row, frame in enumerate(unique)}
    out = [centre_crop_resize(decoded[[where[i] for i in clip]], size) for clip in wanted]
    return torch.stack(out)


@torch.no_grad()
def video_features(
    backbone: nn.Module,
    videos: Sequence[str | Path],
    frames: int,
    stride: int,
    size: int,
    device: torch.device | str = "cpu",
    clips_per_video: int = DEFAULT_CLIPS_PER_VIDEO,
    batch_size: int = 16,
    autorotate: bool = True,
) -> tuple[torch.Tensor, list[int], list[tuple[str, str]]]:
    """(features (N, D) float32 on the CPU, the indexes into `videos` they belong
    to, (path, reason) of the videos that would not decode): each video's pooled
    backbone features averaged over its clips (see the module docstring)."""
    if clips_per_video < 1:
        raise ProbeError(f"clips_per_video must be >= 1, got {clips_per_video}")
    device = torch.device(device)
    was_training = backbone.training
    backbone.eval()
    features: list[torch.Tensor] = []
    kept: list[int] = []
    skipped: list[tuple[str, str]] = []
    pending: list[torch.Tensor] = []

    def flush() -> None:
        if not pending:
            return
        batch = torch.stack(pending)  # (B, clips, T, S, S, 3)
        f = backbone(clips_to_input(batch, device)).float().cpu()
        features.extend(f.reshape(len(pending), clips_per_video, -1).mean(1))
        pending.clear()

    per_batch = max(1, batch_size // clips_per_video)
    try:
        for i, path in enumerate(videos):
            try:
                clips = read_clips(path, frames, stride, size, clips_per_video, autorotate)
            except _native.VideoError as err:
                log.warning("probe: skipping video %s: %s", path, err)
                skipped.append((str(path), str(err)))
                continue
            pending.append(clips)
            kept.append(i)
            if len(pending) >= per_batch:
                flush()
        flush()
    finally:
        backbone.train(was_training)
    dim = features[0].shape[0] if features else 0
    stacked = torch.stack(features) if features else torch.empty(0, dim)
    return stacked, kept, skipped


def shared_labels(train: VideoList, test: VideoList) -> tuple[list[int], list[int], list[str]]:
    """(train labels, test labels, classes): both lists' labels as indexes into one
    table, the training list's classes first, then any class only the test list
    has (its videos can never be answered right, and count as wrong)."""
    for name, listed in (("--train-list", train), ("--test-list", test)):
        if listed.labels is None:
            raise ProbeError(
                f"{name} '{listed.source}' is a list without labels ({listed.format}): name a "
                "labelled list (UCF101 trainlist/testlist with classInd.txt, HMDB51 split "
                "files, a Kinetics CSV, a Something-Something v2 JSON)"
            )
    classes = list(train.classes)
    index = {c: i for i, c in enumerate(classes)}
    for c in test.classes:
        if c not in index:
            index[c] = len(classes)
            classes.append(c)
    assert train.labels is not None and test.labels is not None  # checked above
    return (
        list(train.labels),
        [index[test.classes[label]] for label in test.labels],
        classes,
    )


def probe_network(
    backbone: nn.Module,
    train: VideoList,
    test: VideoList,
    frames: int,
    stride: int,
    size: int,
    device: torch.device | str = "cpu",
    k: int = DEFAULT_K,
    temperature: float = DEFAULT_TEMPERATURE,
    linear: bool = False,
    clips_per_video: int = DEFAULT_CLIPS_PER_VIDEO,
    batch_size: int = 16,
    autorotate: bool = True,
) -> dict[str, Any]:
    """{"knn": knn_top1's result, "linear": linear_top1's (with `linear`),
    "skipped": videos that would not decode} of one backbone on two labelled lists."""
    train_labels, test_labels, classes = shared_labels(train, test)
    common = {
        "frames": frames,
        "stride": stride,
        "size": size,
        "device": device,
        "clips_per_video": clips_per_video,
        "batch_size": batch_size,
        "autorotate": autorotate,
    }
    f_train, kept_train, skipped_train = video_features(backbone, train.videos, **common)
    f_test, kept_test, skipped_test = video_features(backbone, test.videos, **common)
    y_train = torch.tensor([train_labels[i] for i in kept_train], dtype=torch.long)
    y_test = torch.tensor([test_labels[i] for i in kept_test], dtype=torch.long)
    result: dict[str, Any] = {
        "knn": knn_top1(f_train, y_train, f_test, y_test, k, temperature, len(classes)),
    }
    if linear:
        result["linear"] = linear_top1(f_train, y_train, f_test, y_test, classes=len(classes))
    result["skipped"] = [list(s) for s in skipped_train + skipped_test]
    return result


def summary_line(name: str, result: dict[str, Any]) -> str:
    """One line of `stdann probe`'s output for one network, e.g. `trained (step 100):
    kNN top-1 0.625 (k=20, T=0.07), chance 0.125, majority 0.125; 40 train / 8 test
    videos, 8 classes`."""
    knn = result["knn"]
    clamp = f", clamped from {knn['k_requested']}" if knn["k_clamped"] else ""
    line = f"{name}: kNN top-1 {knn['top1']:.3f} (k={knn['k']}{clamp}, T={knn['temperature']:g})"
    if "linear" in result:
        line += f", linear top-1 {result['linear']['top1']:.3f}"
    return (
        f"{line}, chance {knn['chance']:.3f}, majority {knn['majority']:.3f}; "
        f"{knn['train']} train / {knn['test']} test videos, {knn['classes']} classes"
    )
