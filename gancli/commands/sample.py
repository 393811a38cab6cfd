"""`gancli sample`: draw from the generator of a trained run into a .npy, with a PNG beside it
(a scatter over the data, or for images a grid of the first samples)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gancli.config.schema import bounds, parse
from gancli.errors import GancliError
from gancli.evaluation.train_state_eval import Evaluator
from gancli.pictures.image_grid import GRID_SAMPLES, save_grid
from gancli.pictures.plots import plot_samples
from gancli.run_dir.files import write_atomically
from gancli.run_dir.layout import RunDir
from gancli.run_dir.reader import load_run
from gancli.training.keys import evaluation_key, evaluation_keys


@dataclass(frozen=True)
class SampleConfig:
    run_dir: str
    n: int = field(metadata=bounds(1))
    out: str | None  # None: <run_dir>/samples.npy
    step: int | None = field(metadata=bounds(0))  # None: the newest checkpoint
    seed: int | None = field(metadata=bounds(0, 2**31 - 1))  # None: the run's own


def parse_sample_config(raw: dict[str, Any]) -> SampleConfig:
    return parse(SampleConfig, raw)


def sample_run(cfg: SampleConfig, default_dir: Path | None = None) -> dict[str, Any]:
    """Write cfg.n float32 samples of shape (n, dim) to cfg.out (default: samples.npy in
    default_dir, else in the run's directory); returns what was written where.

    The noise is the run's evaluation noise at that step (from cfg.seed if given, else the run's
    seed): with n = train.eval_samples these are the very samples the run's evaluation scored.
    """
    out = Path(cfg.out) if cfg.out is not None else RunDir(default_dir or cfg.run_dir).samples_file
    if out.suffix != ".npy":
        raise GancliError(f"out={out} must name a .npy file, e.g. out=samples.npy")
    run = load_run(Path(cfg.run_dir), cfg.step)
    if not out.parent.is_dir():
        raise GancliError(f"out={out}: its folder {out.parent} does not exist; create it or choose another path")
    for own in RunDir(run.run_dir).own_folders:  # the run's own files are not to be overwritten
        if out.resolve().is_relative_to(own.resolve()):
            raise GancliError(f"out={out} is inside the run's {own.name}/ folder; write the samples elsewhere")
    seed = run.cfg.seed if cfg.seed is None else cfg.seed
    evaluator = Evaluator(run.problem, cfg.n)
    keys = evaluation_keys(seed)
    samples = evaluator.samples(run.state, evaluation_key(keys, run.step), cfg.n)
    write_atomically(out, lambda tmp: np.save(tmp, samples))
    picture = out.with_suffix(".png")
    data = run.problem.data
    if run.problem.images:
        save_grid(picture, data.to_images(samples[:GRID_SAMPLES]))
    else:
        real = np.asarray(data.sample(keys.real, min(cfg.n, 10000)))
        plot_samples(picture, real, samples[:10000], data.means, float(data.stds.max()),
                     f"{run.cfg.divergence.name} on {run.cfg.data.name}, seed {run.cfg.seed}, step {run.step}: "
                     f"{cfg.n} samples")
    return {"out": str(out), "png": str(picture), "n": cfg.n, "shape": list(samples.shape), "step": run.step,
            "seed": seed}
