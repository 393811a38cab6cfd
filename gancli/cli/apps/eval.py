"""`gancli eval <run_dir>`: the Hydra app over conf/eval.yaml; prints the metrics as a table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from gancli.cli.task import run_task


def _parse(raw: dict[str, Any]) -> Any:
    from gancli.commands.evaluate import parse_eval_config  # imports JAX: keep --help fast

    return parse_eval_config(raw)


def _eval(cfg: Any, output_dir: Path) -> None:
    from gancli.commands.evaluate import eval_file, eval_run, format_table

    # One evaluation goes beside the run (or its samples file); each job of a sweep (-m) into its
    # own job directory.
    out_dir = output_dir if HydraConfig.get().mode == RunMode.MULTIRUN else None
    result = eval_run(cfg, out_dir)
    print(format_table(result), flush=True)
    print(f"(written to {eval_file(cfg, out_dir)})", flush=True)


@hydra.main(config_path="pkg://gancli.conf", config_name="eval", version_base="1.3")
def app(cfg: DictConfig) -> None:
    run_task("gancli eval", cfg, _parse, _eval)
