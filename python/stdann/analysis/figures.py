"""The report's figures, each written as PNG and SVG; every function returns the PNG path.

Figures are defined here and nowhere else (not in a notebook), from the
arrays the analysis computes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from stdann.analysis.tuning import DirectionTuning

MODEL, UNTRAINED, SHUFFLED, MACAQUE = "#1f5fa8", "#999999", "#d08a2a", "#b0282f"


def save(fig, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{name}.png"
    fig.savefig(png, dpi=110, bbox_inches="tight")
    fig.savefig(folder / f"{name}.svg", bbox_inches="tight")
    plt.close(fig)
    return png


def direction_map_figure(dmap, pinwheels: dict[str, Any] | None, folder: Path, name: str) -> Path:
    """Preferred direction as hue, selectivity as brightness; pinwheels by sign;
    a 1 mm scale bar."""
    z = dmap.z
    angle = np.mod(np.angle(z), 2 * np.pi) / (2 * np.pi)
    strength = np.abs(z)
    top = np.nanpercentile(strength, 99) if np.isfinite(strength).any() else 1.0
    value = np.clip(np.nan_to_num(strength / (top or 1.0)), 0, 1)
    hsv = np.stack([np.nan_to_num(angle), np.ones_like(value), value], -1)
    rgb = matplotlib.colors.hsv_to_rgb(hsv)
    rgb[~np.isfinite(z)] = 1.0
    fig, ax = plt.subplots(figsize=(5.2, 5))
    extent = (0, z.shape[1] * dmap.pixel_mm, z.shape[0] * dmap.pixel_mm, 0)
    ax.imshow(rgb, extent=extent, interpolation="nearest")
    if pinwheels:
        x, y, charge = (np.asarray(pinwheels.get(k, [])) for k in ("x", "y", "charge"))
        if len(x):
            # Pinwheel positions are in pixels, at plaquette centres (x = col, y = row).
            px, py = (x + 0.5) * dmap.pixel_mm, (y + 0.5) * dmap.pixel_mm
            ax.scatter(
                px[charge > 0],
                py[charge > 0],
                s=30,
                facecolors="white",
                edgecolors="black",
                label="+1",
            )
            ax.scatter(
                px[charge < 0],
                py[charge < 0],
                s=30,
                facecolors="black",
                edgecolors="white",
                label="-1",
            )
            ax.legend(loc="upper right", fontsize=8, title="pinwheels")
    side = z.shape[1] * dmap.pixel_mm
    ax.plot([0.05 * side, 0.05 * side + 1.0], [0.95 * side] * 2, color="black", lw=3)
    ax.text(0.05 * side + 0.5, 0.93 * side, "1 mm", ha="center", va="bottom", fontsize=9)
    ax.set_xlabel("mm")
    ax.set_ylabel("mm")
    # Colour wheel: which hue is which direction.
    inset = fig.add_axes((0.8, 0.08, 0.16, 0.16), projection="polar")
    theta = np.linspace(0, 2 * np.pi, 256)
    inset.scatter(theta, np.ones_like(theta), c=theta / (2 * np.pi), cmap="hsv", s=8)
    inset.set_yticks([])
    inset.set_xticks(np.deg2rad([0, 90, 180, 270]))
    inset.tick_params(labelsize=6)
    return save(fig, folder, name)


def _hist(ax, values: np.ndarray, bins, color, label) -> None:
    v = values[np.isfinite(values)]
    if len(v):
        ax.hist(v, bins=bins, color=color, alpha=0.55, density=True, label=label)


def histograms_figure(
    model: DirectionTuning,
    untrained: DirectionTuning | None,
    macaque_dsi: tuple[float, str] | None,
    folder: Path,
    name: str,
) -> Path:
    """DSI, direction CV and axial ratio of responsive units, model beside the
    untrained control, with the macaque value where one has a source."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    specs = [
        ("dsi", np.linspace(0, 1, 21), "DSI"),
        ("cv", np.linspace(0, 1, 21), "direction circular variance"),
        ("axial_ratio", np.linspace(0, 3, 31), "axial ratio |F2| / |F1|"),
    ]
    for ax, (attr, bins, label) in zip(axes, specs, strict=True):
        _hist(
            ax,
            np.clip(getattr(model, attr)[model.responsive], None, bins[-1]),
            bins,
            MODEL,
            "model",
        )
        if untrained is not None:
            _hist(
                ax,
                np.clip(getattr(untrained, attr)[untrained.responsive], None, bins[-1]),
                bins,
                UNTRAINED,
                "untrained",
            )
        if attr == "dsi" and macaque_dsi is not None:
            ax.axvline(macaque_dsi[0], color=MACAQUE, lw=2, label=macaque_dsi[1])
        ax.set_xlabel(label)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("density")
    return save(fig, folder, name)


