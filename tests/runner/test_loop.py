"""The host loop: chunk after chunk to each evaluation and checkpoint boundary, each run handed
what its chunk did; a stop request saves, then exits; a rollback goes back; seeds at different
steps train in groups; a seed that fails stops alone; a failed write is one clear error."""

from __future__ import annotations

import errno
import json
import signal
import threading
from pathlib import Path

import numpy as np
import pytest

import gancli.runner.loop
from gancli.errors import GancliError, StorageError, TrainingError
from gancli.run_dir.layout import RunDir
from gancli.run_dir.lock import RunLock
from gancli.runner.loop import StopRequest, exit_status, train_runs
from gancli.runner.trainer import train_and_evaluate
from gancli.training.state import TrainState
from tests.helpers import SMOKE, compose_config, records


def at_step(step):
    """A state with nothing in it but its step: all the loop reads of one."""
    return TrainState(g={}, g_opt=(), step=np.int32(step), key=np.zeros(2, np.uint32), lr_scale=np.float32(1.0),
                      rollbacks=np.int32(0))


def fake_chunk(problem, length, replicas=False):
    """make_train_chunk's contract with no JAX: steps up to `stop` counted, the rest 0."""

    def chunk(state, stop):
        steps = np.asarray(state.step)
        first = int(steps.reshape(-1)[0])
        row = np.array([s if s <= stop else 0 for s in range(first + 1, first + length + 1)])
        metrics = {"step": row, "g_loss": row * 0.5}
        if replicas:
            metrics = {k: np.stack([v] * len(steps)) for k, v in metrics.items()}
        return state.replace(step=np.full_like(steps, max(first, min(first + length, int(stop))))), metrics

    return chunk


class Recorder:
    """A checkpointer or a drawing thread: what the loop asked of it."""

    def __init__(self, calls):
        self.calls = calls

    def __getattr__(self, name):
        return lambda *args: self.calls.append(name)


class FakeRun:
    """A run (gancli.runner.loop.Run) that logs the hooks the loop calls, in order."""

    several = False

    def __init__(self, cfg, run_dir, start_step=0, after_chunk=None, log=None):
        self.cfg, self.run_dir, self.problem = cfg, Path(run_dir), None
        self.step, self.last, self.checkpointer, self.drawing = 0, {}, None, None
        self.start_step, self.hook = start_step, after_chunk
        self.log = [] if log is None else log

    def open(self):
        self.log.append("open")
        self.checkpointer = Recorder(self.log)
        return at_step(self.start_step)

    def start(self, state, executor):
        self.log.append(("start", int(state.step)))
        self.step, self.drawing = int(state.step), Recorder([])

    def after_chunk(self, state_of, metrics, step, end):
        self.log.append(("chunk", step, end, np.asarray(metrics["step"]).tolist(), int(state_of().step)))
        return self.hook(step, end) if self.hook else None

    def checkpoint(self, state_of, step):
        self.log.append(("checkpoint", step))

    def finish(self, state_of, steps_per_s):
        self.log.append(("finish", int(state_of().step)))
        return {"seed": self.cfg.seed, "step": int(state_of().step)}

    def stop_writers(self, raise_errors=True):
        self.log.append(("stop_writers", raise_errors))


@pytest.fixture
def loop(monkeypatch):
    monkeypatch.setattr(gancli.runner.loop, "make_train_chunk", fake_chunk)


def config(*overrides):
    return compose_config(*SMOKE, "train.steps=8", "train.chunk=4", "train.eval_every=4", "train.ckpt_every=4",
                          *overrides)


def chunks(log):
    return [entry[1:3] for entry in log if entry[0] == "chunk"]


