"""The host loop around the jitted chunk: one run alone, or several seeds' runs side by side.

Holds the runs' locks, turns SIGINT/SIGTERM into "save, then exit", runs each chunk (in every
process of a run over several, see gancli.runner.distributed), and hands each run what its chunk did
(gancli.runner.trainer.Trainer logs, evaluates and checkpoints it). Writes that fail become one clear
error.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import jax
import numpy as np
from jax import Array
from tqdm import tqdm

from gancli.config.train import RunConfig
from gancli.errors import GancliError, StorageError, TrainingError
from gancli.pictures.drawing_thread import PictureThread, drawing_executor
from gancli.run_dir.checkpoints import Checkpointer
from gancli.run_dir.lock import RunLock
from gancli.runner import distributed
from gancli.training.chunk import make_train_chunk
from gancli.training.problem import GanProblem
from gancli.training.state import TrainState, stack_states

log = logging.getLogger(__name__)


class Run(Protocol):
    """What the loop needs of one run (gancli.runner.trainer.Trainer is one): where it is, and the
    hooks it calls around the chunks. The loop owns the order; the run owns its files."""

    cfg: RunConfig
    run_dir: Path
    problem: GanProblem
    step: int
    checkpointer: Checkpointer | None  # set by open()
    drawing: PictureThread | None  # set by start()

    @property
    def several(self) -> bool:
        """Whether the run spans several processes (this one the primary)."""

    def open(self) -> TrainState:
        """The state to go on from, with the run's checkpointer open (its lock is held)."""

    def start(self, state: TrainState, executor: ThreadPoolExecutor | None) -> None:
        """Before the first chunk: the run's writers (TensorBoard, pictures) start."""

    def after_chunk(self, state_of: Callable[[], TrainState], metrics: dict[str, np.ndarray], step: int,
                    end: int) -> tuple[TrainState, int] | None:
        """Log, evaluate and checkpoint what a chunk did; (state, step) to go back to after a rollback."""

    def checkpoint(self, state_of: Callable[[], TrainState], step: int) -> None:
        """Save now (on a stop request), unless this step is saved already."""

    def finish(self, state_of: Callable[[], TrainState], steps_per_s: float | None) -> dict[str, Any]:
        """The run's summary, its files written."""

    def stop_writers(self, raise_errors: bool = True) -> None:
        """Stop the writers start() began, raising what they failed with unless told not to."""


class StopRequest:
    """Turns SIGINT and SIGTERM into a flag the loop checks between chunks.

    A second signal while stopping is ignored, so a checkpoint being saved is never cut short.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.signum is None:
            log.warning("received %s: saving a checkpoint, then exiting", signal.Signals(signum).name)
            self.signum = signum

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():  # signal.signal only works there
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def train_runs(runs: list[Run], resume_dir: Path, replicas: bool,
               on_start: Callable[[list[Run]], None] | None = None) -> list[dict[str, Any]]:
    """Train runs of one config to train.steps and return their summaries: one run alone, or
    with `replicas` the runs of several seeds side by side, their states stacked in one program.

    Seeds trained together resume together from the same step; those whose newest checkpoints
    differ (a kill between their saves) train in groups, one step after another. A seed whose
    loss turns non-finite stops alone (it leaves failure.json), the others go on, and a
    TrainingError then names it. `resume_dir`: what `gancli resume` is told to continue.
    on_start(runs): called once every run has read its checkpoints, before training.
    """
    failures: list[tuple[Run, TrainingError]] = []
    summaries: list[dict[str, Any]] = []
    with contextlib.ExitStack() as held:
        # The locks first: a second writer must not even clean up the first one's temporary files.
        locks = [held.enter_context(RunLock(run.run_dir)) for run in runs]
        stop = held.enter_context(StopRequest())  # held until the last save is on disk
        try:
            states = [run.open() for run in runs]
            for lock in locks:
                lock.sign()
            if on_start is not None:
                on_start(runs)
            by_step = sorted(zip(runs, states, strict=True), key=lambda pair: int(pair[1].step))
            del states  # stacked below: no second copy
            for _, together in itertools.groupby(by_step, key=lambda pair: int(pair[1].step)):
                group, group_states = zip(*together, strict=True)
                done, failed = _train_group(list(group), list(group_states), replicas, stop, resume_dir)
                summaries += done
                failures += failed
            for run in runs:
                run.checkpointer.wait()  # a last save that failed: an exit status the followers get too
        except BaseException as err:
            distributed.end(exit_status(err))  # before closing: the followers close theirs too
            for run in runs:
                if run.checkpointer is not None:
                    with contextlib.suppress(StorageError):  # the error already raised says more
                        run.checkpointer.close()
            raise
        distributed.end(0)
        for run in runs:
            run.checkpointer.close()  # waits for an async save in flight
    if failures:
        described = "; ".join(f"seed {run.cfg.seed} ({run.run_dir}): {err}" for run, err in failures)
        others = ", the others finished" if len(failures) < len(runs) else ""
        raise TrainingError(f"{len(failures)} of {len(runs)} seeds stopped{others}: {described}")
    return summaries


def exit_status(err: BaseException) -> int:
    """The status the process exits with for `err`."""
    if isinstance(err, SystemExit):
        return err.code if isinstance(err.code, int) else int(err.code is not None)
    return err.exit_status if isinstance(err, GancliError) else 1


def _train_group(runs: list[Run], states: list[TrainState], replicas: bool, stop: StopRequest,
                 resume_dir: Path) -> tuple[list[dict[str, Any]], list[tuple[Run, TrainingError]]]:
    """Train runs that are at the same step; (summaries of those that finished, failures)."""
    executor = drawing_executor() if replicas else None  # one drawing thread for every seed: pyplot is global
    try:
        try:
            for run, state in zip(runs, states, strict=True):
                run.start(state, executor)
            state = stack_states(states) if replicas else states[0]
            del states
            outcome = _train_loop(runs, state, replicas, stop, resume_dir)
        except BaseException:
            for run in runs:
                run.stop_writers(raise_errors=False)
            raise
        errors = []
        for run in runs:  # every run's writers closed, the first error raised after
            try:
                run.stop_writers()
            except OSError as err:
                errors.append(err)
        if errors:
            raise errors[0]
        return outcome
    except OSError as err:  # metrics, pictures, TensorBoard, summary: every write is whole or absent
        where = err.filename or "a file of the run"
        raise StorageError(f"could not read or write {where} ({err.strerror or err}); the checkpoints and metrics "
                           f"saved before are intact: free space or fix the directory, then resume with: "
                           f"gancli resume {resume_dir}") from err
    finally:
        if executor is not None:
            executor.shutdown(wait=True)


@jax.jit
def _replica(state: TrainState, index: Array) -> TrainState:
    """One seed's state out of the stacked states of seeds trained together."""
    return jax.tree.map(lambda leaf: leaf[index], state)


