"""One run over two processes (jax.distributed on CPU, gradients summed over Gloo): it trains what
one process trains, leaves one run directory, and stops together on failure."""

from __future__ import annotations

import json
import socket
import subprocess
from dataclasses import replace

import pytest

from gancli.cli.apps.resume import train_arguments
from gancli.errors import GancliError
from gancli.runner.distributed import initialize
from gancli.runner.trainer import train_and_evaluate
from tests.helpers import GANCLI, SMOKE, assert_records_close, compose_config, gancli, records

ONE_PROCESS = compose_config().distributed  # conf/train.yaml: no coordinator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def two_processes(env, run_dir, *overrides, slurm=False, timeout=300):
    """`gancli train` as processes 0 and 1 of one run: (exit status, output) of each."""
    command = [GANCLI, "train", *SMOKE, f"hydra.run.dir={run_dir}", *overrides]
    port = free_port()
    started = []
    for rank in (0, 1):
        if slurm:  # what srun sets for each task; JAX finds the coordinator from it
            own = {**env, "SLURM_JOB_ID": str(port), "SLURM_STEP_NODELIST": "localhost", "SLURM_NTASKS": "2",
                   "SLURM_STEP_NUM_TASKS": "2", "SLURM_PROCID": str(rank), "SLURM_LOCALID": str(rank)}
            args = command
        else:
            own = env
            args = [*command, f"distributed.coordinator=localhost:{port}", "distributed.num_processes=2",
                    f"distributed.process_id={rank}"]
        started.append(subprocess.Popen(args, env=own, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    return [(p.communicate(timeout=timeout)[0], p.returncode)[::-1] for p in started]


def test_one_process_initialises_nothing(monkeypatch):
    monkeypatch.delenv("SLURM_STEP_NUM_TASKS", raising=False)
    monkeypatch.setenv("SLURM_NTASKS", "4")  # an allocation of 4 tasks, this one not started by srun
    initialize(ONE_PROCESS)  # no coordinator, no srun step of several: a plain run (JAX not yet joined)
    with pytest.raises(GancliError, match="distributed.coordinator needs distributed.num_processes"):
        initialize(replace(ONE_PROCESS, coordinator="localhost:1234"))


def test_a_resume_drops_how_the_processes_met(tmp_path):
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text(
        "- seed=3\n- distributed.coordinator=host:1\n- distributed.num_processes=2\n- distributed.process_id=1\n")
    assert train_arguments([str(tmp_path), "train.steps=80"]) == ["seed=3", "train.steps=80",
                                                                  f"hydra.run.dir='{tmp_path}'"]


@pytest.mark.slow
def test_two_processes_train_one_run(env, smoke_config, tmp_path):
    """Processes 0 and 1 (each one CPU device) split the batch: the run matches one device's to
    float tolerance, process 0 alone wrote its files, and its checkpoints read back verified in
    one process, which goes on from them; SLURM's variables start the same run."""
    run_dir = tmp_path / "two"
    results = two_processes(env, run_dir, "train.batch_size=64")
    assert [status for status, _ in results] == [0, 0], results
    assert "process 1 of 2" in results[1][1]
    train_and_evaluate(smoke_config("train.batch_size=64"), tmp_path / "one")
    assert_records_close(records(run_dir), records(tmp_path / "one"))
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["20", "40"]

    evaluated = gancli(env, "eval", str(run_dir))  # checks every array against the digest process 0 saved
    assert evaluated.returncode == 0, evaluated.stderr
    resumed = gancli(env, "resume", str(run_dir), "train.steps=60")  # alone: the coordinator is not replayed
    assert resumed.returncode == 0, resumed.stderr
    again = two_processes(env, run_dir, "train.batch_size=64", "train.steps=80", slurm=True)
    assert [status for status, _ in again] == [0, 0], again
    assert "resuming" in again[0][1]
    assert [r["step"] for r in records(run_dir)][-1] == 80
    assert json.loads((run_dir / "summary.json").read_text())["step"] == 80


@pytest.mark.slow
def test_processes_stop_together(env, tmp_path):
    """Process 0 meets a non-finite loss: both exit 1 and the run says why. Refused before it
    gave any order (a bad objective), it still lets the other go: both exit 2."""
    results = two_processes(env, tmp_path / "blows_up", "divergence=kl", "optim.d.lr=1e6", "train.steps=100")
    assert [status for status, _ in results] == [1, 1], results
    assert "non-finite loss" in results[0][1]
    assert (tmp_path / "blows_up" / "failure.json").exists()
    refused = two_processes(env, tmp_path / "refused", "train.objective=log_likelihood", timeout=120)
    assert [status for status, _ in refused] == [2, 2], refused
    assert "train.objective=log_likelihood is not a metric of this run" in refused[0][1]
    both_refuse = two_processes(env, tmp_path / "both", "train.on_nonfinite=rollback", timeout=120)
    assert [status for status, _ in both_refuse] == [2, 2], both_refuse  # the follower too: it says so first
    assert all("a run over several processes trains one seed" in out for _, out in both_refuse)
