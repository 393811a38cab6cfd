"""`gancli train`: the Hydra app over conf/train.yaml that hands a validated config to the trainer."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from gancli.cli.task import run_task
from gancli.config import RunConfig, parse_config


def _train(cfg: RunConfig, run_dir: Path) -> float:
    from gancli.trainer import train_and_evaluate  # imports JAX: keep --help fast

    value = train_and_evaluate(cfg, run_dir)[cfg.train.objective]
    return float("nan") if value is None else float(value)  # mode_kl is None with no high-quality sample


@hydra.main(config_path="pkg://gancli.conf", config_name="train", version_base="1.3")
def app(cfg: DictConfig) -> float:
    """Train one run in Hydra's run dir; return the chosen summary metric to sweepers."""
    return run_task("gancli train", cfg, parse_config, _train)
