"""PNG and GIF figures of runs: samples over the data, the critic's surface, metric curves, animations."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gancli.pictures.limits import plot_limits  # noqa: E402
from gancli.run_dir.files import write_atomically  # noqa: E402


def save_figure(fig: plt.Figure, path: Path, tight: bool = True) -> None:
    """Write `fig` to `path` and close it, whatever fails: pyplot keeps every open figure alive."""
    try:
        if tight:
            fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, fig.savefig)  # a kill mid-write leaves the old picture, not half a new one
    finally:
        plt.close(fig)


def draw_samples(ax: plt.Axes, real: np.ndarray, fake: np.ndarray, centres: np.ndarray, std: float,
                 legend: bool = True) -> None:
    """Generated samples over real ones with the true mode centres marked, on the run's fixed
    axes: histograms for 1-D data, a scatter plot for 2-D, and for more dimensions a scatter on
    the real samples' first two principal axes."""
    axis_names = ("x1", "x2")
    if real.shape[1] > 2:
        real, fake, centres = principal_plane(real, fake, centres)
        axis_names = ("principal axis 1", "principal axis 2")
    lo, hi = plot_limits(centres, std)
    ax.set_xlim(lo, hi)
    if real.shape[1] == 1:
        bins = np.linspace(lo, hi, 80)
        ax.hist(real[:, 0], bins=bins, density=True, color="0.6", alpha=0.6, label="data")
        ax.hist(fake[:, 0], bins=bins, density=True, color="tab:blue", alpha=0.6, label="generated")
        for centre in centres[:, 0]:
            ax.axvline(centre, c="tab:red", lw=0.8, ls=":")
        ax.set_xlabel("x")
        ax.set_ylabel("density")
        if legend:
            ax.legend(fontsize=8)
        return
    ax.scatter(real[:, 0], real[:, 1], s=2, c="0.6", alpha=0.5, label="data", rasterized=True)
    ax.scatter(fake[:, 0], fake[:, 1], s=2, c="tab:blue", alpha=0.6, label="generated", rasterized=True)
    ax.scatter(centres[:, 0], centres[:, 1], marker="x", c="tab:red", s=30, label="modes")
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    if legend:
        handles = ax.legend(loc="upper right", fontsize=7).legend_handles
        for handle in handles:  # legend markers at a readable size, whatever the scatter's
            handle.set_sizes([20])


def principal_plane(real: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """real and the other point sets projected onto the first two principal axes of real."""
    mean = real.mean(axis=0)
    _, _, axes = np.linalg.svd(real - mean, full_matrices=False)
    return tuple((x - mean) @ axes[:2].T for x in (real, *others))


def plot_samples(path: Path, real: np.ndarray, fake: np.ndarray, centres: np.ndarray, std: float,
                 title: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 4) if real.shape[1] == 1 else (5, 5), dpi=100)
    draw_samples(ax, real, fake, centres, std)
    ax.set_title(title, fontsize=9)
    save_figure(fig, path)


def plot_critic_1d(path: Path, x: np.ndarray, curves: list[tuple[np.ndarray, np.ndarray | None, str]],
                   title: str) -> None:
    """One panel per (learned, optimal, y-label) triple over x; optimal may be None (unknown)."""
    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 4), dpi=100, squeeze=False)
    for ax, (learned, optimal, label) in zip(axes[0], curves, strict=True):
        if optimal is not None:
            ax.plot(x, optimal, c="k", lw=2, label="optimal")
        ax.plot(x, learned, c="tab:orange", lw=1.5, ls="--", label="learned")
        ax.set_xlabel("x")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    save_figure(fig, path)


def plot_critic_2d(path: Path, xs: np.ndarray, ys: np.ndarray, learned: np.ndarray, optimal: np.ndarray | None,
                   label: str, title: str) -> None:
    """Learned and optimal critic as heatmaps on one colour scale (the learned one alone if no optimum)."""
    panels = [(learned, "learned")] + ([] if optimal is None else [(optimal, "optimal")])
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.2), dpi=100, squeeze=False)
    lo, hi = np.nanpercentile(panels[-1][0], [1, 99])
    for ax, (values, name) in zip(axes[0], panels, strict=True):
        image = ax.pcolormesh(xs, ys, values.T, vmin=lo, vmax=hi, shading="auto", cmap="viridis")
        ax.set_title(f"{name} {label}", fontsize=9)
        ax.set_aspect("equal")
        fig.colorbar(image, ax=ax)
    fig.suptitle(title, fontsize=9)
    save_figure(fig, path)


