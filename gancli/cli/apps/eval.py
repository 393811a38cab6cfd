"""`gancli eval <run_dir>`: the Hydra app over conf/eval.yaml; prints the metrics as a table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from gancli.cli.task import hydra_app


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


app = hydra_app("eval", _parse, _eval)
