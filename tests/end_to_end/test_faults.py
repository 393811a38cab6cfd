"""Faults: damaged checkpoints, failed writes, a second writer, and non-finite losses rolled back.

Each test asserts the guarantee a user relies on: what was saved before the fault is intact,
and a run that goes on afterwards is the run it would have been.
"""

from __future__ import annotations

import errno
import json
import logging
import shutil
import subprocess
import sys
import time

import jax
import pytest

from gancli.errors import GancliError, StorageError, TrainingError
from gancli.run_dir.checkpoints import DAMAGED_SUFFIX, Checkpointer, state_shapes
from gancli.run_dir.files import MetricsLog
from gancli.run_dir.layout import RunDir
from gancli.run_dir.lock import RunLock
from gancli.run_dir.reader import load_run
from gancli.runner.trainer import train_and_evaluate
from gancli.training.problem import build
from gancli.training.state import to_tree
from tests.helpers import GANCLI, SMOKE, assert_one_line_error, assert_states_equal, compose_config, gancli, saved_state


def smoke(*overrides):
    return compose_config(*SMOKE, *overrides)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A smoke run of 40 steps (checkpoints at 20 and 40), to copy and damage."""
    path = tmp_path_factory.mktemp("finished")
    train_and_evaluate(smoke(), path)
    return path


@pytest.fixture(scope="module")
def straight_60(tmp_path_factory):
    """The state after 60 steps of an uninterrupted run: what every resume must reproduce."""
    path = tmp_path_factory.mktemp("straight")
    train_and_evaluate(smoke("train.steps=60"), path)
    return saved_state(smoke("train.steps=60"), path, 60)


def _data_files(step_dir):
    return sorted(p for p in (step_dir / "state").rglob("*") if p.is_file() and p.parent.name == "d")


def _flip_bytes(step_dir):
    """Bytes of the largest array file inverted: unreadable, or read back as other numbers."""
    path = max(_data_files(step_dir), key=lambda p: p.stat().st_size)
    data = bytearray(path.read_bytes())
    data[100:200] = bytes(b ^ 0xFF for b in data[100:200])
    path.write_bytes(bytes(data))


def _swap_arrays(step_dir):
    """Silent corruption: valid arrays, but not those saved (another step's). Orbax restores them
    as if nothing were wrong; only the checksum saved with the checkpoint tells."""
    shutil.rmtree(step_dir / "state")
    shutil.copytree(step_dir.parent / "20" / "state", step_dir / "state")


def _edit_seed(step_dir):
    """Valid JSON, wrong contents: the run's config would be read back with another seed."""
    path = step_dir / "metadata" / "metadata"
    metadata = json.loads(path.read_text())
    metadata["config"]["seed"] += 1
    path.write_text(json.dumps(metadata))


DAMAGES = {
    "bytes flipped in the array files": _flip_bytes,
    "arrays of another step": _swap_arrays,
    "array files deleted": lambda d: [p.unlink() for p in _data_files(d)],
    "metadata not JSON": lambda d: (d / "metadata" / "metadata").write_text("{cut sh"),
    "metadata edited (another seed)": _edit_seed,
    "metadata missing": lambda d: shutil.rmtree(d / "metadata"),
    "array index missing": lambda d: (d / "state" / "manifest.ocdbt").unlink(),
    "step directory emptied": lambda d: (shutil.rmtree(d), d.mkdir()),
}
FAST_DAMAGES = ("arrays of another step", "metadata edited (another seed)")  # the others: make test-slow


def _tree(path, but=None):
    """Every file below path (but one) with its bytes: a snapshot to show nothing changed."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file() and p.name != but}


@pytest.mark.parametrize("damage", [d if d in FAST_DAMAGES else pytest.param(d, marks=pytest.mark.slow)
                                    for d in DAMAGES])
def test_a_damaged_newest_checkpoint_is_skipped_and_the_resume_is_exact(finished, straight_60, tmp_path, caplog,
                                                                         damage):
    run_dir = tmp_path / "run"
    shutil.copytree(finished, run_dir)
    DAMAGES[damage](run_dir / "checkpoints" / "40")
    with caplog.at_level(logging.WARNING):
        train_and_evaluate(smoke("train.steps=60"), run_dir)
    assert "skipping the damaged checkpoint at step 40" in caplog.text
    assert (run_dir / "checkpoints" / f"40{DAMAGED_SUFFIX}").is_dir()  # set aside, not deleted
    assert_states_equal(straight_60, saved_state(smoke("train.steps=60"), run_dir, 60))


def test_a_stale_temporary_directory_is_not_a_checkpoint(finished, straight_60, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(finished, run_dir)
    stale = run_dir / "checkpoints" / "60.orbax-checkpoint-tmp-1234"
    shutil.copytree(run_dir / "checkpoints" / "40", stale)
    _flip_bytes(stale)
    train_and_evaluate(smoke("train.steps=60"), run_dir)
    assert_states_equal(straight_60, saved_state(smoke("train.steps=60"), run_dir, 60))
    assert not stale.exists()  # a half-written save is cleaned up


def test_when_every_checkpoint_is_damaged_the_run_stops_and_touches_nothing(finished, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(finished, run_dir)
    _swap_arrays(run_dir / "checkpoints" / "40")
    (run_dir / "checkpoints" / "20" / "metadata" / "metadata").write_text("{cut sh")
    before = _tree(run_dir, but=RunDir(run_dir).lock_file.name)
    with pytest.raises(GancliError) as err:
        train_and_evaluate(smoke("train.steps=60"), run_dir)
    message = str(err.value)
    assert "no intact checkpoint" in message and "nothing was deleted" in message
    assert "step 40: its arrays or metadata differ from those saved" in message
    assert "step 20: its metadata cannot be read" in message
    assert _tree(run_dir, but=RunDir(run_dir).lock_file.name) == before


def test_sample_and_eval_read_the_newest_intact_checkpoint(finished, tmp_path, caplog):
    run_dir = tmp_path / "run"
    shutil.copytree(finished, run_dir)
    _swap_arrays(run_dir / "checkpoints" / "40")
    before = _tree(run_dir)
    with caplog.at_level(logging.WARNING):
        run = load_run(run_dir)
    assert run.step == 20 and "skipping the damaged checkpoint at step 40" in caplog.text
    with pytest.raises(GancliError, match="the checkpoint at step 40 of .* is damaged: its arrays or metadata differ"):
        load_run(run_dir, step=40)
    assert _tree(run_dir) == before  # a reader sets nothing aside


def test_a_second_writer_is_refused_and_changes_nothing(finished, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(finished, run_dir)
    before = _tree(run_dir, but=RunDir(run_dir).lock_file.name)
    with RunLock(run_dir), pytest.raises(GancliError, match="another process .* is training into"):
        train_and_evaluate(smoke("train.steps=60"), run_dir)
    assert _tree(run_dir, but=RunDir(run_dir).lock_file.name) == before


def test_a_killed_process_leaves_no_lock_behind(tmp_path):
    script = (f"import time\nfrom gancli.run_dir.lock import RunLock\nwith RunLock({str(tmp_path)!r}) as lock:\n"
              "    lock.sign()\n    print('locked', flush=True)\n    time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(GancliError, match=f"pid {holder.pid}"):
        RunLock(tmp_path).__enter__()
    holder.kill()
    holder.wait()
    with RunLock(tmp_path):  # the kernel released the dead process's lock
        pass


@pytest.mark.slow
def test_a_second_gancli_train_into_a_live_run_exits_2(env, tmp_path):
    run_dir = tmp_path / "run"
    first = subprocess.Popen([GANCLI, "train", *SMOKE, "train.steps=1000000", "train.ckpt_every=1000000",
                              "train.eval_every=1000000", f"hydra.run.dir={run_dir}"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (run_dir / "metrics.jsonl").exists() and time.time() < deadline:
            time.sleep(0.1)
        overrides = (run_dir / ".hydra" / "overrides.yaml").read_text()
        second = gancli(env, "train", *SMOKE, "seed=5", f"hydra.run.dir={run_dir}")
        assert_one_line_error(second, f"another process (pid {first.pid}) is training into {run_dir}")
        assert (run_dir / ".hydra" / "overrides.yaml").read_text() == overrides  # the first run's record
        assert first.poll() is None  # and the first run trains on
    finally:
        first.kill()
        first.wait()


def _write_failing(monkeypatch, after_calls):
    """MetricsLog.append raises ENOSPC from its `after_calls`+1-th call on, as on a full disk."""
    calls = {"n": 0}
    real_append = MetricsLog.append

    def append(self, records):
        calls["n"] += 1
        if calls["n"] > after_calls:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        real_append(self, records)

    monkeypatch.setattr(MetricsLog, "append", append)


def test_a_failed_metrics_write_stops_the_run_and_keeps_what_was_saved(finished, straight_60, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    shutil.copytree(finished, run_dir)
    _write_failing(monkeypatch, after_calls=1)  # steps 41-50 are logged, 51-60 are not
    with pytest.raises(StorageError) as err:
        train_and_evaluate(smoke("train.steps=60"), run_dir)
    message = str(err.value)
    assert message.startswith(f"could not read or write {run_dir / 'metrics.jsonl'} (No space left on device)")
    assert f"gancli resume {run_dir}" in message
    assert Checkpointer(run_dir / "checkpoints", read_only=True).all_steps() == [20, 40]
    monkeypatch.undo()
    train_and_evaluate(smoke("train.steps=60"), run_dir)  # space freed: the resume finishes the run exactly
    assert_states_equal(straight_60, saved_state(smoke("train.steps=60"), run_dir, 60))
    assert [r["step"] for r in MetricsLog(run_dir / "metrics.jsonl").read()] == list(range(10, 61, 10))


@pytest.mark.slow
def test_a_checkpoint_that_cannot_be_written_stops_the_run_with_one_line(env, finished, tmp_path):
    """A real failed write: a file-size limit that the 1.3 MB state of a wider model exceeds."""
    run_dir = tmp_path / "run"
    wide = [*SMOKE, "model.hidden=128", "model.depth=4"]
    assert gancli(env, "train", *wide, "train.steps=20", f"hydra.run.dir={run_dir}").returncode == 0
    kept = _tree(run_dir / "checkpoints")

    # A file-size limit set in a small launcher that then becomes gancli (no fork of this threaded
    # process); Python ignores SIGXFSZ, so a write past the limit fails with EFBIG.
    launcher = ("import os, resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000)); "
                "os.execv(sys.argv[1], sys.argv[1:])")
    result = subprocess.run([sys.executable, "-c", launcher, GANCLI, "resume", str(run_dir), "train.steps=40"],
                            env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"gancli train: error: could not save a checkpoint in {run_dir / 'checkpoints'}")
    assert lines[0].endswith(f"then resume with: gancli resume {run_dir}")
    assert {k: v for k, v in _tree(run_dir / "checkpoints").items() if k.startswith("20/")} == kept
    assert gancli(env, "resume", str(run_dir), "train.steps=40").returncode == 0  # space back: it finishes


# KL's non-saturating form overflows a few steps after step 21 (its minimax form at once), which the
# rollback tests need: a checkpoint at 21 saved before the blow-up.
KL_NONSATURATING = ["divergence=kl", "divergence.generator_loss=nonsaturating"]
BLOW_UP = [*KL_NONSATURATING, "optim.d.lr=1e6", "optim.g.lr=1e6", "train.ckpt_every=100", "train.eval_every=200"]


def _blown_up_run(tmp_path, *overrides):
    """20 sane steps, then rates that make KL's exp(v - 1) overflow within a few steps."""
    train_and_evaluate(smoke(*KL_NONSATURATING, "train.steps=20"), tmp_path)
    return smoke(*BLOW_UP, "train.on_nonfinite=rollback", *overrides)


@pytest.mark.slow  # a run that blows up, rolled back: the fast suite checks the rollback state
def test_rollback_goes_back_to_the_checkpoint_with_lower_rates_and_finishes(tmp_path, caplog):
    cfg = _blown_up_run(tmp_path, "train.steps=200", "train.rollback_lr_factor=0.001")
    with caplog.at_level(logging.WARNING):
        summary = train_and_evaluate(cfg, tmp_path)
    assert summary["step"] == 200
    rollbacks = RunDir(tmp_path).rollbacks.read()
    assert [r["to_step"] for r in rollbacks] == [20] * len(rollbacks) and 1 <= len(rollbacks) <= 3
    assert [r["rollback"] for r in rollbacks] == list(range(1, len(rollbacks) + 1))
    assert rollbacks[0]["lr_scale"] == pytest.approx(0.001)
    assert caplog.text.count("rolled back to step 20") == len(rollbacks)
    state = saved_state(cfg, tmp_path, 200)
    assert int(state.rollbacks) == len(rollbacks)
    assert float(state.lr_scale) == pytest.approx(0.001 ** len(rollbacks))
    assert [r["step"] for r in MetricsLog(tmp_path / "metrics.jsonl").read()] == list(range(10, 201, 10))
    assert not RunDir(tmp_path).failure_file.exists()


@pytest.mark.slow
def test_a_rolled_back_run_resumes_as_if_never_stopped(tmp_path):
    straight = _blown_up_run(tmp_path / "straight", "train.steps=200", "train.rollback_lr_factor=0.001")
    train_and_evaluate(straight, tmp_path / "straight")
    _blown_up_run(tmp_path / "stopped")
    train_and_evaluate(smoke(*BLOW_UP, "train.on_nonfinite=rollback", "train.rollback_lr_factor=0.001",
                             "train.steps=100"), tmp_path / "stopped")
    train_and_evaluate(straight, tmp_path / "stopped")
    assert_states_equal(saved_state(straight, tmp_path / "straight", 200),
                        saved_state(straight, tmp_path / "stopped", 200))
    straight_log, stopped_log = RunDir(tmp_path / "straight").rollbacks, RunDir(tmp_path / "stopped").rollbacks
    assert straight_log.path.read_text() == stopped_log.path.read_text()


@pytest.mark.slow
def test_rollbacks_are_limited_then_the_run_stops(tmp_path):
    cfg = _blown_up_run(tmp_path, "train.steps=200", "train.rollback_lr_factor=0.5", "train.max_rollbacks=2")
    with pytest.raises(TrainingError, match=r"after 2 rollback\(s\) with lower learning rates; the checkpoint at "
                                             "step 20 is intact"):
        train_and_evaluate(cfg, tmp_path)
    assert len(RunDir(tmp_path).rollbacks.read()) == 2
    assert json.loads(RunDir(tmp_path).failure_file.read_text())["step"] > 20
    assert Checkpointer(tmp_path / "checkpoints", read_only=True).all_steps() == [20]


def test_rollback_state_starts_at_full_rates():
    _, init = build(smoke())
    state = jax.jit(init)()
    assert float(state.lr_scale) == 1.0 and int(state.rollbacks) == 0


@pytest.mark.slow
def test_a_rollback_ignores_a_checkpoint_an_earlier_shorter_run_added(tmp_path):
    """A Ctrl-C (or a run extended later) leaves a checkpoint off the ckpt_every schedule; the
    rollback still goes back to the scheduled one, as the uninterrupted run does."""
    straight = _blown_up_run(tmp_path / "straight", "train.steps=200", "train.rollback_lr_factor=0.001",
                             "train.ckpt_every=20")
    train_and_evaluate(straight, tmp_path / "straight")
    _blown_up_run(tmp_path / "stopped")
    train_and_evaluate(smoke(*BLOW_UP, "train.on_nonfinite=rollback", "train.rollback_lr_factor=0.001",
                             "train.ckpt_every=20", "train.steps=21"), tmp_path / "stopped")  # saved at 21
    assert 21 in Checkpointer(tmp_path / "stopped" / "checkpoints", read_only=True).all_steps()
    train_and_evaluate(straight, tmp_path / "stopped")
    assert (tmp_path / "stopped" / "checkpoints" / "21.rolled-back").is_dir()  # set aside, not deleted
    assert_states_equal(saved_state(straight, tmp_path / "straight", 200),
                        saved_state(straight, tmp_path / "stopped", 200))
    straight_log, stopped_log = RunDir(tmp_path / "straight").rollbacks, RunDir(tmp_path / "stopped").rollbacks
    assert straight_log.path.read_text() == stopped_log.path.read_text()


@pytest.mark.slow  # two runs; tests/run_dir/test_reader.py reads such a checkpoint
def test_a_checkpoint_saved_before_rollbacks_existed_still_resumes(finished, straight_60, tmp_path):
    """gancli 0.1.0 saved no lr_scale or rollbacks: such a state resumes at full rates, exactly."""
    cfg = smoke("train.steps=60")
    state = saved_state(cfg, finished, 40)
    old = {k: v for k, v in to_tree(state).items() if k not in ("lr_scale", "rollbacks")}
    metadata = Checkpointer(finished / "checkpoints", read_only=True).metadata(40)
    run_dir = tmp_path / "old"
    checkpointer = Checkpointer(run_dir / "checkpoints")
    checkpointer.save(40, old, {**{k: v for k, v in metadata.items() if k != "digest"}, "shapes": state_shapes(old)})
    checkpointer.close()
    shutil.copy(finished / "metrics.jsonl", run_dir / "metrics.jsonl")
    assert load_run(run_dir).state.rollbacks == 0  # sample and eval read it too
    train_and_evaluate(cfg, run_dir)
    assert_states_equal(straight_60, saved_state(cfg, run_dir, 60))
