"""Train and evaluate one run: the host loop around the jitted chunk.

Holds the run directory's lock, resumes from its newest intact checkpoint, logs metrics,
evaluates and plots, checkpoints, turns SIGINT/SIGTERM into "save, then exit", stops (or rolls
back) on non-finite losses, and turns a failed write into one clear error.
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
from dataclasses import dataclass, replace
from importlib import metadata as pkg_metadata
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.sharding import Mesh
from tqdm import tqdm

from gancli.checkpoints import ROLLED_BACK_SUFFIX, Checkpointer, DamagedCheckpoint, set_aside, state_shapes
from gancli.config import RESUMABLE_KEYS, RunConfig, to_dict
from gancli.devices import batch_sharding, chosen_devices, mesh_of, replicated
from gancli.errors import GancliError, StorageError, TrainingError
from gancli.evaluation import SAMPLE_METRICS
from gancli.picture_thread import PictureThread, drawing_executor
from gancli.run_evaluation import Evaluator, evaluation_keys
from gancli.run_files import FAILURE_FILE, ROLLBACKS_FILE, MetricsLog, write_failure, write_json
from gancli.run_lock import RunLock
from gancli.run_pictures import RunPictures
from gancli.schema import flatten
from gancli.seed_group import combined_summary, seed_runs
from gancli.tensorboard_log import TensorBoardLog
from gancli.train_step import (
    GanProblem,
    State,
    build,
    complete_state,
    make_train_chunk,
    restore_target,
    stack_states,
)

log = logging.getLogger(__name__)

VERSIONED_PACKAGES = ("gancli", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint")


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


@functools.cache  # reading package metadata takes ~30 ms, at every checkpoint
def _versions() -> dict[str, str]:
    found = {}
    for name in VERSIONED_PACKAGES:
        try:
            found[name] = pkg_metadata.version(name)
        except pkg_metadata.PackageNotFoundError:
            found[name] = "unknown"
    return found


def _check_resumable(saved: dict[str, Any], cfg: RunConfig, abstract: State, run_dir: Path,
                     same_run_only: bool = False) -> None:
    """Refuse a resume that changes any parameter shape; warn about other changed settings, or
    with `same_run_only` (a sweep's job) refuse them too.

    `abstract`: the restore target for this checkpoint (see train_step.restore_target)."""
    old, new = flatten(saved["config"]), flatten(to_dict(cfg))
    changed = [k for k in sorted(set(old) | set(new))
               if old.get(k) != new.get(k) and k not in RESUMABLE_KEYS]
    described = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed)
    shapes = state_shapes(abstract)
    if saved["shapes"] != shapes:
        if not changed:  # no setting explains it (a library renamed parameters): name the arrays
            differing = sorted(k for k in set(shapes) | set(saved["shapes"]) if shapes.get(k) != saved["shapes"].get(k))
            version = saved.get("versions", {}).get("gancli", "?")
            raise GancliError(f"cannot resume {run_dir}: its checkpoint (saved by gancli {version}, with flax "
                              f"{saved.get('versions', {}).get('flax', '?')}) lays out the train state otherwise "
                              f"(arrays {', '.join(differing[:5])}); resume it with those versions")
        raise GancliError(f"cannot resume {run_dir}: the config changes parameter shapes ({described}); "
                          "undo those overrides or train into a new run directory")
    if changed and same_run_only:  # a sweep run again with other values, or in another order
        raise GancliError(f"{run_dir} holds a run of another config ({described}); a sweep run again into its "
                          "directory must give every job the same values, listed in the same order: sweep into a "
                          "new hydra.sweep.dir, or continue this run alone with gancli resume")
    if changed:
        log.warning("resuming with changed settings (%s): the run no longer equals an uninterrupted one", described)


@dataclass(frozen=True)
class Shared:
    """What the runs of one config share whatever their seed: the problem, its initialiser
    (`init(seed)`), the train state's layout and the jitted evaluation."""

    problem: GanProblem
    init: Callable[..., State]
    abstract_state: State
    evaluator: Evaluator
    mesh: Mesh | None = None  # the devices a data parallel run splits its batch over

    @classmethod
    def of(cls, cfg: RunConfig) -> Shared:
        problem, init = build(cfg)
        devices = chosen_devices(cfg.train.devices, cfg.train.batch_size, cfg.model.pack)
        mesh = None
        if len(devices) > 1:
            if cfg.train.num_seeds > 1:
                raise GancliError("train.devices splits one run's batch over devices, and seeds trained together "
                                  "(train.num_seeds) share one device: drop one of the two")
            mesh = mesh_of(devices)
            problem = replace(problem, batch_sharding=batch_sharding(mesh))
        return cls(problem, init, jax.eval_shape(init), Evaluator(problem, cfg.train.eval_samples), mesh)

    def place(self, state: State) -> State:
        """A state on the devices it trains on: whole on each device of a data parallel run."""
        return state if self.mesh is None else jax.device_put(state, replicated(self.mesh))


class Trainer:
    """One run in one run directory: its files, evaluations and checkpoints. `train_runs` trains
    it, alone or beside other seeds' runs."""

    def __init__(self, cfg: RunConfig, run_dir: Path, same_run_only: bool = False, shared: Shared | None = None):
        """same_run_only: resume only a run of this very config, resumable settings aside (a
        sweep's job: its directory is named by its number, not by its config)."""
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.same_run_only = same_run_only
        self.shared = shared = shared or Shared.of(cfg)
        self.problem, self._init, self.abstract_state = shared.problem, shared.init, shared.abstract_state
        summary_metrics = (*self.problem.metric_names, *SAMPLE_METRICS)
        if cfg.train.objective not in summary_metrics:
            raise GancliError(f"train.objective={cfg.train.objective} is not a metric of this run; choose one of: "
                              f"{', '.join(summary_metrics)}")
        self.metrics_log = MetricsLog(self.run_dir / "metrics.jsonl")
        self.rollback_log = MetricsLog(self.run_dir / ROLLBACKS_FILE)
        self.keys = evaluation_keys(cfg.seed)
        self.evaluator = shared.evaluator
        self.pictures = RunPictures(self.run_dir / "plots", cfg, self.problem)
        # Set while it trains: by _open, then _start.
        self.checkpointer: Checkpointer | None = None
        self.tensorboard: TensorBoardLog | None = None
        self.drawing: PictureThread | None = None
        self.step, self.saved = 0, None  # where it is, and its newest checkpoint's step (no listing in the loop)
        self.last: dict[str, float] = {}  # the newest logged training metrics
        self.final: dict[str, Any] | None = None  # the evaluation at train.steps

    def _open(self) -> State:
        """The state to go on from, with this run's checkpointer open; the run's lock is held."""
        state, self.saved = self._restore_or_init()
        state = self.shared.place(state)
        # Made now, though Orbax opens it at the first save: it marks a run that has started.
        (self.run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        self.checkpointer = Checkpointer(self.run_dir / "checkpoints", self.cfg.train.keep)
        return state

    def _restore_or_init(self) -> tuple[State, int | None]:
        """(state, its checkpoint step): the newest intact checkpoint in this run dir, else a fresh
        start from the seed. Damaged checkpoints newer than it are set aside as <step>.damaged.

        Metrics and pictures logged after that checkpoint are dropped: the resumed run logs those
        steps again, identically. Read before the writable Checkpointer opens, which cleans up.
        """
        directory = self.run_dir / "checkpoints"
        restored = None
        if directory.is_dir():
            reader = Checkpointer(directory, read_only=True)
            try:
                restored = reader.newest_intact(self._resume_target)
            finally:
                reader.close()
        if restored is None:
            self._truncate_logs(0, rollbacks=0)
            return self._initial_state(), None
        for step, _ in restored.skipped:
            log.warning("set the damaged checkpoint of step %d aside as %s", step, set_aside(directory, step))
        log.info("resuming %s from step %d", self.run_dir, restored.step)
        state = complete_state(restored.state)
        self._truncate_logs(restored.step, rollbacks=int(state["rollbacks"]))
        return state, restored.step

    def _initial_state(self) -> State:
        # The seed as an argument: the runs of several seeds share one compiled initialiser.
        return jax.jit(self._init)(np.int32(self.cfg.seed))

    def _resume_target(self, metadata: dict[str, Any]) -> State:
        """The restore target for a checkpoint, once its metadata shows this config may resume it."""
        step = metadata["step"]
        if step > self.cfg.train.steps:
            raise GancliError(f"{self.run_dir} is already at step {step}, past train.steps={self.cfg.train.steps}; "
                              f"pass train.steps={step} or more to continue it")
        target = restore_target(self.abstract_state, metadata["shapes"])
        _check_resumable(metadata, self.cfg, target, self.run_dir, self.same_run_only)
        return target

    def _truncate_logs(self, step: int, rollbacks: int) -> None:
        self.metrics_log.truncate_after(step)
        self.pictures.truncate_after(step)
        self.rollback_log.keep_first(rollbacks)  # those the state has been through; later ones recur

    def _start(self, state: State, executor: ThreadPoolExecutor | None) -> None:
        """Open the run's writers (TensorBoard, the pictures' thread) to train on from `state`."""
        (self.run_dir / FAILURE_FILE).unlink(missing_ok=True)  # an earlier attempt's: this one writes its own
        if int(state["step"]) < self.cfg.train.steps:  # an extended run has not finished until it does
            (self.run_dir / "summary.json").unlink(missing_ok=True)
        self.tensorboard = TensorBoardLog(self.run_dir / "tb", self.problem.metric_names, resumed_from=self.saved)
        self.drawing = PictureThread(self.pictures, self.tensorboard, executor)  # closed before tensorboard
        self.step = int(state["step"])
        self.last = {k: v for r in self.metrics_log.read() for k, v in r.items() if k in self.problem.metric_names}
        if self.saved is not None:
            self._redraw_if_missing(state, self.step)

    def _stop_writers(self, raise_errors: bool = True) -> None:
        """Close the pictures' thread, then TensorBoard; `raise_errors=False` when an error is
        already on its way (it says more)."""
        if self.drawing is None:
            return
        drawing, self.drawing = self.drawing, None
        try:
            drawing.close(raise_errors)
        finally:
            self.tensorboard.close()

    def _save(self, state: State, step: int) -> None:
        self.checkpointer.save(step, state, {
            "step": step, "config": to_dict(self.cfg), "shapes": state_shapes(state), "versions": dict(_versions()),
        })

    def _evaluate(self, state: State, step: int,
                  records: list[dict[str, Any]] | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Evaluate at `step` and start drawing its pictures; returns (records, the evaluation).

        `records` (this chunk's) get the evaluation merged in and are logged first, so the
        curves include it; None logs nothing (a finished run evaluated again).
        """
        real, _, evaluation = self.evaluator.evaluate(state, step, self.keys)
        if records is not None:
            records = _merge(records, step, evaluation)
            self.metrics_log.append(records)
        if self.cfg.train.plots:
            # A finished run evaluated again sends its figures to TensorBoard only if a kill kept them from it.
            to_tensorboard = records is not None or not self.pictures.has_step(step)
            self.drawing.submit(step, self.evaluator, state, self.keys, real, evaluation, self.metrics_log.read(),
                                final=step == self.cfg.train.steps, to_tensorboard=to_tensorboard)
        return records or [], evaluation

    def _redraw_if_missing(self, state: State, step: int) -> None:
        """Pictures are drawn while training goes on, so a run killed just after a checkpoint
        may lack those of the checkpoint's step: draw them again (the same, from the same
        state and keys) before going on. TensorBoard first forgets that step (some of its
        images may have been written) and is given its scalars again."""
        tc = self.cfg.train
        if tc.plots and 0 < step < tc.steps and step % tc.eval_every == 0 and not self.pictures.has_step(step):
            records = self.metrics_log.read()
            self.tensorboard.purge_after(step - 1)
            self.tensorboard.scalars([r for r in records if r["step"] == step])
            real, _, evaluation = self.evaluator.evaluate(state, step, self.keys)
            self.drawing.submit(step, self.evaluator, state, self.keys, real, evaluation, records, final=False,
                                to_tensorboard=True)

    def _after_chunk(self, state_of: Callable[[], State], metrics: dict[str, np.ndarray], step: int, end: int,
                     stopping: bool) -> tuple[State, int] | None:
        """Log, evaluate and checkpoint what a chunk from `step` to `end` did. `state_of()` gives
        the state at `end` (taken only when needed). Returns None, or after a non-finite loss that
        was rolled back, (the state, the step) to go on from."""
        tc = self.cfg.train
        records, first_bad = self._records(metrics, step, end)
        if first_bad is not None:
            rolled_back = self._after_nonfinite(state_of(), records, step, end, first_bad)
            self.step, self.saved = rolled_back[1], rolled_back[1] or None  # newer checkpoints were set aside
            return rolled_back
        if records:
            self.last = {k: records[-1][k] for k in self.problem.metric_names}
        if end == tc.steps or end % tc.eval_every == 0:
            records, evaluation = self._evaluate(state_of(), end, records)
            if end == tc.steps:
                self.final = evaluation
        else:
            self.metrics_log.append(records)
        self.tensorboard.scalars(records)
        if (end % tc.ckpt_every == 0 or end == tc.steps or stopping) and end != self.saved:
            self.drawing.settle_before(end)  # earlier steps' pictures: a resume redraws only this step's
            self.tensorboard.flush()  # what the checkpoint covers is on disk before it: a crash loses no event
            self._save(state_of(), end)
            self.saved = end
        self.step = end
        return None

    def _finish(self, state_of: Callable[[], State], steps_per_s: float | None) -> dict[str, Any]:
        """Write summary.json once the run has reached train.steps; return the summary."""
        if self.final is None:  # nothing left to train: the run had already reached train.steps
            _, self.final = self._evaluate(state_of(), self.step, None)
        self.drawing.wait()  # a summary.json says the run is complete: its pictures too
        summary = {"step": self.step, **self.last, **self.final, "steps_per_s": steps_per_s}
        write_json(self.run_dir / "summary.json", summary)
        log.info("step %d: %d/%d modes captured, %.1f%% high quality; summary in %s", self.step,
                 self.final["modes_captured"], self.final["modes_total"], 100 * self.final["high_quality_fraction"],
                 self.run_dir / "summary.json")
        return summary

    def _records(self, metrics: dict[str, np.ndarray], step: int,
                 end: int) -> tuple[list[dict[str, Any]], int | None]:
        """(the logged steps among `step + 1 .. end` before any non-finite loss, as JSON-ready
        records; the first step whose loss is not finite, or None)."""
        tc = self.cfg.train
        active = slice(0, end - step)
        values = {k: metrics[k][active] for k in self.problem.metric_names}
        finite = np.logical_and.reduce([np.isfinite(v) for v in values.values()])
        first_bad = step + 1 + int(np.argmin(finite)) if not finite.all() else None
        records = []
        for i, s in enumerate(metrics["step"][active].tolist()):
            if first_bad is not None and s >= first_bad:
                break
            if s % tc.log_every == 0 or s == tc.steps:
                records.append({"step": s, **{k: float(values[k][i]) for k in self.problem.metric_names}})
        return records, first_bad

    def _after_nonfinite(self, state: State, records: list[dict[str, Any]], step: int, end: int,
                         first_bad: int) -> tuple[State, int]:
        """Roll back (train.on_nonfinite=rollback, retries left): the state and step to go on from.

        Otherwise stop: the records before the blow-up are appended to metrics.jsonl,
        failure.json says why, and a TrainingError names the steps and the intact checkpoint.
        """
        tc, rollbacks = self.cfg.train, int(state["rollbacks"])
        if tc.on_nonfinite == "rollback" and rollbacks < tc.max_rollbacks:
            self.drawing.wait()  # pictures of steps a rollback drops must not be drawn after it removed them
            return self._roll_back(state, first_bad)
        self.metrics_log.append(records)  # the finite lead-up to the blow-up is worth keeping
        self.checkpointer.wait()  # the message below says the checkpoint is intact: a failed save says otherwise
        saved = self.saved
        kept = f"the checkpoint at step {saved} is intact" if saved is not None else "no checkpoint was saved"
        after = f" after {rollbacks} rollback(s) with lower learning rates" if rollbacks else ""
        message = (f"non-finite loss in steps {step + 1}-{end} (first at step {first_bad}) with divergence "
                   f"{self.cfg.divergence.name} ({self.cfg.divergence.generator_loss} generator loss){after}; "
                   f"{kept}; lower optim.d.lr and optim.g.lr, choose another divergence, or pass "
                   "train.on_nonfinite=rollback")
        write_failure(self.run_dir / FAILURE_FILE, first_bad, message)
        raise TrainingError(message)

    def _roll_back(self, state: State, first_bad: int) -> tuple[State, int]:
        """Go back to the newest scheduled checkpoint (or the seed's initial state, see
        _rollback_step) with both learning rates multiplied by train.rollback_lr_factor. The same
        steps then draw the same random numbers: only the rates differ, and a resume that meets
        the blow-up again rolls back identically."""
        tc, checkpointer = self.cfg.train, self.checkpointer
        lr_scale = float(state["lr_scale"]) * tc.rollback_lr_factor
        count = int(state["rollbacks"]) + 1
        checkpointer.wait()
        steps = checkpointer.all_steps()
        to_step = _rollback_step(steps, first_bad, tc.ckpt_every)
        newer = [s for s in steps if s > to_step]  # a Ctrl-C's, of the abandoned path
        for step in newer:
            set_aside(checkpointer.directory, step, ROLLED_BACK_SUFFIX)
        if newer:
            checkpointer.reload()
        if to_step == 0:
            restored = self._initial_state()
        else:
            try:
                _, restored = checkpointer.read_verified(
                    to_step, lambda metadata: restore_target(self.abstract_state, metadata["shapes"]))
            except DamagedCheckpoint as damage:
                raise TrainingError(f"non-finite loss at step {first_bad}, and the checkpoint at step {to_step} to "
                                    f"roll back to is damaged: {damage}") from damage
            restored = complete_state(restored)
        restored = self.shared.place({**restored, "lr_scale": jnp.asarray(lr_scale, jnp.float32),
                                      "rollbacks": jnp.asarray(count, jnp.int32)})
        log.warning("non-finite loss at step %d: rolled back to step %d with the learning rates x%g "
                    "(rollback %d of %d)", first_bad, to_step, lr_scale, count, tc.max_rollbacks)
        self._truncate_logs(to_step, rollbacks=count - 1)
        self.rollback_log.append([{"step": first_bad, "to_step": to_step, "lr_scale": lr_scale, "rollback": count}])
        self.tensorboard.purge_after(to_step)
        return restored, to_step


def train_runs(runs: list[Trainer], resume_dir: Path, replicas: bool,
               on_start: Callable[[list[Trainer]], None] | None = None) -> list[dict[str, Any]]:
    """Train runs of one config to train.steps and return their summaries: one run alone, or
    with `replicas` the runs of several seeds side by side, their states stacked in one program.

    Seeds trained together resume together from the same step; those whose newest checkpoints
    differ (a kill between their saves) train in groups, one step after another. A seed whose
    loss turns non-finite stops alone (it leaves failure.json), the others go on, and a
    TrainingError then names it. `resume_dir`: what `gancli resume` is told to continue.
    """
    failures: list[tuple[Trainer, TrainingError]] = []
    summaries: list[dict[str, Any]] = []
    with contextlib.ExitStack() as held:
        # The locks first: a second writer must not even clean up the first one's temporary files.
        locks = [held.enter_context(RunLock(run.run_dir)) for run in runs]
        stop = held.enter_context(StopRequest())  # held until the last save is on disk
        states = [run._open() for run in runs]
        for lock in locks:
            lock.sign()
        if on_start is not None:
            on_start(runs)
        try:
            by_step = sorted(zip(runs, states, strict=True), key=lambda pair: int(pair[1]["step"]))
            for _, together in itertools.groupby(by_step, key=lambda pair: int(pair[1]["step"])):
                group, group_states = zip(*together, strict=True)
                done, failed = _train_group(list(group), list(group_states), replicas, stop, resume_dir)
                summaries += done
                failures += failed
        except BaseException:
            for run in runs:
                with contextlib.suppress(StorageError):  # the error already raised says more
                    run.checkpointer.close()
            raise
        for run in runs:
            run.checkpointer.close()  # waits for an async save in flight
    if failures:
        described = "; ".join(f"seed {run.cfg.seed} ({run.run_dir}): {err}" for run, err in failures)
        raise TrainingError(f"{len(failures)} of {len(runs)} seeds stopped, the others finished: {described}")
    return summaries


def _train_group(runs: list[Trainer], states: list[State], replicas: bool, stop: StopRequest,
                 resume_dir: Path) -> tuple[list[dict[str, Any]], list[tuple[Trainer, TrainingError]]]:
    """Train runs that are at the same step; (summaries of those that finished, failures)."""
    executor = drawing_executor() if replicas else None  # one drawing thread for every seed: pyplot is global
    started: list[Trainer] = []
    try:
        try:
            for run, state in zip(runs, states, strict=True):
                run._start(state, executor)
                started.append(run)
            state = stack_states(states) if replicas else states[0]
            outcome = _train_loop(runs, state, replicas, stop, resume_dir)
        except BaseException:
            for run in started:
                run._stop_writers(raise_errors=False)
            raise
        for run in started:
            run._stop_writers()
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
def _replica(state: State, index: Array) -> State:
    """One seed's state out of the stacked states of seeds trained together."""
    return jax.tree.map(lambda leaf: leaf[index], state)


def _train_loop(runs: list[Trainer], state: State, replicas: bool, stop: StopRequest,
                resume_dir: Path) -> tuple[list[dict[str, Any]], list[tuple[Trainer, TrainingError]]]:
    first = runs[0]
    cfg, tc = first.cfg, first.cfg.train
    step = first.step
    log.info("training %s on %s from step %d to %d in %s", cfg.divergence.name, cfg.data.name, step, tc.steps,
             resume_dir if replicas else first.run_dir)
    start_step = step
    chunk = make_train_chunk(first.problem, tc.chunk, replicas)
    training, failures = list(runs), []
    train_seconds, timed_steps = 0.0, 0
    seeds = f"seeds {runs[0].cfg.seed}-{runs[-1].cfg.seed}" if replicas else f"seed {cfg.seed}"
    bar = tqdm(total=tc.steps, initial=step, unit="step", disable=not tc.progress, dynamic_ncols=True,
               desc=f"{cfg.divergence.name}/{cfg.data.name} {seeds}")

    def state_of(index: int) -> Callable[[], State]:
        """The state of runs[index], taken out of the stack at most once, if needed at all."""
        return functools.cache(functools.partial(_replica, state, np.int32(index))) if replicas else lambda: state

    while step < tc.steps and training:
        boundary = min(tc.steps, _next_multiple(step, tc.eval_every), _next_multiple(step, tc.ckpt_every))
        started = time.perf_counter()
        state, metrics = chunk(state, np.int32(boundary))
        metrics = jax.device_get(metrics)  # host-device sync: once per chunk
        for run in training:
            run.checkpointer.check()  # an async save that failed stops the run now, not at the next save
            run.drawing.check()
        end = min(step + tc.chunk, boundary)
        if step > start_step:  # the first chunk includes compilation
            train_seconds += time.perf_counter() - started
            timed_steps += end - step
        stopping = stop.signum is not None and end < tc.steps  # a finished run just finishes
        rolled_back = None
        for index, run in enumerate(runs):
            if run not in training:
                continue
            own_metrics = {k: v[index] for k, v in metrics.items()} if replicas else metrics
            try:
                rolled_back = run._after_chunk(state_of(index), own_metrics, step, end, stopping)
            except TrainingError as err:
                if not replicas:
                    raise
                log.error("seed %d stopped: %s", run.cfg.seed, err)
                failures.append((run, err))
                training.remove(run)
                run._stop_writers()
        if rolled_back is not None:  # one run alone: seeds trained together do not roll back
            state, step = rolled_back
            bar.n = step
            continue
        step = end
        bar.update(step - bar.n)
        if training:
            bar.set_postfix({k: f"{v:.3g}" for k, v in training[0].last.items()}, refresh=False)
        if stopping:
            bar.close()
            for run in training:
                run.drawing.wait()
                run.checkpointer.wait()
            log.warning("saved a checkpoint at step %d; resume with: gancli resume %s", step, resume_dir)
            raise SystemExit(128 + stop.signum)
    bar.close()
    rate = timed_steps / train_seconds if train_seconds else None
    return [run._finish(state_of(runs.index(run)), rate) for run in training], failures


def _rollback_step(steps: list[int], first_bad: int, ckpt_every: int) -> int:
    """Where a rollback goes: the newest checkpoint of the ckpt_every schedule before the blow-up,
    not one a Ctrl-C or a shorter earlier run added, so that an uninterrupted run goes back to
    the same step; failing that the newest checkpoint, and failing that the start (0)."""
    earlier = [s for s in steps if s < first_bad]
    scheduled = [s for s in earlier if s % ckpt_every == 0]
    if scheduled:
        return scheduled[-1]
    if earlier:
        log.warning("no checkpoint of the train.ckpt_every=%d schedule is kept: rolling back to step %d",
                    ckpt_every, earlier[-1])
        return earlier[-1]
    return 0


def _next_multiple(step: int, every: int) -> int:
    return (step // every + 1) * every


def _merge(records: list[dict[str, Any]], step: int, extra: dict[str, Any]) -> list[dict[str, Any]]:
    """Add `extra` to the record of `step`, creating it if that step was not logged."""
    for record in records:
        if record["step"] == step:
            record.update(extra)
            return records
    return [*records, {"step": step, **extra}]


def train_and_evaluate(cfg: RunConfig, run_dir: Path, same_run_only: bool = False,
                       on_start: Callable[[list[Trainer]], None] | None = None) -> dict[str, Any]:
    """Train `cfg` in `run_dir` (resuming from its checkpoints if any); return the summary.

    With train.num_seeds=S, the S seeds from cfg.seed on train side by side in one program, each
    a run of its own in run_dir/seed_<seed>, and the summary is their mean (see seed_group).
    on_start(runs): called once every run has read its checkpoints, before training.
    """
    if cfg.train.num_seeds == 1:
        runs = [Trainer(cfg, run_dir, same_run_only)]
    else:
        shared = Shared.of(cfg)  # built once: every seed's run uses the same compiled programs
        runs = [Trainer(seed_cfg, seed_dir, same_run_only, shared) for seed_cfg, seed_dir in seed_runs(cfg, run_dir)]
    summaries = train_runs(runs, run_dir, replicas=len(runs) > 1, on_start=on_start)
    return summaries[0] if len(runs) == 1 else combined_summary(summaries)
