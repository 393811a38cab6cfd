"""`gancli train`: the Hydra app over conf/train.yaml that hands a validated config to the trainer."""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from gancli.cli.errors import fail
from gancli.cli.jax_setup import configure_jax, quiet_library_logs
from gancli.config import parse_config
from gancli.errors import GancliError


@hydra.main(config_path="pkg://gancli.conf", config_name="train", version_base="1.3")
def app(cfg: DictConfig) -> float:
    """Train one run in Hydra's run dir; return the chosen summary metric to sweepers."""
    quiet_library_logs()
    try:
        run_cfg = parse_config(OmegaConf.to_container(cfg, resolve=True))
        configure_jax()
        from gancli.trainer import train_and_evaluate  # imports JAX: keep --help fast

        summary = train_and_evaluate(run_cfg, Path(HydraConfig.get().runtime.output_dir))
    except GancliError as err:
        fail("gancli train", str(err))
    return float(summary[run_cfg.train.objective])
