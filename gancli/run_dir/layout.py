"""A run's directory: the interface every command reads back (README, "What a run leaves").

`RunDir` names each of its files and folders, with the reader and writer of each; no other
module spells those names, so the layout can be read, and changed, in one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gancli.run_dir.files import MetricsLog, write_json

SEED_DIR = "seed_{seed}"  # a seed's own run below a group of seeds trained together (train.num_seeds)
CONFIG_FILE = ".hydra/config.yaml"  # Hydra's record of the resolved config: what marks a run directory


@dataclass(frozen=True)
class RunDir:
    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    # Folders: what training writes and reads back (no other command writes into them).
    @property
    def checkpoints(self) -> Path:
        """Orbax checkpoints, one folder per saved step; made when training starts."""
        return self.path / "checkpoints"

    @property
    def plots(self) -> Path:
        return self.path / "plots"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tb"

    @property
    def record(self) -> Path:
        """Hydra's record of the command: the resolved config and the command line's overrides."""
        return self.path / ".hydra"

    @property
    def own_folders(self) -> tuple[Path, ...]:
        return self.checkpoints, self.plots, self.tensorboard, self.record

    # The record's files.
    @property
    def config_file(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def overrides_file(self) -> Path:
        return self.record / "overrides.yaml"

    @property
    def hydra_file(self) -> Path:
        return self.record / "hydra.yaml"

    def read_config(self) -> dict[str, Any]:
        return yaml.safe_load(self.config_file.read_text()) or {}

    # Logs, written as training goes.
    @property
    def metrics(self) -> MetricsLog:
        """metrics.jsonl: a line per logged step, and the sample metrics at evaluations."""
        return MetricsLog(self.path / "metrics.jsonl")

    @property
    def rollbacks(self) -> MetricsLog:
        """rollbacks.jsonl: a line per rollback of train.on_nonfinite=rollback."""
        return MetricsLog(self.path / "rollbacks.jsonl")

    @property
    def lock_file(self) -> Path:
        """Held (flock) by the process training into the run: see gancli.run_dir.lock."""
        return self.path / "train.lock"

    # How the run ended.
    @property
    def summary_file(self) -> Path:
        """summary.json: the final metrics, written when the run reaches train.steps."""
        return self.path / "summary.json"

    def read_summary(self) -> dict[str, Any] | None:
        """summary.json's contents; None if the run has not written one (it has not finished)."""
        return json.loads(self.summary_file.read_text()) if self.summary_file.exists() else None

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json(self.summary_file, summary)

    @property
    def failure_file(self) -> Path:
        """failure.json: why and at which step training stopped, for `gancli report` to say."""
        return self.path / "failure.json"

    def read_failure(self) -> dict[str, Any] | None:
        return json.loads(self.failure_file.read_text()) if self.failure_file.exists() else None

    def write_failure(self, step: int, message: str) -> None:
        write_json(self.failure_file, {"step": step, "error": message})

    # What the other commands leave beside the run by default.
    @property
    def eval_file(self) -> Path:
        return self.path / "eval.json"

    @property
    def samples_file(self) -> Path:
        return self.path / "samples.npy"

    def seed_run(self, seed: int) -> RunDir:
        """The run of one seed of a group of seeds trained together."""
        return RunDir(self.path / SEED_DIR.format(seed=seed))

    def seed_runs(self) -> list[RunDir]:
        """The seeds' runs below a group that has started training, in order of their paths."""
        return [RunDir(p.parent) for p in sorted(self.path.glob(f"{SEED_DIR.format(seed='*')}/checkpoints"))]
