"""Train and evaluate a run: what each run does around the chunks gancli.runner.loop runs.

A Trainer resumes its run from the newest intact checkpoint, logs metrics, evaluates and plots,
checkpoints, and stops (or rolls back) on non-finite losses. `train_and_evaluate` trains one
run, or the runs of several seeds side by side (train.num_seeds).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata as pkg_metadata
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gancli.config.schema import flatten
from gancli.config.train import RESUMABLE_KEYS, RunConfig, saved_settings, to_dict
from gancli.errors import GancliError, TrainingError
from gancli.evaluation.sample_metrics import FEATURE_METRICS, SAMPLE_METRICS, headline
from gancli.pictures.drawing_thread import PictureThread
from gancli.pictures.run_pictures import RunPictures
from gancli.run_dir.checkpoints import ROLLED_BACK_SUFFIX, Checkpointer, DamagedCheckpoint, set_aside, state_shapes
from gancli.run_dir.layout import RunDir
from gancli.run_dir.tensorboard import TensorBoardLog
from gancli.runner import distributed
from gancli.runner.loop import train_runs
from gancli.runner.seeds import combined_summary, seed_runs
from gancli.runner.shared import Shared
from gancli.training.keys import evaluation_keys
from gancli.training.state import TrainState, from_tree, restore_target, to_tree

log = logging.getLogger(__name__)

VERSIONED_PACKAGES = ("gancli", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint")


@functools.cache  # reading package metadata takes ~30 ms, at every checkpoint
def _versions() -> dict[str, str]:
    found = {}
    for name in VERSIONED_PACKAGES:
        try:
            found[name] = pkg_metadata.version(name)
        except pkg_metadata.PackageNotFoundError:
            found[name] = "unknown"
    return found


def _check_resumable(saved: dict[str, Any], cfg: RunConfig, abstract: dict[str, Any], run_dir: Path,
                     same_run_only: bool = False) -> None:
    """Refuse a resume that changes any parameter shape; warn about other changed settings, or
    with `same_run_only` (a sweep's job) refuse them too.

    `abstract`: the restore target for this checkpoint (see gancli.training.state.restore_target)."""
    old, new = saved_settings(saved["config"]), flatten(to_dict(cfg))
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


class Trainer:
    """One run in one run directory: its files, evaluations and checkpoints. `train_runs` trains
    it, alone or beside other seeds' runs."""

    def __init__(self, cfg: RunConfig, run_dir: Path, same_run_only: bool = False, shared: Shared | None = None):
        """same_run_only: resume only a run of this very config, resumable settings aside (a
        sweep's job: its directory is named by its number, not by its config)."""
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.files = RunDir(run_dir)
        self.same_run_only = same_run_only
        self.shared = shared = shared or Shared.of(cfg)
        self.problem, self._init, self.abstract_state = shared.problem, shared.init, shared.abstract_state
        summary_metrics = (*self.problem.metric_names, *SAMPLE_METRICS,
                           *(FEATURE_METRICS if self.problem.images else ()))
        if cfg.train.objective not in summary_metrics:
            raise GancliError(f"train.objective={cfg.train.objective} is not a metric of this run; choose one of: "
                              f"{', '.join(summary_metrics)}")
        self.metrics_log = self.files.metrics
        self.rollback_log = self.files.rollbacks
        self.keys = evaluation_keys(cfg.seed)
        self.evaluator = shared.evaluator
        self.pictures = RunPictures(self.files.plots, cfg, self.problem)
        # Set while it trains: by open, then start.
        self.checkpointer: Checkpointer | None = None
        self.tensorboard: TensorBoardLog | None = None
        self.drawing: PictureThread | None = None
        self.step, self.saved = 0, None  # where it is, and its newest checkpoint's step (no listing in the loop)
        self.last: dict[str, float] = {}  # the newest logged training metrics
        self.final: dict[str, Any] | None = None  # the evaluation at train.steps

    @property
    def several(self) -> bool:
        """Whether the run spans several processes, this one the primary (gancli.runner.distributed)."""
        return self.shared.several

    def open(self) -> TrainState:
        """The state to go on from, with this run's checkpointer open; the run's lock is held."""
        state, self.saved = self._restore_or_init()
        state = self.shared.place(state)
        # Made now, though Orbax opens it at the first save: it marks a run that has started.
        self.files.checkpoints.mkdir(parents=True, exist_ok=True)
        self.checkpointer = Checkpointer(self.files.checkpoints, self.cfg.train.keep)
        return state

    def _restore_or_init(self) -> tuple[TrainState, int | None]:
        """(state, its checkpoint step): the newest intact checkpoint in this run dir, else a fresh
        start from the seed. Damaged checkpoints newer than it are set aside as <step>.damaged.

        Metrics and pictures logged after that checkpoint are dropped: the resumed run logs those
        steps again, identically. Read before the writable Checkpointer opens, which cleans up.
        """
        directory = self.files.checkpoints
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
        state = from_tree(restored.state)
        self._truncate_logs(restored.step, rollbacks=int(state.rollbacks))
        return state, restored.step

    def _initial_state(self) -> TrainState:
        # The seed as an argument: the runs of several seeds share one compiled initialiser.
        return jax.jit(self._init)(np.int32(self.cfg.seed))

    def _resume_target(self, metadata: dict[str, Any]) -> dict[str, Any]:
        """The restore target for a checkpoint, once its metadata shows this config may resume it."""
        step = metadata["step"]
        if step > self.cfg.train.steps:
            raise GancliError(f"{self.run_dir} is already at step {step}, past train.steps={self.cfg.train.steps}; "
                              f"pass train.steps={step} or more to continue it")
        target = restore_target(self.abstract_state, metadata["shapes"])
        _check_resumable(metadata, self.cfg, target, self.run_dir, self.same_run_only)
        saved_digest = metadata.get("data_digest")
        if saved_digest and self.shared.data_digest and saved_digest != self.shared.data_digest:
            path = getattr(self.cfg.data, "path", None)  # only data=images has files of the user's
            where = f"data.path={path}" if path else f"data={self.cfg.data.name}"
            raise GancliError(f"cannot resume {self.run_dir}: its images ({where}) changed since it was saved; put "
                              "the original files back, or train into a new run directory")
        return target

    def _truncate_logs(self, step: int, rollbacks: int) -> None:
        self.metrics_log.truncate_after(step)
        self.pictures.truncate_after(step)
        self.rollback_log.keep_first(rollbacks)  # those the state has been through; later ones recur

    def start(self, state: TrainState, executor: ThreadPoolExecutor | None) -> None:
        """Open the run's writers (TensorBoard, the pictures' thread) to train on from `state`."""
        self.files.failure_file.unlink(missing_ok=True)  # an earlier attempt's: this one writes its own
        if int(state.step) < self.cfg.train.steps:  # an extended run has not finished until it does
            self.files.summary_file.unlink(missing_ok=True)
        self.tensorboard = TensorBoardLog(self.files.tensorboard, self.problem.metric_names, resumed_from=self.saved)
        self.drawing = PictureThread(self.pictures, self.tensorboard, executor)  # closed before tensorboard
        self.step = int(state.step)
        self.last = {k: v for r in self.metrics_log.read() for k, v in r.items() if k in self.problem.metric_names}
        if self.saved is not None:
            self._redraw_if_missing(state, self.step)

    def stop_writers(self, raise_errors: bool = True) -> None:
        """Close the pictures' thread, then TensorBoard, those that are open; `raise_errors=False`
        when an error is already on its way (it says more)."""
        drawing, self.drawing = self.drawing, None
        tensorboard, self.tensorboard = self.tensorboard, None
        try:
            if drawing is not None:
                drawing.close(raise_errors)
        finally:
            if tensorboard is not None:
                tensorboard.close()

    def _save(self, state: TrainState, step: int) -> None:
        tree = to_tree(state)  # the checkpoint layout
        self.checkpointer.save(step, tree, {
            "step": step, "config": to_dict(self.cfg), "shapes": state_shapes(tree), "versions": dict(_versions()),
            **({"data_digest": self.shared.data_digest} if self.shared.data_digest else {}),
        })

    def _evaluate(self, state: TrainState, step: int,
                  records: list[dict[str, Any]] | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Evaluate at `step` and start drawing its pictures; returns (records, the evaluation).

        `records` (this chunk's) get the evaluation merged in and are logged first, so the
        curves include it; None logs nothing (a finished run evaluated again).
        """
        state = self.shared.local(state)
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

    def _redraw_if_missing(self, state: TrainState, step: int) -> None:
        """Pictures are drawn while training goes on, so a run killed just after a checkpoint
        may lack those of the checkpoint's step: draw them again (the same, from the same
        state and keys) before going on. TensorBoard first forgets that step (some of its
        images may have been written) and is given its scalars again."""
        tc = self.cfg.train
        if tc.plots and 0 < step < tc.steps and step % tc.eval_every == 0 and not self.pictures.has_step(step):
            records = self.metrics_log.read()
            self.tensorboard.purge_after(step - 1)
            self.tensorboard.scalars([r for r in records if r["step"] == step])
            state = self.shared.local(state)
            real, _, evaluation = self.evaluator.evaluate(state, step, self.keys)
            self.drawing.submit(step, self.evaluator, state, self.keys, real, evaluation, records, final=False,
                                to_tensorboard=True)

    def after_chunk(self, state_of: Callable[[], TrainState], metrics: dict[str, np.ndarray], step: int,
                     end: int) -> tuple[TrainState, int] | None:
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
        if end % tc.ckpt_every == 0 or end == tc.steps:
            self.checkpoint(state_of, end)
        self.step = end
        return None

    def checkpoint(self, state_of: Callable[[], TrainState], step: int) -> None:
        """Save the state at `step` (the schedule's, the last, or a stop's), unless already saved."""
        if step == self.saved:
            return
        self.drawing.settle_before(step)  # earlier steps' pictures: a resume redraws only this step's
        self.tensorboard.flush()  # what the checkpoint covers is on disk before it: a crash loses no event
        if self.shared.several:
            distributed.tell(distributed.SAVE, step=step)  # every process saves, Orbax writes once
        self._save(state_of(), step)
        self.saved = step

    def finish(self, state_of: Callable[[], TrainState], steps_per_s: float | None) -> dict[str, Any]:
        """Write summary.json once the run has reached train.steps; return the summary."""
        if self.final is None:  # nothing left to train: the run had already reached train.steps
            _, self.final = self._evaluate(state_of(), self.step, None)
        self.drawing.wait()  # a summary.json says the run is complete: its pictures too
        summary = {"step": self.step, **self.last, **self.final, "steps_per_s": steps_per_s}
        self.files.write_summary(summary)
        log.info("step %d: %s; summary in %s", self.step, headline(self.final), self.files.summary_file)
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

    def _after_nonfinite(self, state: TrainState, records: list[dict[str, Any]], step: int, end: int,
                         first_bad: int) -> tuple[TrainState, int]:
        """Roll back (train.on_nonfinite=rollback, retries left): the state and step to go on from.

        Otherwise stop: the records before the blow-up are appended to metrics.jsonl,
        failure.json says why, and a TrainingError names the steps and the intact checkpoint.
        """
        tc, rollbacks = self.cfg.train, int(state.rollbacks)
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
        self.files.write_failure(first_bad, message)
        raise TrainingError(message)

    def _roll_back(self, state: TrainState, first_bad: int) -> tuple[TrainState, int]:
        """Go back to the newest scheduled checkpoint (or the seed's initial state, see
        _rollback_step) with both learning rates multiplied by train.rollback_lr_factor. The same
        steps then draw the same random numbers: only the rates differ, and a resume that meets
        the blow-up again rolls back identically."""
        tc, checkpointer = self.cfg.train, self.checkpointer
        lr_scale = float(state.lr_scale) * tc.rollback_lr_factor
        count = int(state.rollbacks) + 1
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
            restored = from_tree(restored)
        restored = self.shared.place(restored.replace(lr_scale=jnp.asarray(lr_scale, jnp.float32),
                                                      rollbacks=jnp.asarray(count, jnp.int32)))
        log.warning("non-finite loss at step %d: rolled back to step %d with the learning rates x%g "
                    "(rollback %d of %d)", first_bad, to_step, lr_scale, count, tc.max_rollbacks)
        self._truncate_logs(to_step, rollbacks=count - 1)
        self.rollback_log.append([{"step": first_bad, "to_step": to_step, "lr_scale": lr_scale, "rollback": count}])
        self.tensorboard.purge_after(to_step)
        return restored, to_step


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
    a run of its own in run_dir/seed_<seed>, and the summary is their mean (see gancli.runner.seeds).
    on_start(runs): called once every run has read its checkpoints, before training.
    """
    if cfg.train.num_seeds == 1:
        runs = [Trainer(cfg, run_dir, same_run_only)]
    elif RunDir(run_dir).checkpoints.is_dir():
        raise GancliError(f"{run_dir} holds one seed's run: train.num_seeds={cfg.train.num_seeds} trains seeds into "
                          "directories of their own below a new one (drop train.num_seeds to go on with this run)")
    else:
        shared = Shared.of(cfg)  # built once: every seed's run uses the same compiled programs
        runs = [Trainer(seed_cfg, seed_dir, same_run_only, shared) for seed_cfg, seed_dir in seed_runs(cfg, run_dir)]
    summaries = train_runs(runs, run_dir, replicas=len(runs) > 1, on_start=on_start)
    return summaries[0] if len(runs) == 1 else combined_summary(summaries)
