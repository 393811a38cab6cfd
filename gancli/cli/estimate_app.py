"""`gancli estimate`: the Hydra app over conf/estimate.yaml; prints one final JSON line."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from gancli.cli.errors import fail
from gancli.cli.jax_setup import configure_jax, quiet_library_logs
from gancli.errors import GancliError


@hydra.main(config_path="pkg://gancli.conf", config_name="estimate", version_base="1.3")
def app(cfg: DictConfig) -> float:
    """Estimate D_f(P||Q) in Hydra's run dir; return the estimate to sweepers."""
    quiet_library_logs()
    try:
        from gancli.estimate_config import parse_estimate_config

        est_cfg = parse_estimate_config(OmegaConf.to_container(cfg, resolve=True))
        configure_jax()
        from gancli.estimate import estimate_divergence  # imports JAX: keep --help fast

        result = estimate_divergence(est_cfg, Path(HydraConfig.get().runtime.output_dir))
    except GancliError as err:
        fail("gancli estimate", str(err))
    logging.getLogger(__name__).info("wrote %s", Path(HydraConfig.get().runtime.output_dir) / "estimate.json")
    print(json.dumps(result), flush=True)
    return float(result["estimate"])
