"""Sweeps: jobs side by side (hydra/launcher=joblib) with their threads limited, failures
reported across processes, and a sweep run again into its directory resuming what is unfinished."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from gancli.cli.parallel_jobs import cores_of_this_job, jobs_at_once, limit_threads_of_parallel_jobs
from tests.helpers import SMOKE, gancli


def test_jobs_at_once_follows_joblibs_n_jobs():
    assert jobs_at_once(None, cores=4) == 4  # every core by default
    assert jobs_at_once(-1, cores=4) == 4
    assert jobs_at_once("-2", cores=4) == 3  # all but one
    assert jobs_at_once(2, cores=4) == 2
    assert jobs_at_once(16, cores=4) == 4  # never more than the cores


def test_parallel_jobs_get_an_even_share_of_the_blas_threads(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda _: {0, 1, 2, 3})
    one_per_core: dict[str, str] = {}
    limit_threads_of_parallel_jobs(["-m", "hydra/launcher=joblib", "seed=0,1,2,3"], one_per_core)
    assert one_per_core["OMP_NUM_THREADS"] == one_per_core["OPENBLAS_NUM_THREADS"] == "1"
    assert one_per_core["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"

    two_each = {"MKL_NUM_THREADS": "3"}
    limit_threads_of_parallel_jobs(["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], two_each)
    assert two_each["OMP_NUM_THREADS"] == "2"
    assert two_each["MKL_NUM_THREADS"] == "3"  # set by the user: left alone

    one_after_another: dict[str, str] = {}
    limit_threads_of_parallel_jobs(["-m", "seed=0,1"], one_after_another)  # the basic launcher
    assert one_after_another == {}


def test_each_job_claims_cores_no_other_job_holds(monkeypatch, tmp_path):
    """Jobs claim their cores through lock files: two at once get different cores, a third (more
    jobs than cores) runs unpinned, and a claim ends with its job."""
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path))
    pinned = []
    monkeypatch.setattr("gancli.cli.parallel_jobs._pin_process", pinned.append)
    monkeypatch.setattr("os.sched_getaffinity", lambda _: {0, 1})
    with cores_of_this_job(-1) as first, cores_of_this_job(-1) as second:
        assert sorted(first + second) == [0, 1]
        with cores_of_this_job(-1) as third:
            assert third == []
    assert pinned == [set(first), set(second), {0, 1}, {0, 1}]  # pinned, then unpinned as each job ends
    with cores_of_this_job(1) as alone:  # one job at a time: it gets every core
        assert alone == [0, 1]


def test_a_job_is_pinned_to_its_cores_and_unpinned_after(monkeypatch, tmp_path):
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path))
    before = os.sched_getaffinity(0)
    with cores_of_this_job(-1) as mine:  # as many jobs as cores: one core each
        assert len(mine) == 1 and os.sched_getaffinity(0) == set(mine)
    assert os.sched_getaffinity(0) == before  # the worker's next job starts from every core again


def test_claims_are_not_made_in_a_directory_others_can_write(monkeypatch, tmp_path):
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path))
    (tmp_path / f"gancli-cores-{os.getuid()}").mkdir(mode=0o777)
    os.chmod(tmp_path / f"gancli-cores-{os.getuid()}", 0o777)
    with cores_of_this_job(-1) as mine:
        assert mine == []  # runs unpinned rather than trust it


def test_a_claims_directory_only_others_could_read_is_made_private(monkeypatch, tmp_path):
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr("gancli.cli.parallel_jobs._pin_process", lambda cores: None)
    claims = tmp_path / f"gancli-cores-{os.getuid()}"
    claims.mkdir()
    os.chmod(claims, 0o755)
    with cores_of_this_job(-1) as mine:
        assert mine != []
    assert claims.stat().st_mode & 0o777 == 0o700


@pytest.mark.slow
def test_a_sweep_run_again_skips_finished_jobs_and_resumes_the_rest(env, tmp_path):
    sweep = tmp_path / "sweep"
    command = ["train", "-m", "seed=0,1", *SMOKE, f"hydra.sweep.dir={sweep}"]
    first = gancli(env, *command, timeout=300)
    assert first.returncode == 0, first.stderr
    finished, interrupted = sweep / "0", sweep / "1"
    metrics = (finished / "metrics.jsonl").read_bytes()
    stamp = (finished / "metrics.jsonl").stat().st_mtime_ns
    # Job 1 as a kill before its last checkpoint leaves it: checkpoint 20, no summary.
    shutil.rmtree(interrupted / "checkpoints" / "40")
    (interrupted / "summary.json").unlink()
    expected = json.loads((sweep / "1" / "metrics.jsonl").read_text().splitlines()[-1])

    again = gancli(env, *command, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "already finished at step 40 with this config: skipped" in (finished / "train.log").read_text()
    assert (finished / "metrics.jsonl").read_bytes() == metrics
    assert (finished / "metrics.jsonl").stat().st_mtime_ns == stamp  # not even rewritten
    assert "resuming" in (interrupted / "train.log").read_text()
    assert json.loads((interrupted / "summary.json").read_text())["step"] == 40
    assert json.loads((interrupted / "metrics.jsonl").read_text().splitlines()[-1]) == expected  # as if never stopped

    longer = gancli(env, *command, "train.steps=60", timeout=300)  # a changed config is not "finished"
    assert longer.returncode == 0, longer.stderr
    assert all(json.loads((job / "summary.json").read_text())["step"] == 60 for job in (finished, interrupted))

    # Other values (or the same in another order) would put one config's run under another's job number.
    other = gancli(env, *command, "train.steps=60", "optim.d.lr=1e-3", timeout=300)
    assert other.returncode == 1, other.stderr
    assert other.stderr.count("holds a run of another config (optim.d.lr: 0.0002 -> 0.001)") == 2, other.stderr
    for job in (finished, interrupted):  # refused beside a finished run: it is still reported finished
        assert not (job / "failure.json").exists()
        assert json.loads((job / "summary.json").read_text())["step"] == 60


@pytest.mark.slow
def test_a_joblib_sweep_runs_jobs_side_by_side_and_reports_the_failed_ones(env, tmp_path):
    """Job 0 blows up in a worker process of its own: the gancli process still learns of it,
    names it and exits 1, and job 1 finishes."""
    sweep = tmp_path / "sweep"
    result = gancli(env, "train", "-m", "hydra/launcher=joblib", "divergence=kl", "optim.d.lr=1e6,1e-4", *SMOKE,
                    "train.steps=100", f"hydra.sweep.dir={sweep}", timeout=600)
    assert result.returncode == 1, result.stderr
    assert f"1 job(s) of the sweep failed: {sweep / '0'}" in result.stderr.strip().splitlines()[-1]
    assert not (sweep / "0" / "summary.json").exists() and (sweep / "1" / "summary.json").exists()
    assert "JoblibLauncher" in (sweep / "multirun.yaml").read_text()


@pytest.mark.slow
def test_the_report_says_why_each_job_failed(env, tmp_path):
    """A job refused before training (not a blow-up, which writes failure.json itself) still
    leaves the reason for `gancli report`."""
    sweep = tmp_path / "sweep"
    result = gancli(env, "train", "-m", "seed=0,1", "train.objective=log_likelihood", *SMOKE,
                    f"hydra.sweep.dir={sweep}")
    assert result.returncode == 1, result.stderr
    assert "2 job(s) of the sweep failed" in result.stderr
    report = gancli(env, "report", str(sweep), cwd=tmp_path)
    assert report.stdout.count("failed at step 0: train.objective=log_likelihood is not a metric of this run") == 2, \
        report.stdout + report.stderr
