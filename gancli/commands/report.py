"""`gancli report`: one table and one figure over the runs of a sweep (or any run directories).

Reads only the files runs leave: .hydra/config.yaml (what differs between runs becomes the
table's columns), summary.json (the final metrics; a run without one is listed as failed, with
failure.json's reason, or as stopped at the last step metrics.jsonl reached) and
plots/samples_<step>.npy (the final snapshot).
Writes report.md (grouped mean +- std over seeds when the seed varies, then every run),
report.csv (every run, every final metric) and report.png (every run's final samples).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gancli.config.schema import parse
from gancli.config.train import PROCESS_KEYS
from gancli.errors import GancliError
from gancli.run_dir.files import write_atomically
from gancli.run_dir.records import RunRecord, column_name, find_runs

# The metrics the tables show unless `metrics=` names others.
DEFAULT_METRICS = ("modes_captured", "high_quality_fraction", "mode_kl", "frechet_distance", "precision", "recall",
                   "coverage", "critic_estimate")
IGNORED_KEYS = ("train.progress", "train.plots", *PROCESS_KEYS)  # differ without changing the experiment


@dataclass(frozen=True)
class ReportConfig:
    dirs: list[str]
    out: str | None  # None: the directory given, if one; else the current directory
    metrics: list[str] | None  # None: DEFAULT_METRICS


def parse_report_config(raw: dict[str, Any]) -> ReportConfig:
    return parse(ReportConfig, raw)


def differing_keys(runs: list[RunRecord]) -> list[str]:
    """The config keys whose values are not the same in every run, in config order."""
    keys: list[str] = []
    for run in runs:
        keys += [k for k in run.config if k not in keys]
    return [k for k in keys if k not in IGNORED_KEYS and len({repr(r.config.get(k)) for r in runs}) > 1]


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return "[" + ",".join(map(_shown, value)) + "]"
    return str(value)


def _mean_std(values: list[float]) -> str:
    """mean ± sample standard deviation (the mean alone for one value)."""
    if not values:
        return "-"
    mean = float(np.mean(values))
    return f"{mean:.3g}" if len(values) == 1 else f"{mean:.3g} ± {float(np.std(values, ddof=1)):.2g}"


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _metric_value(run: RunRecord, metric: str) -> float | None:
    value = (run.summary or {}).get(metric)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def grouped_table(runs: list[RunRecord], keys: list[str], metrics: list[str]) -> str | None:
    """Mean ± std over seeds of each group of finished runs that differ only in the seed; None
    when the seed does not vary."""
    if "seed" not in keys:
        return None
    group_keys = [k for k in keys if k != "seed"]
    groups: dict[tuple[str, ...], list[RunRecord]] = {}
    for run in runs:
        if run.finished:
            groups.setdefault(tuple(_shown(run.config.get(k)) for k in group_keys), []).append(run)
    rows = []
    for values, members in groups.items():
        cells = [_mean_std([v for r in members if (v := _metric_value(r, m)) is not None]) for m in metrics]
        rows.append([*values, str(len(members)), *cells])
    return _markdown_table([*map(column_name, group_keys), "seeds", *metrics], rows)


def runs_table(runs: list[RunRecord], keys: list[str], metrics: list[str]) -> str:
    rows = [[run.name, *(_shown(run.config.get(k)) for k in keys), run.status,
             *(_shown((run.summary or {}).get(m)) for m in metrics)] for run in runs]
    return _markdown_table(["run", *map(column_name, keys), "status", *metrics], rows)


def runs_csv(runs: list[RunRecord], keys: list[str]) -> str:
    """One row per run: its differing config values, status, and every final metric."""
    metric_names: list[str] = []
    for run in runs:
        metric_names += [m for m in (run.summary or {}) if m not in metric_names]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["run", *keys, "status", *metric_names])
    for run in runs:
        writer.writerow([run.name, *(run.config.get(k) for k in keys), run.status,
                         *((run.summary or {}).get(m) for m in metric_names)])
    return out.getvalue()


def write_report(cfg: ReportConfig) -> dict[str, Any]:
    """Write report.md, report.csv and report.png; return their paths and the markdown."""
    dirs = [Path(d) for d in cfg.dirs]
    if not dirs:
        raise GancliError("name the directories to report on: gancli report <dir> [<dir> ...]")
    runs = find_runs(dirs)
    keys = differing_keys(runs)
    known = {m for run in runs for m in (run.summary or {})}
    # By default, the metrics these runs have (an explicit model has no critic_estimate)
    metrics = [m for m in DEFAULT_METRICS if m in known] if cfg.metrics is None else cfg.metrics
    unknown = [m for m in metrics if known and m not in known]
    if unknown:
        raise GancliError(f"metrics has {unknown[0]!r}, which no run's summary.json holds; choose from: "
                          f"{', '.join(sorted(known))}")
    out = Path(cfg.out) if cfg.out is not None else dirs[0] if len(dirs) == 1 else Path.cwd()
    out.mkdir(parents=True, exist_ok=True)
    finished = sum(r.finished for r in runs)
    sections = [f"# Report on {', '.join(str(d) for d in dirs)}",
                f"{len(runs)} runs, {finished} finished. Columns: the config values that differ between runs, "
                "then final metrics (summary.json).\n"]
    grouped = grouped_table(runs, keys, metrics)
    if grouped is not None:
        sections += ["## Mean ± std over seeds", grouped, ""]
    sections += ["## Every run", runs_table(runs, keys, metrics), "", "![final samples of every run](report.png)"]
    markdown = "\n".join(sections) + "\n"
    csv = runs_csv(runs, keys)
    write_atomically(out / "report.md", lambda tmp: tmp.write_text(markdown))
    write_atomically(out / "report.csv", lambda tmp: tmp.write_text(csv))

    from gancli.pictures.report_figure import plot_report  # imports JAX and matplotlib: only when drawing

    plot_report(out / "report.png", runs, keys)
    return {"report": str(out / "report.md"), "csv": str(out / "report.csv"), "png": str(out / "report.png"),
            "runs": len(runs), "finished": finished, "markdown": markdown}
