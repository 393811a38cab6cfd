"""A run read back from the files it left: the config and train state of one of its checkpoints.

`gancli sample` and `gancli eval` start here. The config is the one saved with the checkpoint
(a resume may have changed settings since the run began), and the checkpoints are opened read
only, so reading a run that is still training disturbs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jax

from gancli.checkpoints import Checkpointer, state_shapes
from gancli.config import RunConfig, parse_config
from gancli.errors import GancliError
from gancli.train_step import GanProblem, State, build


@dataclass(frozen=True)
class TrainedRun:
    run_dir: Path
    cfg: RunConfig
    problem: GanProblem
    state: State
    step: int


def load_run(run_dir: Path, step: int | None = None) -> TrainedRun:
    """The run in `run_dir` at checkpoint `step` (default: its newest), or a GancliError saying
    what is missing."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise GancliError(f"run directory {run_dir} does not exist")
    directory = run_dir / "checkpoints"
    if not directory.is_dir():
        raise GancliError(f"{run_dir} has no checkpoints/; pass a run directory that `gancli train` created, "
                          "e.g. outputs/train/<timestamp>")
    checkpointer = Checkpointer(directory, read_only=True)
    try:
        steps = checkpointer.all_steps()
        if not steps:
            raise GancliError(f"{run_dir} has no complete checkpoint yet; wait for the run's first save "
                              "(train.ckpt_every) or resume it")
        if step is None:
            step = steps[-1]
        elif step not in steps:
            raise GancliError(f"{run_dir} has no checkpoint at step {step}; it has step "
                              f"{', '.join(map(str, steps))} (train.keep sets how many are kept)")
        metadata = checkpointer.metadata(step)
        cfg = parse_config(metadata["config"])
        problem, init = build(cfg)
        abstract = jax.eval_shape(init)
        if metadata["shapes"] != state_shapes(abstract):
            raise GancliError(f"the checkpoint at step {step} of {run_dir} holds a train state of another layout "
                              f"(saved by gancli {metadata['versions'].get('gancli', '?')}); "
                              "read it with that version of gancli")
        return TrainedRun(run_dir, cfg, problem, checkpointer.restore(step, abstract), step)
    finally:
        checkpointer.close()
