"""A run read back from the files it left: the config and train state of one of its checkpoints.

`gancli sample` and `gancli eval` start here. The config is the one saved with the checkpoint
(a resume may have changed settings since the run began), and the checkpoints are opened read
only, so reading a run that is still training disturbs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax

from gancli.config.schema import flatten
from gancli.config.train import PROCESS_KEYS, RunConfig, saved_config, saved_settings, to_dict
from gancli.errors import GancliError
from gancli.run_dir.checkpoints import Checkpointer, DamagedCheckpoint, state_shapes
from gancli.run_dir.layout import RunDir
from gancli.training.problem import GanProblem, build
from gancli.training.state import TrainState, from_tree, restore_target


@dataclass(frozen=True)
class TrainedRun:
    run_dir: Path
    cfg: RunConfig
    problem: GanProblem
    state: TrainState
    step: int


def load_run(run_dir: Path, step: int | None = None) -> TrainedRun:
    """The run in `run_dir` at checkpoint `step` (default: its newest), or a GancliError saying
    what is missing."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise GancliError(f"run directory {run_dir} does not exist")
    directory = RunDir(run_dir).checkpoints
    seeds = RunDir(run_dir).seed_runs()
    if not directory.is_dir() and seeds:
        raise GancliError(f"{run_dir} holds the runs of seeds trained together (train.num_seeds), each in a "
                          f"directory of its own: name one, e.g. {seeds[0].path}")
    if not directory.is_dir():
        raise GancliError(f"{run_dir} has no checkpoints/; pass a run directory that `gancli train` created, "
                          "e.g. outputs/train/<timestamp>")
    checkpointer = Checkpointer(directory, read_only=True)
    try:
        steps = checkpointer.all_steps()
        if not steps:
            raise GancliError(f"{run_dir} has no complete checkpoint yet; wait for the run's first save "
                              "(train.ckpt_every) or resume it")
        if step is None:  # the newest that reads back intact
            restored = checkpointer.newest_intact(lambda metadata: _restore_target(run_dir, metadata))
            if restored is None:  # every checkpoint listed was deleted meanwhile, by the run still training
                raise GancliError(f"the checkpoints of {run_dir} were removed while being read; try again")
            metadata, state, step = restored.metadata, restored.state, restored.step
        elif step not in steps:
            raise GancliError(f"{run_dir} has no checkpoint at step {step}; it has step "
                              f"{', '.join(map(str, steps))} (train.keep sets how many are kept)")
        else:
            try:
                metadata, state = checkpointer.read_verified(step, lambda md: _restore_target(run_dir, md))
            except DamagedCheckpoint as damage:
                raise GancliError(f"the checkpoint at step {step} of {run_dir} is damaged: {damage}; pick another "
                                  f"step (it has step {', '.join(map(str, steps))})") from None
        cfg = saved_config(metadata["config"])
        return TrainedRun(run_dir, cfg, build(cfg)[0], from_tree(state), step)
    finally:
        checkpointer.close()


def _restore_target(run_dir: Path, metadata: dict[str, Any]) -> Any:
    """The abstract train state of the run a checkpoint's metadata describes."""
    cfg = saved_config(metadata["config"])
    abstract = restore_target(jax.eval_shape(build(cfg)[1]), metadata["shapes"])
    if metadata["shapes"] != state_shapes(abstract):
        raise GancliError(f"the checkpoint at step {metadata['step']} of {run_dir} holds a train state of another "
                          f"layout (saved by gancli {metadata['versions'].get('gancli', '?')}); "
                          "read it with that version of gancli")
    return abstract


# Settings that change nothing a finished run computed.
NOT_RESULTS = ("train.progress", *PROCESS_KEYS)


def finished_summary(cfg: RunConfig, run_dir: Path) -> dict[str, Any] | None:
    """The summary of the run in `run_dir` if it already finished with this very config (its
    newest checkpoint at train.steps, saved with the same settings); else None.

    What a sweep run again into its own directory skips. Anything less certain (no summary, a
    damaged checkpoint, any setting changed) is left to the trainer, which resumes, extends,
    evaluates again or refuses, and says why.
    """
    files = RunDir(run_dir)
    try:
        summary = files.read_summary() or {}
    except (OSError, ValueError):
        return None
    if summary.get("step") != cfg.train.steps or not files.checkpoints.is_dir():
        return None
    checkpointer = Checkpointer(files.checkpoints, read_only=True)
    try:
        if checkpointer.latest_step() != cfg.train.steps:
            return None
        saved = saved_settings(checkpointer.metadata(cfg.train.steps)["config"])
    except Exception:  # noqa: BLE001 - unreadable: the trainer says what is wrong
        return None
    finally:
        checkpointer.close()
    new = flatten(to_dict(cfg))
    same = all(saved.get(k) == new.get(k) for k in set(saved) | set(new) if k not in NOT_RESULTS)
    return summary if same else None
