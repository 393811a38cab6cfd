"""The body every Hydra app shares (run_task): the parsed config handed to the command, a bad
config or failed run outside a sweep as one line and its exit status, a failed job of a sweep
reported, recorded and given the sweeper's worst value, and the record of a sweep's failed jobs.

Hydra's own config is a stand-in here: the apps run under Hydra in tests/end_to_end/."""

from __future__ import annotations

import contextlib
import json
import math
import os
from types import SimpleNamespace

import pytest
from hydra.types import RunMode
from omegaconf import OmegaConf

from gancli.cli import task
from gancli.cli.parallel_jobs import PREALLOCATE
from gancli.cli.task import FAILED_JOBS_ENV, failed_jobs, record_failed_job, run_task
from gancli.errors import GancliError, TrainingError
from gancli.run_dir.layout import RunDir
from gancli.run_dir.lock import RunLock


@pytest.fixture
def hydra(monkeypatch, tmp_path):
    """A function: settings -> the stand-in for HydraConfig.get() that run_task reads, for a job
    whose output dir is tmp_path/outputs/train/job (made, with Hydra's record in it)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(FAILED_JOBS_ENV, str(tmp_path / "failed"))
    (tmp_path / "failed").mkdir()

    def configure(mode=RunMode.RUN, launcher="basic", sweeper=None, hydra_overrides=(), n_jobs=None):
        output_dir = tmp_path / "outputs" / "train" / "job"
        (output_dir / ".hydra").mkdir(parents=True, exist_ok=True)
        (output_dir / ".hydra" / "config.yaml").write_text("seed: 0\n")
        (output_dir / "train.log").touch()
        cfg = OmegaConf.create({
            "mode": mode, "sweeper": sweeper, "output_subdir": ".hydra",
            "runtime": {"output_dir": str(output_dir), "choices": {"hydra/launcher": launcher}},
            "job": {"num": 3, "name": "train"},
            "overrides": {"hydra": list(hydra_overrides), "task": []},
            "launcher": {"n_jobs": n_jobs},
        })
        monkeypatch.setattr(task, "HydraConfig", SimpleNamespace(get=lambda: cfg))
        return output_dir

    return configure


def _raise(err: BaseException):
    """A parse or run function that fails with err."""
    def fails(*_args):
        raise err
    return fails


def test_the_command_gets_the_resolved_config_parsed_and_the_jobs_output_dir(hydra):
    output_dir = hydra()
    seen = []
    cfg = OmegaConf.create({"train": {"steps": 4}, "eval_every": "${train.steps}"})
    value = run_task("gancli train", cfg, lambda raw: ("parsed", raw),
                     lambda typed, run_dir: seen.append((typed, run_dir)) or 0.5)
    assert value == 0.5
    # Interpolations resolved, a plain dict (the parsers take no OmegaConf nodes).
    assert seen == [(("parsed", {"train": {"steps": 4}, "eval_every": 4}), output_dir)]
    assert type(seen[0][0][1]["train"]) is dict


def test_a_bad_config_is_one_line_exit_2_and_removes_the_empty_run_dir_hydra_made(hydra, capsys, tmp_path):
    hydra()
    ran = []
    with pytest.raises(SystemExit) as exit_:
        run_task("gancli train", OmegaConf.create({}), _raise(GancliError("train.steps=0 is below 1; use 1 or more")),
                 lambda *a: ran.append(a))
    assert exit_.value.code == 2 and ran == []
    assert capsys.readouterr().err == "gancli train: error: train.steps=0 is below 1; use 1 or more\n"
    assert not (tmp_path / "outputs").exists()  # bad input leaves nothing on disk, not even outputs/train/


def test_a_run_dir_the_command_line_names_is_kept_on_a_bad_config(hydra):
    output_dir = hydra(hydra_overrides=["hydra.run.dir=mine"])  # the user's own, or another run's
    with pytest.raises(SystemExit) as exit_:
        run_task("gancli train", OmegaConf.create({}), _raise(GancliError("bad")), lambda *a: None)
    assert exit_.value.code == 2
    assert (output_dir / ".hydra" / "config.yaml").exists()


def test_a_bad_config_stops_a_sweep_at_once(hydra, tmp_path):
    output_dir = hydra(mode=RunMode.MULTIRUN)
    with pytest.raises(SystemExit) as exit_:  # the same mistake in every job
        run_task("gancli train", OmegaConf.create({}), _raise(GancliError("bad")), lambda *a: None)
    assert exit_.value.code == 2
    assert output_dir.exists() and failed_jobs() == []


@pytest.mark.parametrize(("err", "status"), [
    (TrainingError("non-finite loss at step 20"), 1),
    (GancliError("a resume may not change model.hidden"), 2),  # the input was wrong
])
def test_a_failed_run_outside_a_sweep_is_one_line_with_its_errors_status(hydra, capsys, err, status):
    hydra(hydra_overrides=["hydra.run.dir=outputs/train/job"])
    with pytest.raises(SystemExit) as exit_:
        run_task("gancli train", OmegaConf.create({}), lambda raw: raw, _raise(err))
    assert exit_.value.code == status
    assert capsys.readouterr().err == f"gancli train: error: {err}\n"


@pytest.mark.parametrize(("err", "where"), [
    (OSError(28, "No space left on device", "/full/metrics.jsonl"), "/full/metrics.jsonl (No space left on device)"),
    (PermissionError("denied"), "a file (denied)"),
])
def test_a_file_that_cannot_be_written_is_a_storage_error_with_exit_status_1(hydra, capsys, err, where):
    hydra()
    with pytest.raises(SystemExit) as exit_:
        run_task("gancli sample", OmegaConf.create({}), lambda raw: raw, _raise(err))
    assert exit_.value.code == 1
    assert capsys.readouterr().err == (f"gancli sample: error: could not read or write {where}; "
                                       "choose a writable place, or free some space\n")


def test_a_failed_job_of_a_sweep_is_reported_recorded_and_leaves_failure_json(hydra, capsys):
    output_dir = hydra(mode=RunMode.MULTIRUN)
    RunDir(output_dir).metrics.append([{"step": 10}, {"step": 20}])
    value = run_task("gancli train", OmegaConf.create({"train": {"num_seeds": 1}}), lambda raw: raw,
                     _raise(TrainingError("non-finite loss")))
    assert math.isnan(value)  # the basic sweeper: no direction to be worst in
    assert capsys.readouterr().err == f"gancli train: error in job 3 ({output_dir}): non-finite loss\n"
    assert failed_jobs() == [(str(output_dir), "non-finite loss")]
    # For `gancli report`: the step it had logged last, and why it stopped.
    assert RunDir(output_dir).read_failure() == {"step": 20, "error": "non-finite loss"}


def test_a_failed_trial_of_a_search_is_its_worst_value(hydra):
    hydra(mode=RunMode.MULTIRUN, sweeper={"direction": "maximize"})
    value = run_task("gancli train", OmegaConf.create({}), lambda raw: raw, _raise(TrainingError("x")))
    assert value == -math.inf


def test_a_successful_trials_nan_is_also_the_worst_value(hydra):
    # mode_kl of a run with no high-quality sample
    hydra(mode=RunMode.MULTIRUN, sweeper={"direction": "minimize"})
    assert run_task("gancli train", OmegaConf.create({}), lambda raw: raw, lambda *a: float("nan")) == math.inf


@pytest.mark.parametrize(("command", "cfg", "err"), [
    ("gancli estimate", {}, GancliError("bad")),  # only a training run has a failure.json
    ("gancli train", {"train": {"num_seeds": 3}}, GancliError("bad")),  # each seed leaves its own
    ("gancli train", {}, type("Elsewhere", (GancliError,), {"reported_elsewhere": True})("bad")),
])
def test_no_failure_json_where_it_is_not_this_jobs_to_leave(hydra, command, cfg, err):
    output_dir = hydra(mode=RunMode.MULTIRUN)
    run_task(command, OmegaConf.create(cfg), lambda raw: raw, _raise(err))
    assert not RunDir(output_dir).failure_file.exists()
    assert failed_jobs() == [(str(output_dir), "bad")]  # still a failed job of the sweep


def test_no_failure_json_beside_a_finished_run_or_in_one_another_process_trains(hydra):
    output_dir = hydra(mode=RunMode.MULTIRUN)
    with RunLock(output_dir):  # another process is training into it
        run_task("gancli train", OmegaConf.create({}), lambda raw: raw, _raise(GancliError("refused")))
    assert not RunDir(output_dir).failure_file.exists()
    RunDir(output_dir).write_summary({"step": 40})
    run_task("gancli train", OmegaConf.create({}), lambda raw: raw, _raise(GancliError("refused")))
    assert not RunDir(output_dir).failure_file.exists()  # a rerun refused beside it does not undo it


def test_a_job_beside_others_runs_on_its_share_of_the_cores(hydra, monkeypatch):
    hydra(mode=RunMode.MULTIRUN, launcher="joblib", n_jobs=2)
    monkeypatch.delenv(PREALLOCATE, raising=False)
    claims = []

    @contextlib.contextmanager
    def claim(n_jobs):
        claims.append(("claimed", n_jobs))
        yield [0]
        claims.append("released")

    monkeypatch.setattr(task, "cores_of_this_job", claim)
    run_task("gancli train", OmegaConf.create({}), lambda raw: raw, lambda *a: claims.append("ran"))
    assert claims == [("claimed", 2), "ran", "released"]
    assert os.environ[PREALLOCATE] == "false"  # set before JAX starts: jobs may share a GPU


@pytest.mark.parametrize(("mode", "launcher"), [(RunMode.RUN, "joblib"), (RunMode.MULTIRUN, "basic"),
                                                (RunMode.MULTIRUN, "slurm")])
def test_jobs_one_after_another_or_on_their_own_machines_claim_no_cores(hydra, monkeypatch, mode, launcher):
    hydra(mode=mode, launcher=launcher)
    monkeypatch.setattr(task, "cores_of_this_job", lambda n_jobs: pytest.fail("claimed cores"))
    assert run_task("gancli train", OmegaConf.create({}), lambda raw: raw, lambda *a: 1.0) == 1.0


def test_without_a_failed_jobs_folder_nothing_is_recorded(monkeypatch, tmp_path):
    monkeypatch.delenv(FAILED_JOBS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    record_failed_job("sweep/0", "refused")  # a job started outside `gancli` (Hydra's own entry point)
    assert failed_jobs() == [] and list(tmp_path.iterdir()) == []


def test_a_record_still_being_written_is_not_read(monkeypatch, tmp_path):
    monkeypatch.setenv(FAILED_JOBS_ENV, str(tmp_path))
    (tmp_path / "other-1-2.part").write_text('{"dir": "half')  # another machine's write in progress
    record_failed_job("sweep/0", "refused")
    assert failed_jobs() == [("sweep/0", "refused")]
    (record,) = tmp_path.glob("*.json")
    assert json.loads(record.read_text())["dir"] == "sweep/0"
