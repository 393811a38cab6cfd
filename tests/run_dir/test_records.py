"""A sweep's runs read back for `gancli report`: which directories are runs, in which order and
under which names, what state each is in, and its final samples."""

import json

import numpy as np
import pytest
import yaml

from gancli.errors import GancliError
from gancli.run_dir.records import RunRecord, column_name, final_samples, find_runs


def make_run(path, config=None, steps=(), summary_step=None, failure=None, job="train"):
    """A run directory as `gancli train` leaves it, with a small made-up config (find_runs reads
    the config as saved; it does not validate it)."""
    (path / ".hydra").mkdir(parents=True)
    (path / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config or {"seed": 0, "divergence": {"name": "kl"}}))
    if job is not None:
        (path / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"job": {"name": job}}}))
    if steps:
        (path / "metrics.jsonl").write_text("".join(json.dumps({"step": s}) + "\n" for s in steps))
    if summary_step is not None:
        (path / "summary.json").write_text(json.dumps({"step": summary_step, "modes_captured": 8}))
    if failure is not None:
        (path / "failure.json").write_text(json.dumps(failure))
    return path


def record(summary=None, failure=None, last_step=None):
    return RunRecord(path=None, name="run", raw_config={}, config={}, summary=summary, failure=failure,
                     last_step=last_step)


@pytest.mark.parametrize(("run", "status", "finished"), [
    (record(), "not started", False),
    (record(last_step=300), "stopped at step 300", False),
    (record(summary={"step": 400}, last_step=400), "finished", True),
    # the error's details (after ";" or " (") are left for the run's own failure.json
    (record(failure={"step": 1320, "error": "non-finite loss in steps 1301-1400; lower optim.d.lr"}, last_step=1300),
     "failed at step 1320: non-finite loss in steps 1301-1400", False),
    (record(failure={"step": 20, "error": "could not save (OSError: disk full); free space"}),
     "failed at step 20: could not save", False),
    # a failure.json beside a summary: a resume that failed after the run had finished once
    (record(summary={"step": 400}, failure={"step": 500, "error": "non-finite loss"}),
     "failed at step 500: non-finite loss", False),
])
def test_a_runs_status_says_how_far_it_got(run, status, finished):
    assert run.status == status
    assert run.finished is finished


def test_a_run_is_read_back_from_its_files(tmp_path):
    run = make_run(tmp_path / "run", {"seed": 3, "divergence": {"name": "js", "penalty": "gp"}},
                   steps=(10, 20, 30), summary_step=30)
    (found,) = find_runs([run])
    assert found.path == run and found.name == "run"  # a run given itself is named by its folder
    assert found.raw_config == {"seed": 3, "divergence": {"name": "js", "penalty": "gp"}}
    assert found.config == {"seed": 3, "divergence.name": "js", "divergence.penalty": "gp"}
    assert found.summary == {"step": 30, "modes_captured": 8} and found.failure is None
    assert found.last_step == 30 and found.status == "finished"


def test_jobs_are_in_numeric_order_and_named_below_the_directory_given(tmp_path):
    sweep = tmp_path / "sweep"
    for job in (10, 2, 1, 0):
        make_run(sweep / str(job), steps=(10,))
    make_run(sweep / "group" / "3", steps=(10,))
    assert [r.name for r in find_runs([sweep])] == ["0", "1", "2", "10", "group/3"]  # not 0, 1, 10, 2


def test_several_directories_name_their_runs_by_the_directory_given(tmp_path):
    make_run(tmp_path / "a" / "0")
    make_run(tmp_path / "b")
    assert [r.name for r in find_runs([tmp_path / "a", tmp_path / "b"])] == ["a/0", "b"]


def test_a_group_of_seeds_is_not_a_run_but_each_of_its_seeds_is(tmp_path):
    group = make_run(tmp_path / "group", {"seed": 0, "train": {"num_seeds": 2}})
    for seed in (0, 1):
        make_run(group / f"seed_{seed}", {"seed": seed, "train": {"num_seeds": 1}}, steps=(10,))
    assert [r.name for r in find_runs([group])] == ["seed_0", "seed_1"]


def test_without_hydra_yaml_a_run_is_one_that_logged_or_saved(tmp_path):
    make_run(tmp_path / "logged", steps=(10,), job=None)
    make_run(tmp_path / "saved", job=None).joinpath("checkpoints").mkdir()
    make_run(tmp_path / "record_only", job=None)  # .hydra/ alone: another command's, or never started
    assert [r.name for r in find_runs([tmp_path])] == ["logged", "saved"]


def test_a_directory_of_runs_of_another_command_only_is_refused(tmp_path):
    make_run(tmp_path / "estimate", job="estimate", steps=(10,))
    with pytest.raises(GancliError, match=r"holds no training run \(no .hydra/config.yaml of `gancli train` below"):
        find_runs([tmp_path])


def test_the_final_samples_of_an_unfinished_run_are_its_newest(tmp_path):
    run = make_run(tmp_path / "run", steps=(100, 200))
    (run / "plots").mkdir()
    for step in (20, 100):  # by name, 100 sorts before 20
        np.save(run / "plots" / f"samples_{step:07d}.npy", np.full((2, 2), step, np.float32))
        (run / "plots" / f"samples_{step:07d}.png").touch()
    (record_,) = find_runs([run])
    np.testing.assert_array_equal(final_samples(record_), np.full((2, 2), 100.0))


def test_a_run_without_its_final_snapshot_has_no_final_samples(tmp_path):
    unfinished = make_run(tmp_path / "unfinished", steps=(10,))
    finished = make_run(tmp_path / "finished", steps=(10, 20), summary_step=20)
    (finished / "plots").mkdir()
    np.save(finished / "plots" / "samples_0000010.npy", np.zeros((2, 2)))  # not the summary's step
    assert [final_samples(r) for r in find_runs([unfinished, finished])] == [None, None]


@pytest.mark.parametrize(("key", "column"), [
    ("divergence.name", "divergence"), ("model.name", "model"), ("seed", "seed"),
    ("optim.d.lr", "optim.d.lr"), ("data.names", "data.names"),
])
def test_a_config_key_becomes_the_column_a_user_would_pick(key, column):
    assert column_name(key) == column