def _train_loop(runs: list[Run], state: TrainState, replicas: bool, stop: StopRequest,
                resume_dir: Path) -> tuple[list[dict[str, Any]], list[tuple[Run, TrainingError]]]:
    """Chunk after chunk to train.steps, each run handed its part after each; (summaries of the
    runs that finished, (run, error) of those that stopped on a non-finite loss)."""
    first = runs[0]
    cfg, tc = first.cfg, first.cfg.train
    step = first.step
    log.info("training %s on %s from step %d to %d in %s", cfg.divergence.name, cfg.data.name, step, tc.steps,
             resume_dir if replicas else first.run_dir)
    start_step = step
    chunk = make_train_chunk(first.problem, tc.chunk, replicas)
    training, failures = list(runs), []
    train_seconds, timed_steps = 0.0, 0
    seeds = f"{len(runs)} seeds from {cfg.seed}" if replicas else f"seed {cfg.seed}"
    bar = tqdm(total=tc.steps, initial=step, unit="step", disable=not tc.progress, dynamic_ncols=True,
               desc=f"{cfg.divergence.name}/{cfg.data.name} {seeds}")

    def state_of(index: int) -> Callable[[], TrainState]:
        """The state of runs[index], taken out of the stack at most once, if needed at all."""
        return functools.cache(functools.partial(_replica, state, np.int32(index))) if replicas else lambda: state

    while step < tc.steps and training:
        boundary = min(tc.steps, _next_multiple(step, tc.eval_every), _next_multiple(step, tc.ckpt_every))
        started = time.perf_counter()
        if first.several:
            distributed.tell(distributed.CHUNK, value=boundary)
        state, metrics = chunk(state, np.int32(boundary))
        metrics = jax.device_get(metrics)  # host-device sync: once per chunk
        for run in training:
            run.checkpointer.check()  # an async save that failed stops the run now, not at the next save
            run.drawing.check()
        end = min(step + tc.chunk, boundary)
        if step > start_step:  # the first chunk includes compilation
            train_seconds += time.perf_counter() - started
            timed_steps += end - step
        rolled_back = None
        for index, run in enumerate(runs):
            if run not in training:
                continue
            own_metrics = {k: v[index] for k, v in metrics.items()} if replicas else metrics
            try:
                rolled_back = run.after_chunk(state_of(index), own_metrics, step, end)
            except TrainingError as err:
                if not replicas:
                    raise
                log.error("seed %d stopped: %s", run.cfg.seed, err)
                failures.append((run, err))
                training.remove(run)
                run.stop_writers()
        if rolled_back is not None:  # one run alone: seeds trained together do not roll back
            state, step = rolled_back
            bar.n = step
            continue
        step = end
        bar.update(step - bar.n)
        if training:
            bar.set_postfix({k: f"{v:.3g}" for k, v in training[0].last.items()}, refresh=False)
        if stop.signum is not None and step < tc.steps:  # a finished run just finishes
            bar.close()
            for index, run in enumerate(runs):
                if run in training:
                    run.checkpoint(state_of(index), step)  # unless its schedule just saved this step
                    run.drawing.wait()
                    run.checkpointer.wait()
            log.warning("saved a checkpoint at step %d; resume with: gancli resume %s", step, resume_dir)
            raise SystemExit(128 + stop.signum)
    bar.close()
    rate = timed_steps / train_seconds if train_seconds else None
    return [run.finish(state_of(runs.index(run)), rate) for run in training], failures


def _next_multiple(step: int, every: int) -> int:
    return (step // every + 1) * every
