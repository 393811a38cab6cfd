"""The body every Hydra app shares: validate the composed config, run the task in Hydra's run
dir, and turn a GancliError into one line and exit status 2."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from gancli.cli.errors import fail
from gancli.cli.jax_setup import configure_jax, quiet_library_logs
from gancli.errors import GancliError

C = TypeVar("C")


def run_task(command: str, cfg: DictConfig, parse: Callable[[dict[str, Any]], C],
             run: Callable[[C, Path], Any]) -> Any:
    """run(parse(cfg), run_dir), with JAX's cache and log levels set first."""
    quiet_library_logs()
    try:
        typed = parse(OmegaConf.to_container(cfg, resolve=True))
        configure_jax()
        return run(typed, Path(HydraConfig.get().runtime.output_dir))
    except GancliError as err:
        fail(command, str(err))
