"""`gancli eval`: every metric of a trained run's checkpoint, printed as a table and kept in eval.json."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gancli.errors import GancliError
from gancli.evaluation import MIN_SAMPLES
from gancli.run_evaluation import Evaluator, evaluation_keys
from gancli.run_files import write_json
from gancli.schema import bounds, parse
from gancli.trained_run import load_run

# The k-NN metrics hold a few n x n float64 distance matrices: 20,000 samples take ~10 GB.
MAX_SAMPLES = 20000


@dataclass(frozen=True)
class EvalConfig:
    run_dir: str
    n: int | None = field(default=None, metadata=bounds(MIN_SAMPLES))  # None: the run's train.eval_samples
    step: int | None = field(default=None, metadata=bounds(0))  # None: the newest checkpoint
    seed: int | None = field(default=None, metadata=bounds(0, 2**31 - 1))  # None: the run's own


def parse_eval_config(raw: dict[str, Any]) -> EvalConfig:
    return parse(EvalConfig, raw)


def eval_run(cfg: EvalConfig, out_dir: Path | None = None) -> dict[str, Any]:
    """Evaluate the checkpoint and write eval.json into out_dir (default: the run's directory);
    returns what it holds.

    With the defaults (the run's seed and sample count) this reproduces the evaluation the run
    logged at that step.
    """
    if cfg.n is not None and cfg.n > MAX_SAMPLES:
        raise GancliError(f"n={cfg.n} is too many: the nearest-neighbour metrics compare every pair of samples; "
                          f"use n={MAX_SAMPLES} or fewer")
    run = load_run(Path(cfg.run_dir), cfg.step)
    n = run.cfg.train.eval_samples if cfg.n is None else cfg.n
    seed = run.cfg.seed if cfg.seed is None else cfg.seed
    _, _, metrics = Evaluator(run.problem, n).evaluate(run.state, run.step, evaluation_keys(seed))
    result = {"step": run.step, "n": n, "seed": seed, **metrics}
    write_json((run.run_dir if out_dir is None else Path(out_dir)) / "eval.json", result)
    return result


def format_table(result: dict[str, Any]) -> str:
    """The result as two aligned columns, one metric a line."""
    width = max(map(len, result))
    lines = []
    for name, value in result.items():
        shown = "n/a" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
        lines.append(f"{name:<{width}}  {shown}")
    return "\n".join(lines)
