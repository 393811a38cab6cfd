"""`gancli sample <run_dir>`: the Hydra app over conf/sample.yaml; prints one JSON line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from gancli.cli.task import hydra_app


def _parse(raw: dict[str, Any]) -> Any:
    from gancli.commands.sample import parse_sample_config  # imports JAX: keep --help fast

    return parse_sample_config(raw)


def _sample(cfg: Any, output_dir: Path) -> None:
    from gancli.commands.sample import sample_run

    # By default the samples go beside the run; each job of a sweep (-m) into its own job directory.
    default_dir = output_dir if HydraConfig.get().mode == RunMode.MULTIRUN else None
    print(json.dumps(sample_run(cfg, default_dir)), flush=True)


app = hydra_app("sample", _parse, _sample)
