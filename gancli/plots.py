"""PNG figures made from samples: generated points drawn over the data."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_samples(path: Path, real: np.ndarray, fake: np.ndarray, centres: np.ndarray, title: str) -> None:
    """Scatter generated samples over real ones, with the true mode centres marked."""
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
