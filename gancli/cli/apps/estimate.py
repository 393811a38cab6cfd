"""`gancli estimate`: the Hydra app over conf/estimate.yaml; prints one final JSON line."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from gancli.cli.task import hydra_app


def _parse(raw: dict[str, Any]) -> Any:
    from gancli.config.estimate import parse_estimate_config  # imports JAX: keep --help fast

    return parse_estimate_config(raw)


def _estimate(cfg: Any, run_dir: Path) -> float:
    from gancli.commands.estimate import estimate_divergence  # imports JAX: keep --help fast

    result = estimate_divergence(cfg, run_dir)
    logging.getLogger(__name__).info("wrote %s", run_dir / "estimate.json")
    print(json.dumps(result), flush=True)
    return float(result["estimate"])


app = hydra_app("estimate", _parse, _estimate)  # returns the estimate to sweepers