def example_tuning_figure(tuning: DirectionTuning, folder: Path, name: str, count: int = 6) -> Path:
    """Polar tuning curves of example units: the most direction-selective, a
    typical one, and the most bidirectional."""
    responsive = np.flatnonzero(tuning.responsive)
    picks: list[tuple[int, str]] = []
    if len(responsive):
        order = responsive[np.argsort(-np.nan_to_num(tuning.dsi[responsive], nan=-1))]
        picks += [(int(u), "high DSI") for u in order[: count // 2]]
        picks.append((int(order[len(order) // 2]), "median DSI"))
        axial = responsive[
            np.argsort(-np.nan_to_num(tuning.axial_ratio[responsive], nan=-1, posinf=1e9))
        ]
        picks += [(int(u), "axial") for u in axial[: count - len(picks)]]
    fig, axes = plt.subplots(
        1,
        max(1, len(picks)),
        figsize=(2.4 * max(1, len(picks)), 2.8),
        subplot_kw={"projection": "polar"},
        squeeze=False,
    )
    theta = np.deg2rad(np.append(tuning.directions_deg, tuning.directions_deg[0]))
    for ax, (u, why) in zip(axes[0], picks, strict=False):
        r = tuning.curves[:, u]
        ax.plot(theta, np.append(r, r[0]), color=MODEL)
        ax.set_title(f"unit {u}, {why}\nDSI {tuning.dsi[u]:.2f}", fontsize=8)
        ax.set_yticks([])
        ax.tick_params(labelsize=6)
    return save(fig, folder, name)


def curve_figure(
    x: np.ndarray,
    series: list[tuple[np.ndarray, str, str]],
    xlabel: str,
    ylabel: str,
    folder: Path,
    name: str,
    hline: tuple[float, str] | None = None,
) -> Path:
    """Lines of y against x (smoothness against distance, metrics against alpha or step)."""
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for y, label, color in series:
        ax.plot(x, y, marker="o", ms=3, label=label, color=color)
    if hline is not None:
        ax.axhline(hline[0], color="black", ls="--", lw=1, label=hline[1])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    return save(fig, folder, name)


def scatter_figure(
    x: np.ndarray,
    y: np.ndarray,
    xlabel: str,
    ylabel: str,
    folder: Path,
    name: str,
    criterion: float | None = None,
) -> Path:
    """Zc against Zp (Smith, Majaj & Movshon 2005's plot), with the class boundaries."""
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ok = np.isfinite(x) & np.isfinite(y)
    ax.scatter(x[ok], y[ok], s=6, color=MODEL, alpha=0.6)
    if criterion is not None and ok.any():
        lim = max(float(np.max(np.abs(np.r_[x[ok], y[ok]]))), criterion * 2)
        grid = np.linspace(criterion, lim, 2)
        ax.plot(grid, grid + criterion, color="black", lw=1)
        ax.plot(grid + criterion, grid, color="black", lw=1)
        ax.plot([criterion, criterion], [-lim, criterion * 2], color="black", lw=0.5, ls=":")
        ax.plot([-lim, criterion * 2], [criterion, criterion], color="black", lw=0.5, ls=":")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return save(fig, folder, name)


def histogram_figure(
    values: np.ndarray,
    bins,
    xlabel: str,
    folder: Path,
    name: str,
    marker: tuple[float, str] | None = None,
    log_x: bool = False,
) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.4))
    v = values[np.isfinite(values)]
    if len(v):
        ax.hist(v, bins=bins, color=MODEL, alpha=0.7)
    if marker is not None:
        ax.axvline(marker[0], color=MACAQUE, lw=2, label=marker[1])
        ax.legend(fontsize=7)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("units")
    return save(fig, folder, name)
