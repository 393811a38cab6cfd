"""`gancli train`: the Hydra app over conf/train.yaml that hands a validated config to the trainer."""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from gancli.cli.task import run_task
from gancli.config import RunConfig, parse_config

log = logging.getLogger(__name__)


def _train(cfg: RunConfig, run_dir: Path) -> float:
    from gancli.trained_run import finished_summary  # imports JAX: keep --help fast
    from gancli.trainer import train_and_evaluate

    # A sweep run again into its directory resumes its unfinished jobs and skips finished ones.
    in_sweep = HydraConfig.get().mode == RunMode.MULTIRUN
    summary = finished_summary(cfg, run_dir) if in_sweep else None
    if summary is not None:
        log.info("%s already finished at step %d with this config: skipped", run_dir, cfg.train.steps)
    else:
        summary = train_and_evaluate(cfg, run_dir, same_run_only=in_sweep)
    value = summary[cfg.train.objective]
    return float("nan") if value is None else float(value)  # mode_kl is None with no high-quality sample


@hydra.main(config_path="pkg://gancli.conf", config_name="train", version_base="1.3")
def app(cfg: DictConfig) -> float:
    """Train one run in Hydra's run dir; return the chosen summary metric to sweepers."""
    return run_task("gancli train", cfg, parse_config, _train)
