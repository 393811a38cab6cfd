"""Jobs of a sweep run side by side: which launcher a command line picks, how many jobs share the
cores, the BLAS threads each gets, and the cores each job claims and pins itself to.

(tests/end_to_end/test_sweeps.py has more: joblib's n_jobs, claims of two cores, a directory others
can write.)"""

from __future__ import annotations

import os
import threading

import pytest

from gancli.cli import parallel_jobs
from gancli.cli.parallel_jobs import (
    PREALLOCATE,
    THREAD_VARIABLES,
    _pin_process,
    cores_of_this_job,
    jobs_at_once,
    launcher_of,
    limit_threads_of_parallel_jobs,
)


def test_the_launcher_is_the_last_one_the_command_line_picks():
    assert launcher_of(["-m", "seed=0,1"]) is None  # Hydra's basic launcher
    assert launcher_of(["hydra/launcher=joblib", "seed=0", "hydra/launcher=submitit_local"]) == "submitit_local"
    assert launcher_of(["hydra.launcher.n_jobs=2"]) is None  # a launcher's setting is not a launcher


@pytest.mark.parametrize(("n_jobs", "expected"), [
    (0, 1),  # never fewer than one job
    (-10, 1),  # "all but nine" of 4 cores
    ("-4", 1),  # all but three
    ("many", 4),  # not a number: Hydra refuses it itself; meanwhile every core
    (3, 3),
])
def test_jobs_at_once_stays_between_one_and_the_cores(n_jobs, expected):
    assert jobs_at_once(n_jobs, cores=4) == expected


@pytest.mark.parametrize(("n_jobs", "threads"), [
    (None, "1"),  # a job per core
    ("2", "4"),
    ("3", "2"),  # 8 // 3: no core's threads are shared by two jobs
    ("-3", "1"),  # 6 jobs on 8 cores
    ("32", "1"),
])
def test_each_parallel_job_gets_its_share_of_eight_cores_as_blas_threads(monkeypatch, n_jobs, threads):
    monkeypatch.setattr(parallel_jobs, "_cores", lambda: list(range(8)))
    environ: dict[str, str] = {}
    n_jobs_override = [] if n_jobs is None else [f"hydra.launcher.n_jobs={n_jobs}"]
    limit_threads_of_parallel_jobs(["-m", "hydra/launcher=joblib", *n_jobs_override], environ)
    assert {name: environ[name] for name in THREAD_VARIABLES} == dict.fromkeys(THREAD_VARIABLES, threads)
    assert environ[PREALLOCATE] == "false"  # jobs may share a GPU


def test_a_users_preallocation_setting_is_left_alone(monkeypatch):
    monkeypatch.setattr(parallel_jobs, "_cores", lambda: list(range(2)))
    environ = {PREALLOCATE: "true", "OMP_NUM_THREADS": "7"}
    limit_threads_of_parallel_jobs(["-m", "hydra/launcher=submitit_local"], environ)
    assert environ[PREALLOCATE] == "true" and environ["OMP_NUM_THREADS"] == "7"
    assert environ["MKL_NUM_THREADS"] == "1"


@pytest.fixture
def four_cores(monkeypatch, tmp_path):
    """A process on cores 0-3 whose claims go to tmp_path, with pinning recorded instead of done."""
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr("os.sched_getaffinity", lambda _: {0, 1, 2, 3})
    pinned: list[set[int]] = []
    monkeypatch.setattr(parallel_jobs, "_pin_process", pinned.append)
    return pinned


def test_two_jobs_at_once_on_four_cores_claim_two_cores_each(four_cores):
    with cores_of_this_job(2) as first, cores_of_this_job("2") as second:
        assert first == [0, 1] and second == [2, 3]
    assert four_cores == [{0, 1}, {2, 3}, {0, 1, 2, 3}, {0, 1, 2, 3}]


def test_a_job_that_fails_still_unpins_and_gives_back_its_cores(four_cores):
    with pytest.raises(RuntimeError), cores_of_this_job(-1) as mine:
        assert mine == [0]
        raise RuntimeError("the job failed")
    assert four_cores == [{0}, {0, 1, 2, 3}]  # the worker's next job starts from every core
    with cores_of_this_job(-1) as next_job:
        assert next_job == [0]  # the first job's claim was released


def test_a_claims_directory_that_is_a_link_is_not_trusted(four_cores, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (tmp_path / f"gancli-cores-{os.getuid()}").symlink_to(elsewhere)
    with cores_of_this_job(-1) as mine:
        assert mine == []
    assert four_cores == [] and list(elsewhere.iterdir()) == []


def test_a_system_that_cannot_pin_runs_the_job_unpinned(four_cores, monkeypatch):
    monkeypatch.delattr(os, "sched_setaffinity")
    with cores_of_this_job(-1) as mine:
        assert mine == []
    assert four_cores == []


def test_pinning_reaches_every_thread_the_process_already_has(monkeypatch):
    """A reused joblib worker has JAX's threads already: each is pinned, not only the caller."""
    calls: list[tuple[int, set[int]]] = []
    monkeypatch.setattr(os, "sched_setaffinity", lambda tid, cores: calls.append((tid, cores)))
    started, done = threading.Event(), threading.Event()
    worker = threading.Thread(target=lambda: (started.set(), done.wait(5)))
    worker.start()
    try:
        started.wait(5)
        _pin_process({1})
    finally:
        done.set()
        worker.join()
    pinned = {tid for tid, cores in calls if cores == {1}}
    assert {threading.get_native_id(), worker.native_id} <= pinned
