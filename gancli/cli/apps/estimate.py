"""`gancli estimate`: the Hydra app over conf/estimate.yaml; prints one final JSON line."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from gancli.cli.task import run_task


def _parse(raw: dict[str, Any]) -> Any:
    from gancli.config.estimate import parse_estimate_config  # imports JAX: keep --help fast

    return parse_estimate_config(raw)


def _estimate(cfg: Any, run_dir: Path) -> float:
    from gancli.commands.estimate import estimate_divergence  # imports JAX: keep --help fast

    result = estimate_divergence(cfg, run_dir)
    logging.getLogger(__name__).info("wrote %s", run_dir / "estimate.json")
    print(json.dumps(result), flush=True)
    return float(result["estimate"])


@hydra.main(config_path="pkg://gancli.conf", config_name="estimate", version_base="1.3")
def app(cfg: DictConfig) -> float:
    """Estimate D_f(P||Q) in Hydra's run dir; return the estimate to sweepers."""
    return run_task("gancli estimate", cfg, _parse, _estimate)