def test_chunks_end_at_each_evaluation_and_checkpoint_and_the_run_sees_each(loop, tmp_path):
    """steps=10, chunk=4, eval_every=6, ckpt_every=5: chunks end at 4, then at the boundaries 5
    and 6, then at 10; a chunk cut short by a boundary skips the rest of its steps."""
    run = FakeRun(config("train.steps=10", "train.eval_every=6", "train.ckpt_every=5"), tmp_path)
    started = []
    summaries = train_runs([run], tmp_path, replicas=False, on_start=lambda runs: started.append(list(run.log)))
    assert summaries == [{"seed": 0, "step": 10}]
    # After each chunk the checkpointer is checked (an async save that failed stops the run then).
    assert run.log == ["open", ("start", 0),
                       "check", ("chunk", 0, 4, [1, 2, 3, 4], 4), "check", ("chunk", 4, 5, [5, 0, 0, 0], 5),
                       "check", ("chunk", 5, 6, [6, 0, 0, 0], 6), "check", ("chunk", 6, 10, [7, 8, 9, 10], 10),
                       ("finish", 10), ("stop_writers", True), "wait", "close"]
    assert started == [["open"]]  # on_start: every run's checkpoints read, before any writer starts
    with RunLock(tmp_path):  # released: another writer may train into it now
        assert int(RunDir(tmp_path).lock_file.read_text()) > 0  # signed with the trainer's pid


def test_a_stop_request_saves_the_step_reached_then_exits_with_128_plus_the_signal(loop, tmp_path):
    def interrupt(step, end):
        signal.raise_signal(signal.SIGINT)  # as Ctrl-C while the first chunk trained

    run = FakeRun(config(), tmp_path, after_chunk=interrupt)
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(SystemExit) as stopped:
        train_runs([run], tmp_path, replicas=False)
    assert stopped.value.code == 128 + signal.SIGINT
    assert chunks(run.log) == [(0, 4)]  # no chunk after the request
    assert ("checkpoint", 4) in run.log and run.log[-1] == "close"
    assert signal.getsignal(signal.SIGINT) is before  # the handlers are given back


def test_a_stop_request_keeps_the_first_signal_and_gives_the_handlers_back():
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with StopRequest() as stop:
        assert signal.getsignal(signal.SIGTERM) == stop._handle  # checked first: SIGTERM would end pytest
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGTERM)  # a second signal while saving: ignored, the save goes on
    assert stop.signum == signal.SIGINT
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_a_stop_request_outside_the_main_thread_installs_nothing():
    before, entered = signal.getsignal(signal.SIGINT), []

    def enter():
        with StopRequest() as stop:
            entered.append((stop.signum, signal.getsignal(signal.SIGINT)))

    thread = threading.Thread(target=enter)
    thread.start()
    thread.join()
    assert entered == [(None, before)]


def test_a_rollback_goes_on_from_the_step_the_run_went_back_to(loop, tmp_path):
    rolled = []

    def roll_back_once(step, end):
        if end == 8 and not rolled:
            rolled.append(True)
            return at_step(4), 4
        return None

    run = FakeRun(config(), tmp_path, after_chunk=roll_back_once)
    assert train_runs([run], tmp_path, replicas=False) == [{"seed": 0, "step": 8}]
    assert chunks(run.log) == [(0, 4), (4, 8), (4, 8)]


def test_seeds_at_different_steps_train_in_groups_from_their_own_steps(loop, tmp_path):
    log = []
    behind = FakeRun(config("seed=0"), tmp_path / "seed_0", start_step=0, log=log)
    ahead = FakeRun(config("seed=1"), tmp_path / "seed_1", start_step=4, log=log)
    summaries = train_runs([ahead, behind], tmp_path, replicas=True)
    # The run behind trains first, alone, until both are at step 8; each summary follows its group's.
    assert [s["seed"] for s in summaries] == [0, 1] and all(s["step"] == 8 for s in summaries)
    assert [e for e in log if e[0] in ("start", "chunk", "finish")] == [
        ("start", 0), ("chunk", 0, 4, [1, 2, 3, 4], 4), ("chunk", 4, 8, [5, 6, 7, 8], 8), ("finish", 8),
        ("start", 4), ("chunk", 4, 8, [5, 6, 7, 8], 8), ("finish", 8)]


