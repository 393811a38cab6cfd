"""report.png: the final samples of every run of a report, one panel each, labelled by the
config values that differ between the runs (a row per group and a column per seed when the
seed varies)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from gancli.config.train import DataConfig, saved_data
from gancli.data.toy import make_dataset
from gancli.errors import GancliError
from gancli.evaluation.sample_metrics import headline
from gancli.pictures.image_grid import tile
from gancli.pictures.plots import draw_samples, plt, save_figure
from gancli.run_dir.records import RunRecord, column_name, final_samples

REAL_SAMPLES = 1000  # data points drawn under each panel
PANEL_IMAGES = 16  # images of a run's final grid shown in its panel


def _label(run: RunRecord, keys: list[str]) -> str:
    setting = ", ".join(f"{column_name(k)}={run.config.get(k)}" for k in keys)
    if not run.finished:
        return f"{setting}\n{run.status[:60]}"
    return f"{setting}\n{headline(run.summary)}"


def _layout(runs: list[RunRecord], keys: list[str]) -> list[list[RunRecord | None]]:
    """Rows of panels: one row per group of runs that differ only in the seed, if the seed varies."""
    if "seed" not in keys:
        cols = min(5, len(runs))
        return [list(runs[i: i + cols]) + [None] * (cols - len(runs[i: i + cols])) for i in range(0, len(runs), cols)]
    others = [k for k in keys if k != "seed"]
    groups: dict[tuple[str, ...], list[RunRecord]] = {}
    for run in runs:
        groups.setdefault(tuple(repr(run.config.get(k)) for k in others), []).append(run)
    cols = max(map(len, groups.values()))
    return [members + [None] * (cols - len(members)) for members in groups.values()]


def plot_report(path: Path, runs: list[RunRecord], keys: list[str]) -> None:
    rows = _layout(runs, keys)
    n_rows, n_cols = len(rows), len(rows[0])
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.2 * n_cols, 3.5 * n_rows), dpi=90, squeeze=False)
    datasets: dict[DataConfig, Any] = {}
    for r, row in enumerate(rows):
        for c, run in enumerate(row):
            ax = axes[r][c]
            if run is None:
                ax.set_visible(False)
                continue
            try:
                data_cfg = saved_data(run.raw_config.get("data", {}))
                if data_cfg not in datasets:  # images: read the files once for the runs that share them
                    datasets[data_cfg] = make_dataset(data_cfg)
                data = datasets[data_cfg]
            except GancliError:
                data = None
            fake = final_samples(run)
            if data is None or fake is None:
                ax.text(0.5, 0.5, "no samples saved", ha="center", va="center", transform=ax.transAxes)
                ax.set_xticks([])
                ax.set_yticks([])
            elif hasattr(data, "to_images"):  # images: the first of the final grid's
                ax.imshow(tile(data.to_images(fake[:PANEL_IMAGES])).squeeze(), cmap="gray")
                ax.set_xticks([])
                ax.set_yticks([])
            else:
                real = np.asarray(data.sample(jax.random.key(0), REAL_SAMPLES))
                draw_samples(ax, real, fake, data.means, float(data.stds.max()), legend=False)
                ax.set_xlabel("")
                ax.set_ylabel("")
            ax.set_title(_label(run, keys), fontsize=7)
    save_figure(fig, path)
