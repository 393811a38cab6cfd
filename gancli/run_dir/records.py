"""The runs below the directories a report is given, read back from the files they left:
.hydra/config.yaml, summary.json, failure.json, metrics.jsonl and the final samples in plots/."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from gancli.config.schema import flatten
from gancli.errors import GancliError
from gancli.run_dir.files import snapshot_file, snapshot_steps
from gancli.run_dir.layout import CONFIG_FILE, RunDir


@dataclass(frozen=True)
class RunRecord:
    path: Path
    name: str  # the path relative to the directory that was given
    raw_config: dict[str, Any]  # as Hydra saved it
    config: dict[str, Any]  # flattened: {"divergence.name": "kl", ...}
    summary: dict[str, Any] | None  # None: the run has not finished
    failure: dict[str, Any] | None  # why training stopped, if it failed
    last_step: int | None

    @property
    def finished(self) -> bool:
        # each attempt removes an earlier one's failure.json, so one beside a summary is newer than it
        return self.summary is not None and self.failure is None

    @property
    def status(self) -> str:
        if self.failure is not None:
            reason = self.failure["error"].split(";")[0].split(" (")[0]  # what went wrong, without details
            return f"failed at step {self.failure['step']}: {reason}"
        if self.summary is not None:
            return "finished"
        return "not started" if self.last_step is None else f"stopped at step {self.last_step}"


def _natural_key(path: Path) -> list[Any]:
    """Sort sweep jobs 0, 1, 2, ..., 10 rather than 0, 1, 10, 2."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def find_runs(dirs: list[Path]) -> list[RunRecord]:
    """Every run directory (one with .hydra/config.yaml) given or below one given."""
    runs: list[RunRecord] = []
    seen: set[Path] = set()
    for given in dirs:
        if not given.is_dir():
            what = "is not a directory" if given.exists() else "does not exist"
            raise GancliError(f"{given} {what}; pass sweep or run directories, e.g. outputs/multirun/train/<timestamp>")
        found = sorted((p.parent.parent for p in given.rglob(CONFIG_FILE)
                        if _is_training_run(p.parent.parent)), key=_natural_key)
        if not found:
            raise GancliError(f"{given} holds no training run (no .hydra/config.yaml of `gancli train` below it); "
                              "pass a directory that `gancli train` or `gancli train -m` wrote")
        for run in found:  # named by their path below the directory given, and by it when there are several
            if run.resolve() in seen:  # directories given inside one another: each run once
                continue
            seen.add(run.resolve())
            below = run.relative_to(given).as_posix() if run != given else ""
            name = "/".join(part for part in (given.name if len(dirs) > 1 or not below else "", below) if part)
            runs.append(_read_run(run, name))
    return runs


def _is_training_run(path: Path) -> bool:
    """A run of `gancli train` (not of `gancli estimate`, whose runs also have .hydra/), and not
    a group of seeds trained together (train.num_seeds): its seeds' runs below it are the runs."""
    files = RunDir(path)
    if (files.read_config().get("train") or {}).get("num_seeds", 1) > 1:
        return False
    if files.hydra_file.exists():
        hydra = yaml.safe_load(files.hydra_file.read_text()) or {}
        return hydra.get("hydra", {}).get("job", {}).get("name") == "train"
    return files.metrics.path.exists() or files.checkpoints.is_dir()


def _read_run(path: Path, name: str) -> RunRecord:
    files = RunDir(path)
    raw = files.read_config()
    records = files.metrics.read()
    return RunRecord(path, name, raw, flatten(raw), files.read_summary(), files.read_failure(),
                     records[-1]["step"] if records else None)


def final_samples(run: RunRecord) -> np.ndarray | None:
    """The run's snapshot of its fixed noise at its final step (for an unfinished run, its
    newest), if it left one."""
    plots = RunDir(run.path).plots
    steps = [run.summary["step"]] if run.summary is not None else snapshot_steps(plots)[-1:]
    frames = [snapshot_file(plots, step) for step in steps]
    return np.load(frames[0], allow_pickle=False) if frames and frames[0].exists() else None


def column_name(key: str) -> str:
    """A config key as a column: `divergence.name` -> `divergence`, the way a user picks it."""
    return key.removesuffix(".name")