def test_when_every_seed_fails_the_error_names_each_and_no_other_finished(loop, tmp_path):
    def fail(step, end):
        raise TrainingError("non-finite loss")

    runs = [FakeRun(config(f"seed={s}"), tmp_path / f"seed_{s}", after_chunk=fail) for s in (0, 1)]
    with pytest.raises(TrainingError, match=r"^2 of 2 seeds stopped: seed 0 \(.*seed_0\): non-finite loss; seed 1 "
                                            r"\(.*seed_1\): non-finite loss$"):
        train_runs(runs, tmp_path, replicas=True)
    for run in runs:
        assert chunks(run.log) == [(0, 4)] and ("stop_writers", True) in run.log and run.log[-1] == "close"


def test_a_run_alone_that_fails_raises_its_own_error_and_closes_its_writers(loop, tmp_path):
    def fail(step, end):
        raise TrainingError("non-finite loss in steps 1-4")

    run = FakeRun(config(), tmp_path, after_chunk=fail)
    with pytest.raises(TrainingError, match="^non-finite loss in steps 1-4$"):
        train_runs([run], tmp_path, replicas=False)
    assert ("stop_writers", False) in run.log and run.log[-1] == "close"  # the error on its way says more


def test_a_write_that_fails_is_one_storage_error_saying_how_to_resume(loop, tmp_path):
    def disk_full(step, end):
        raise OSError(errno.ENOSPC, "No space left on device", "metrics.jsonl")

    run = FakeRun(config(), tmp_path, after_chunk=disk_full)
    with pytest.raises(StorageError) as failed:
        train_runs([run], tmp_path / "group", replicas=False)
    message = str(failed.value)
    assert message.startswith("could not read or write metrics.jsonl (No space left on device)")
    assert message.endswith(f"then resume with: gancli resume {tmp_path / 'group'}") and "\n" not in message
    assert failed.value.exit_status == 1


@pytest.mark.parametrize(("err", "status"), [
    (SystemExit(130), 130), (SystemExit(None), 0), (SystemExit("bye"), 1),
    (GancliError("bad input"), 2), (TrainingError("nan"), 1), (StorageError("full"), 1),
    (ValueError("bug"), 1), (KeyboardInterrupt(), 1),
])
def test_the_exit_status_of_each_way_a_run_ends(err, status):
    assert exit_status(err) == status


@pytest.mark.slow  # trains three seeds until one blows up
def test_a_seed_whose_loss_turns_non_finite_stops_alone(smoke_config, tmp_path, monkeypatch):
    """Seed 1's losses made NaN from step 21 on: it stops with failure.json and the error names
    it, while seeds 0 and 2 finish."""
    import gancli.runner.loop

    real_chunk = gancli.runner.loop.make_train_chunk

    def poisoned(problem, length, replicas=False):
        chunk = real_chunk(problem, length, replicas)

        def run(state, stop):
            state, metrics = chunk(state, stop)
            metrics = dict(metrics)
            bad = np.asarray(metrics["step"][1]) > 20
            metrics["g_loss"] = metrics["g_loss"].at[1].set(np.where(bad, np.nan, metrics["g_loss"][1]))
            return state, metrics

        return run

    monkeypatch.setattr(gancli.runner.loop, "make_train_chunk", poisoned)
    with pytest.raises(TrainingError, match=r"1 of 3 seeds stopped, the others finished: seed 1 \(.*seed_1\): "
                                            r"non-finite loss in steps 21-30 \(first at step 21\)"):
        train_and_evaluate(smoke_config("train.num_seeds=3"), tmp_path)
    assert RunDir(tmp_path / "seed_1").failure_file.exists() and not (tmp_path / "seed_1" / "summary.json").exists()
    assert [r["step"] for r in records(tmp_path / "seed_1")] == [10, 20]
    for seed in ("seed_0", "seed_2"):
        assert json.loads((tmp_path / seed / "summary.json").read_text())["step"] == 40
        assert not RunDir(tmp_path / seed).failure_file.exists()
