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
ALPHA_0 = "#3c9a5f"

#: One colour per network, the same in every figure.
COLOURS = {
    "model": MODEL,
    "untrained": UNTRAINED,
    "alpha_0": ALPHA_0,
    "shuffled_positions": SHUFFLED,
}


def save(fig, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{name}.png"
    fig.savefig(png, dpi=110, bbox_inches="tight")
    fig.savefig(folder / f"{name}.svg", bbox_inches="tight")
    plt.close(fig)
    return png


def direction_map_figure(
    panels: list[tuple[str, Any, dict[str, Any] | None]], folder: Path, name: str
) -> Path:
    """Direction maps side by side on one scale: (title, DirectionMap, pinwheels)
    each, pinwheels a dict of x, y (pixels) and charge, or None. Preferred
    direction as hue, selectivity as brightness; pinwheels by sign; a 1 mm
    scale bar on each; the colour wheel in its own axes to the right, outside
    every map."""
    n = max(1, len(panels))
    fig = plt.figure(figsize=(4.6 * n + 1.4, 5))
    grid = fig.add_gridspec(1, n + 1, width_ratios=[1.0] * n + [0.28], wspace=0.25)
    for i, (title, dmap, pinwheels) in enumerate(panels):
        ax = fig.add_subplot(grid[0, i])
        z = dmap.z
        extent = (0, z.shape[1] * dmap.pixel_mm, z.shape[0] * dmap.pixel_mm, 0)
        ax.imshow(_map_rgb(z), extent=extent, interpolation="nearest")
        x, y, charge = (np.asarray((pinwheels or {}).get(k, [])) for k in ("x", "y", "charge"))
        if len(x):
            # Pinwheel positions are in pixels, at plaquette centres (x = col, y = row).
            px, py = (x + 0.5) * dmap.pixel_mm, (y + 0.5) * dmap.pixel_mm
            for sign, face, edge in ((1, "white", "black"), (-1, "black", "white")):
                on = charge == sign
                ax.scatter(
                    px[on], py[on], s=22, facecolors=face, edgecolors=edge, label=f"{sign:+d}"
                )
            if i == 0:
                ax.legend(loc="upper right", fontsize=7, title="pinwheels", title_fontsize=7)
        side = z.shape[1] * dmap.pixel_mm
        ax.plot([0.05 * side, 0.05 * side + 1.0], [0.95 * side] * 2, color="white", lw=4)
        ax.plot([0.05 * side, 0.05 * side + 1.0], [0.95 * side] * 2, color="black", lw=2.5)
        ax.text(
            0.05 * side + 0.5,
            0.93 * side,
            "1 mm",
            ha="center",
            va="bottom",
            fontsize=8,
            bbox={"facecolor": "white", "alpha": 0.8, "linewidth": 0, "pad": 1},
        )
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("mm")
        if i == 0:
            ax.set_ylabel("mm")
    # Colour wheel: which hue is which direction, outside the maps.
    wheel = fig.add_subplot(grid[0, n], projection="polar")
    theta = np.linspace(0, 2 * np.pi, 361)
    radius = np.linspace(0.55, 1.0, 12)
    t, r = np.meshgrid(theta, radius)
    wheel.pcolormesh(t, r, t / (2 * np.pi), cmap="hsv", vmin=0, vmax=1, shading="auto")
    wheel.set_ylim(0, 1)
    wheel.grid(False)
    wheel.set_yticks([])
    wheel.set_xticks(np.deg2rad([0, 90, 180, 270]))
    wheel.set_xticklabels(["0", "90", "180", "270"], fontsize=7)
    wheel.set_title("direction (deg)", fontsize=8)
    wheel.spines["polar"].set_visible(False)
    return save(fig, folder, name)


def _hist(ax, values: np.ndarray, bins, color, label) -> None:
    """A density histogram; values beyond the bins are gathered in the end bins
    (said in the caption), never dropped."""
    v = values[np.isfinite(values)]
    if len(v):
        ax.hist(
            np.clip(v, bins[0], bins[-1]),
            bins=bins,
            color=color,
            alpha=0.45,
            density=True,
            label=label,
        )


def histograms_figure(
    networks: list[tuple[str, DirectionTuning, str]], folder: Path, name: str
) -> Path:
    """Raw DSI, the blank-relative DI and the raw direction CV of the responsive
    units of each network ((label, tuning, colour) each), on one set of axes per metric. The end bins hold the
    values beyond them, and are marked."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    specs = [
        ("dsi", np.linspace(0, 1, 21), "DSI (raw responses)"),
        ("di_blank", np.linspace(-0.5, 2.5, 31), "DI relative to the blank"),
        ("cv", np.linspace(0, 1, 21), "direction circular variance (raw)"),
    ]
    for ax, (attr, bins, label) in zip(axes, specs, strict=True):
        for who, t, colour in networks:
            _hist(ax, getattr(t, attr)[t.responsive], bins, colour, who)
        if attr == "di_blank":
            ax.axvline(1.0, color="black", lw=0.8, ls=":")
            ax.text(bins[-1], ax.get_ylim()[1] * 0.95, ">= end", ha="right", fontsize=6)
            ax.text(bins[0], ax.get_ylim()[1] * 0.95, "<= end", ha="left", fontsize=6)
        ax.set_xlabel(label)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("density")
    return save(fig, folder, name)


def polar_histograms_figure(
    populations: list[tuple[str, dict[str, Any], str]], folder: Path, name: str
) -> Path:
    """One polar histogram per network ((label, `stdann.analysis.population`
    statistics, colour) each) of its direction-selective units' preferred directions."""
    n = max(1, len(populations))
    fig, axes = plt.subplots(
        1, n, figsize=(3.8 * n, 3.6), subplot_kw={"projection": "polar"}, squeeze=False
    )
    for ax, (who, p, colour) in zip(axes[0], populations, strict=False):
        counts = p.get("histogram")
        if counts:
            bins = len(counts)
            width = 2 * np.pi / bins
            ax.bar(
                np.arange(bins) * width,
                counts,
                width=width,
                color=colour,
                alpha=0.7,
                edgecolor="white",
            )
            title = (
                f"{who}\nn = {p['n']}, R = {p['resultant']:.2f}, axial {p['axial_resultant']:.2f}"
            )
        else:
            title = f"{who}\n{p.get('reason', 'no units')}"
        ax.set_title(title, fontsize=8)
        ax.set_yticks([])
        ax.tick_params(labelsize=6)
    return save(fig, folder, name)


def _map_rgb(z: np.ndarray) -> np.ndarray:
    angle = np.mod(np.angle(z), 2 * np.pi) / (2 * np.pi)
    strength = np.abs(z)
    top = np.nanpercentile(strength, 99) if np.isfinite(strength).any() else 1.0
    value = np.clip(np.nan_to_num(strength / (top or 1.0)), 0, 1)
    rgb = matplotlib.colors.hsv_to_rgb(
        np.stack([np.nan_to_num(angle), np.ones_like(value), value], -1)
    )
    rgb[~np.isfinite(z)] = 1.0
    return rgb


def map_panels_figure(
    panels: list[tuple[str, Any, dict[str, Any]]], period: float, folder: Path, name: str
) -> Path:
    """Maps side by side: (title, DirectionMap, its `map_topology` result) each,
    hue the phase, brightness the vector's length, the column spacing and the
    pinwheel density in the title where defined (else "undefined")."""
    from stdann.analysis.pinwheels import find_pinwheels

    n = max(1, len(panels))
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n, 3.6), squeeze=False)
    for ax, (title, dmap, topology) in zip(axes[0], panels, strict=False):
        z = dmap.z
        extent = (0, z.shape[1] * dmap.pixel_mm, z.shape[0] * dmap.pixel_mm, 0)
        ax.imshow(_map_rgb(z), extent=extent, interpolation="nearest")
        if np.isfinite(z).any():
            x, y, charge = find_pinwheels(z)
            px, py = (x + 0.5) * dmap.pixel_mm, (y + 0.5) * dmap.pixel_mm
            ax.scatter(
                px[charge > 0], py[charge > 0], s=8, facecolors="white", edgecolors="black", lw=0.5
            )
            ax.scatter(
                px[charge < 0], py[charge < 0], s=8, facecolors="black", edgecolors="white", lw=0.5
            )
        lam = topology.get("wavelength_mm")
        density = topology.get("density")
        lines = [title, f"Lambda {lam:.2f} mm" if lam is not None else "no characteristic Lambda"]
        lines.append(
            f"{density:.2f} pinwheels / Lambda^2" if density is not None else "density undefined"
        )
        ax.set_title("\n".join(lines), fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0][0].set_xlabel("mm")
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
    circle = np.linspace(0, 2 * np.pi, 90)
    for ax, (u, why) in zip(axes[0], picks, strict=False):
        r = tuning.curves[:, u]
        ax.plot(theta, np.append(r, r[0]), color=MODEL)
        ax.plot(circle, np.full_like(circle, tuning.blank[u]), color="black", lw=0.7, ls="--")
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