def plot_critic_surface(path: Path, axis: np.ndarray, values: np.ndarray, labels: list[str], heads: list[str],
                        real: np.ndarray, fake: np.ndarray, title: str) -> None:
    """What the critic says at each point of the data space, one panel per head, with the real
    and generated samples on top. 2-D data: `values` has shape (len(axis)**2, heads) over the
    grid axis x axis (first coordinate major); 1-D: shape (len(axis), heads) over the line."""
    n_heads = values.shape[1]
    fig, axes = plt.subplots(1, n_heads, figsize=(5.2 * n_heads, 4.6), dpi=100, squeeze=False)
    for h, ax in enumerate(axes[0]):
        name = f"{labels[h]} of {heads[h]}" if n_heads > 1 else labels[h]
        if real.shape[1] == 1:
            ax.plot(axis, values[:, h], c="tab:orange", lw=1.5, label=name)
            ax.set_xlabel("x")
            ax.set_ylabel(labels[h])
            counts = ax.twinx()
            bins = np.linspace(axis[0], axis[-1], 80)
            counts.hist(real[:, 0], bins=bins, density=True, color="0.6", alpha=0.4, label="data")
            counts.hist(fake[:, 0], bins=bins, density=True, color="tab:blue", alpha=0.4, label="generated")
            counts.set_yticks([])
            ax.set_xlim(axis[0], axis[-1])
            ax.legend(loc="upper left", fontsize=7)
            counts.legend(loc="upper right", fontsize=7)
        else:
            grid = values[:, h].reshape(len(axis), len(axis))
            lo, hi = np.nanpercentile(grid, [2, 98])  # a few extreme values must not wash out the rest
            image = ax.pcolormesh(axis, axis, grid.T, vmin=lo, vmax=hi, shading="auto", cmap="viridis")
            fig.colorbar(image, ax=ax, label=labels[h])
            ax.scatter(real[:, 0], real[:, 1], s=1, c="white", alpha=0.5, label="data", rasterized=True)
            ax.scatter(fake[:, 0], fake[:, 1], s=1, c="tab:red", alpha=0.6, label="generated", rasterized=True)
            ax.set_xlim(axis[0], axis[-1])
            ax.set_ylim(axis[0], axis[-1])
            ax.set_aspect("equal")
            ax.set_xlabel("x1")
            ax.set_ylabel("x2")
            legend = ax.legend(loc="upper right", fontsize=7, facecolor="0.3", labelcolor="white")
            for handle in legend.legend_handles:
                handle.set_sizes([20])
        ax.set_title(name, fontsize=9)
    fig.suptitle(title, fontsize=9)
    save_figure(fig, path)


# The panels of the curves figure: (title, metric names, y-axis label); a panel shows those present.
CURVE_PANELS = (
    ("training objectives", ("d_loss", "g_loss", "log_likelihood"), "value"),
    ("divergence estimate", ("divergence_estimate", "critic_estimate"), "estimate"),
    ("sample quality", ("high_quality_fraction", "modes_fraction", "precision", "recall", "coverage"), "fraction"),
    ("mode-histogram KL to uniform", ("mode_kl",), "KL (nats)"),
    ("Frechet distance of features", ("frechet_distance",), "distance"),
    ("discriminator's mean output", ("d_real", "d_fake"), "mean D(x)"),
)


def plot_curves(path: Path, records: list[dict], title: str) -> None:
    """Metrics over steps from metrics.jsonl records: losses, the divergence estimates (each
    ensemble member's too), and the evaluation metrics."""
    records = [{**r, "modes_fraction": r["modes_captured"] / r["modes_total"]}
               if r.get("modes_captured") is not None else r for r in records]
    members = sorted({k for r in records for k in r if k.startswith("divergence_estimate/")})
    panels = [(t, names + tuple(members) if t == "divergence estimate" else names, y) for t, names, y in CURVE_PANELS]
    present = [(t, [n for n in names if any(r.get(n) is not None for r in records)], y) for t, names, y in panels]
    present = [(t, names, y) for t, names, y in present if names]
    if not present:
        return
    cols = min(3, len(present))
    rows = -(-len(present) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.4 * rows), dpi=100, squeeze=False)
    for ax in axes.flat[len(present):]:
        ax.set_visible(False)
    for ax, (panel_title, names, ylabel) in zip(axes.flat, present, strict=False):
        for name in names:
            points = [(r["step"], r[name]) for r in records if r.get(name) is not None]
            steps, values = zip(*points, strict=True)
            marker = "o" if len(points) < 30 else None  # evaluation metrics: a few points, shown as dots
            ax.plot(steps, values, marker=marker, ms=3, lw=1.2, label=name.replace("divergence_estimate/", ""))
        if panel_title == "discriminator's mean output":
            ax.axhline(0.5, c="k", lw=0.8, ls=":", label="1/2 (optimum)")
        ax.set_title(panel_title, fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    height = 3.4 * rows  # inches: the margins below are fixed in inches
    fig.suptitle(title, fontsize=9, y=1 - 0.12 / height)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.5 / height, top=1 - 0.55 / height, wspace=0.3, hspace=0.5)
    # fixed margins: tight_layout would double the time of this figure, drawn at every evaluation
    save_figure(fig, path, tight=False)


def write_gif(path: Path, frames: list[Path], frame_ms: int = 600) -> None:
    """An animated GIF of PNG frames (of equal size), looping, the last frame held longer."""
    from PIL import Image

    images = [Image.open(frame).convert("RGB") for frame in frames]
    if not images:
        return
    durations = [frame_ms] * (len(images) - 1) + [frame_ms * 4]
    write_atomically(path, lambda tmp: images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                                                      duration=durations, loop=0))
