"""PNG figures made from samples: generated points drawn over the data."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_samples(path: Path, real: np.ndarray, fake: np.ndarray, centres: np.ndarray, title: str) -> None:
    """Generated samples over real ones, with the true mode centres marked: histograms for 1-D
    data, a scatter plot for 2-D."""
    if real.shape[1] == 1:
        _histograms(path, real[:, 0], fake[:, 0], centres[:, 0], title)
        return
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.scatter(real[:, 0], real[:, 1], s=2, c="0.6", alpha=0.5, label="data", rasterized=True)
    ax.scatter(fake[:, 0], fake[:, 1], s=2, c="tab:blue", alpha=0.6, label="generated", rasterized=True)
    ax.scatter(centres[:, 0], centres[:, 1], marker="x", c="tab:red", s=30, label="modes")
    span = np.abs(centres).max() * 1.4 + 1e-6
    ax.set_xlim(-span, span)
    ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    legend = ax.legend(loc="upper right", fontsize=7)
    for handle in legend.legend_handles:  # legend markers at a readable size, whatever the scatter's
        handle.set_sizes([20])
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def _histograms(path: Path, real: np.ndarray, fake: np.ndarray, centres: np.ndarray, title: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    lo, hi = np.percentile(np.concatenate([real, fake]), [0.5, 99.5])
    bins = np.linspace(min(lo, centres.min()) - 0.5, max(hi, centres.max()) + 0.5, 80)
    ax.hist(real, bins=bins, density=True, color="0.6", alpha=0.6, label="data")
    ax.hist(fake, bins=bins, density=True, color="tab:blue", alpha=0.6, label="generated")
    for centre in centres:
        ax.axvline(centre, c="tab:red", lw=0.8, ls=":")
    ax.set_xlabel("x")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


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
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


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
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
