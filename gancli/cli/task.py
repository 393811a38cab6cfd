"""The body every Hydra app shares: validate the composed config, run the task in Hydra's run
dir, and turn a GancliError into one line and exit status 2.

In a sweep (-m) a job whose run fails (a non-finite loss, a refused resume) does not stop the
jobs after it: it is reported on one line, the job returns NaN to the sweeper (to one that
optimises, the worst value: see gancli.cli.hparams_search), and the command exits with status 1 once the
sweep is done (see `failed_jobs`). A bad config stops the sweep at
once, with status 2: it is the same mistake in every job.

Jobs may run in other processes (hydra/launcher=joblib, submitit_local) or on other machines
(hydra/launcher=slurm), so each failure is a file of its own in the folder that FAILED_JOBS_ENV
names, which the `gancli` process made before the sweep began.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from gancli.cli.errors import USAGE_ERROR, fail
from gancli.cli.hparams_search import value_for_sweeper
from gancli.cli.jax_setup import configure_jax, quiet_library_logs
from gancli.cli.parallel_jobs import PARALLEL_LAUNCHERS, PREALLOCATE, cores_of_this_job
from gancli.cli.run_record import discard_unused_run_dir
from gancli.errors import GancliError, StorageError
from gancli.run_dir.layout import RunDir
from gancli.run_dir.lock import RunLock

C = TypeVar("C")

FAILED_JOBS_ENV = "GANCLI_FAILED_JOBS"  # the folder of the sweep's failed jobs: a JSON file each


def record_failed_job(output_dir: str, error: str) -> None:
    folder = os.environ.get(FAILED_JOBS_ENV)
    if folder:
        # A file per job, written whole and then renamed: the folder may be shared by several
        # machines (a cluster's file system), where appends to one file from each could interleave.
        # A worker left from an earlier sweep of this process may name a folder gone since: its
        # job still said why above.
        name = Path(folder) / f"{socket.gethostname()}-{os.getpid()}-{time.monotonic_ns()}"
        record = {"dir": output_dir, "error": error, "time_ns": time.time_ns()}
        with contextlib.suppress(OSError):
            Path(f"{name}.part").write_text(json.dumps(record))
            os.replace(f"{name}.part", f"{name}.json")


def failed_jobs() -> list[tuple[str, str]]:
    """(job output dir, error) of each job of the sweep that failed, in the order they failed."""
    folder = os.environ.get(FAILED_JOBS_ENV)
    if not folder or not os.path.isdir(folder):
        return []
    jobs = sorted((json.loads(p.read_text()) for p in Path(folder).glob("*.json")), key=lambda job: job["time_ns"])
    return [(job["dir"], job["error"]) for job in jobs]


def hydra_app(command: str, parse: Callable[[dict[str, Any]], C], run: Callable[[C, Path], Any]) -> Callable[[], Any]:
    """The Hydra app of `gancli <command>` over conf/<command>.yaml: run_task(parse, run) in its run dir.

    Every app's conf sets hydra.job.name, so the jobs are named by their command, not by this module.
    """

    @hydra.main(config_path="pkg://gancli.conf", config_name=command, version_base="1.3")
    def app(cfg: DictConfig) -> Any:
        return run_task(f"gancli {command}", cfg, parse, run)

    return app


def run_task(command: str, cfg: DictConfig, parse: Callable[[dict[str, Any]], C],
             run: Callable[[C, Path], Any]) -> Any:
    """run(parse(cfg), run_dir), with JAX's cache and log levels set first."""
    quiet_library_logs()
    hydra_cfg = HydraConfig.get()
    output_dir = hydra_cfg.runtime.output_dir
    try:
        typed = parse(OmegaConf.to_container(cfg, resolve=True))
    except GancliError as err:
        _fail_on_input(command, err, hydra_cfg)
    configure_jax()
    try:
        try:
            with _own_cores(hydra_cfg):
                return value_for_sweeper(run(typed, Path(output_dir)), hydra_cfg.get("sweeper"))
        except OSError as err:  # an output path that cannot be written (the trainer says more itself)
            raise StorageError(f"could not read or write {err.filename or 'a file'} ({err.strerror or err}); "
                               "choose a writable place, or free some space") from err
    except GancliError as err:
        if hydra_cfg.mode != RunMode.MULTIRUN:
            if err.exit_status == USAGE_ERROR:
                _fail_on_input(command, err, hydra_cfg)
            fail(command, str(err), err.exit_status)
        print(f"{command}: error in job {hydra_cfg.job.num} ({output_dir}): {err}", file=sys.stderr, flush=True)
        record_failed_job(output_dir, str(err))
        # A group's seeds leave failure.json themselves, as process 0 of a run over several does.
        if command == "gancli train" and cfg.get("train", {}).get("num_seeds", 1) == 1 and not err.reported_elsewhere:
            _leave_failure(Path(output_dir), str(err))
        return value_for_sweeper(float("nan"), hydra_cfg.get("sweeper"))


def _leave_failure(run_dir: Path, error: str) -> None:
    """failure.json in a failed job's run dir, for `gancli report` to say why (a run that stopped
    on a non-finite loss has written its own). Not in a finished run (a rerun refused beside it
    does not undo it), nor in one another process is training into."""
    files = RunDir(run_dir)
    if files.failure_file.exists() or files.summary_file.exists():
        return
    # The disk that failed the run may fail this too: the line printed above said why.
    with contextlib.suppress(GancliError, OSError), RunLock(run_dir):
        records = files.metrics.read()
        files.write_failure(records[-1]["step"] if records else 0, error)


def _own_cores(hydra_cfg: Any) -> AbstractContextManager[Any]:
    """A job that runs beside others (hydra/launcher=joblib, submitit_local) claims its share of the cores."""
    if hydra_cfg.mode == RunMode.MULTIRUN and hydra_cfg.runtime.choices.get("hydra/launcher") in PARALLEL_LAUNCHERS:
        os.environ.setdefault(PREALLOCATE, "false")  # before JAX starts its backend: jobs may share a GPU
        return cores_of_this_job(hydra_cfg.launcher.get("n_jobs"))
    return nullcontext()


def _fail_on_input(command: str, err: GancliError, hydra_cfg: Any) -> NoReturn:
    """Exit 2, first removing the run dir Hydra made for this command if nothing else is in it.

    Only a directory Hydra named itself (outputs/<command>/<timestamp>): one the command line
    names (hydra.run.dir=...) may be the user's own, or another process's run starting up.
    """
    named = any(o.startswith(("hydra.run.dir=", "hydra.sweep.dir=")) for o in hydra_cfg.overrides.hydra)
    if hydra_cfg.output_subdir is not None and hydra_cfg.mode == RunMode.RUN and not named:
        discard_unused_run_dir(Path(hydra_cfg.runtime.output_dir), f"{hydra_cfg.job.name}.log")
    fail(command, str(err))
