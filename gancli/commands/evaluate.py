"""`gancli eval`: every metric of a trained run's checkpoint (or of samples from a file, against the
run's data), printed as a table and kept in eval.json."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gancli.config.schema import bounds, parse
from gancli.data.sample_file import load_samples
from gancli.errors import GancliError
from gancli.evaluation.sample_metrics import MIN_SAMPLES
from gancli.evaluation.train_state_eval import Evaluator
from gancli.run_dir.files import write_json
from gancli.run_dir.layout import RunDir
from gancli.run_dir.reader import load_run
from gancli.training.keys import evaluation_keys

# The k-NN metrics hold a few n x n float64 distance matrices: 20,000 samples take ~10 GB.
MAX_SAMPLES = 20000


@dataclass(frozen=True)
class EvalConfig:
    run_dir: str
    n: int | None = field(metadata=bounds(MIN_SAMPLES))  # None: the run's train.eval_samples
    step: int | None = field(metadata=bounds(0))  # None: the newest checkpoint
    seed: int | None = field(metadata=bounds(0, 2**31 - 1))  # None: the run's own
    samples: str | None  # a .npy of samples to score instead of the run's generator's


def parse_eval_config(raw: dict[str, Any]) -> EvalConfig:
    return parse(EvalConfig, raw)


def eval_run(cfg: EvalConfig, out_dir: Path | None = None) -> dict[str, Any]:
    """Evaluate the checkpoint (or, with cfg.samples, the samples in that file against the run's
    data and critic), write the result to `eval_file(cfg, out_dir)`, and return it.

    With the defaults (the run's seed and sample count) this reproduces the evaluation the run
    logged at that step.
    """
    if cfg.n is not None and cfg.n > MAX_SAMPLES:
        raise GancliError(f"n={cfg.n} is too many: the nearest-neighbour metrics compare every pair of samples; "
                          f"use n={MAX_SAMPLES} or fewer")
    run = load_run(Path(cfg.run_dir), cfg.step)
    seed = run.cfg.seed if cfg.seed is None else cfg.seed
    if cfg.samples is None:
        n = run.cfg.train.eval_samples if cfg.n is None else cfg.n
        _, _, metrics = Evaluator(run.problem, n).evaluate(run.state, run.step, evaluation_keys(seed))
        result = {"step": run.step, "n": n, "seed": seed, **metrics}
    else:
        fake = load_samples(Path(cfg.samples), run.problem.data.dim, MIN_SAMPLES, MAX_SAMPLES)[:cfg.n]
        evaluator = Evaluator(run.problem, len(fake))
        metrics = evaluator.score(run.state, evaluator.real(evaluation_keys(seed)), fake)
        result = {"samples": cfg.samples, "step": run.step, "n": len(fake), "seed": seed, **metrics}
    write_json(eval_file(cfg, out_dir), result)
    return result


def eval_file(cfg: EvalConfig, out_dir: Path | None = None) -> Path:
    """Where the result goes: eval.json in out_dir; by default beside the run, or, for a samples
    file x.npy, x.eval.json beside it (the run's own eval.json is about its generator)."""
    if out_dir is not None:
        return RunDir(out_dir).eval_file
    if cfg.samples is not None:
        return Path(cfg.samples).with_suffix(".eval.json")
    return RunDir(cfg.run_dir).eval_file


def format_table(result: dict[str, Any]) -> str:
    """The result as two aligned columns, one metric a line."""
    width = max(map(len, result))
    lines = []
    for name, value in result.items():
        # NumPy's float32 is no Python float (its float64 is): round every floating value alike.
        shown = "n/a" if value is None else f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)
        lines.append(f"{name:<{width}}  {shown}")
    return "\n".join(lines)