def panels_figure(
    x: np.ndarray,
    panels: list[tuple[str, list[tuple[np.ndarray, str, str]]]],
    xlabel: str,
    folder: Path,
    name: str,
    columns: int = 3,
) -> Path:
    """Small panels of y against x, one per quantity: (title, series) each,
    series as in `curve_figure`; a NaN leaves a gap (a value not defined).
    The x axis is symlog, so that alpha = 0 sits beside the small alphas."""
    rows = max(1, -(-len(panels) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3.3 * columns, 2.5 * rows), squeeze=False)
    for ax in axes.ravel()[len(panels) :]:
        ax.set_visible(False)
    legend: dict[str, Any] = {}
    for ax, (title, series) in zip(axes.ravel(), panels, strict=False):
        ax.set_title(title, fontsize=8)
        if not any(np.isfinite(np.asarray(y, float)).any() for y, _, _ in series):
            ax.text(0.5, 0.5, "not defined\nin any run", ha="center", va="center", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        for y, label, color in series:
            (line,) = ax.plot(x, y, marker="o", ms=3, label=label, color=color)
            legend.setdefault(label, line)
        ax.set_xscale("symlog", linthresh=0.1)
        ax.tick_params(labelsize=7)
        ax.set_xlabel(xlabel, fontsize=7)
    fig.legend(
        list(legend.values()),
        list(legend),
        loc="lower center",
        ncol=len(legend),
        fontsize=7,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return save(fig, folder, name)


def scatter_figure(
    series: list[tuple[np.ndarray, np.ndarray, str, str]],
    xlabel: str,
    ylabel: str,
    folder: Path,
    name: str,
    criterion: float | None = None,
) -> Path:
    """Zc against Zp (Smith, Majaj & Movshon 2005's plot) of each network
    ((x, y, label, colour) each), with the class boundaries."""
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    finite = []
    for x, y, label, colour in series:
        ok = np.isfinite(x) & np.isfinite(y)
        ax.scatter(x[ok], y[ok], s=6, color=colour, alpha=0.5, label=f"{label} ({ok.sum()})")
        finite.append(np.r_[x[ok], y[ok]])
    values = np.concatenate(finite) if finite else np.empty(0)
    if criterion is not None and values.size:
        lim = max(float(np.max(np.abs(values))), criterion * 2)
        grid = np.linspace(criterion, lim, 2)
        ax.plot(grid, grid + criterion, color="black", lw=1)
        ax.plot(grid + criterion, grid, color="black", lw=1)
        ax.plot([criterion, criterion], [-lim, criterion * 2], color="black", lw=0.5, ls=":")
        ax.plot([-lim, criterion * 2], [criterion, criterion], color="black", lw=0.5, ls=":")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if series:
        ax.legend(fontsize=6)
    return save(fig, folder, name)


def histogram_figure(
    series: list[tuple[np.ndarray, str, str]],
    bins,
    xlabel: str,
    folder: Path,
    name: str,
    marker: tuple[float, str] | None = None,
    log_x: bool = False,
) -> Path:
    """Counts of each network's values ((values, label, colour) each), with a
    macaque marker where one has a source."""
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for values, label, colour in series:
        v = values[np.isfinite(values)]
        if len(v):
            ax.hist(v, bins=bins, color=colour, alpha=0.45, label=f"{label} ({len(v)})")
    if marker is not None:
        ax.axvline(marker[0], color=MACAQUE, lw=2, label=marker[1])
    ax.legend(fontsize=7)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("units")
    return save(fig, folder, name)
