"""The body every Hydra app shares: validate the composed config, run the task in Hydra's run
dir, and turn a GancliError into one line and exit status 2.

In a sweep (-m) a job whose run fails (a non-finite loss, a refused resume) does not stop the
jobs after it: it is reported on one line, the job returns NaN to the sweeper, and the command
exits with status 1 once the sweep is done (see `failed_jobs`). A bad config stops the sweep at
once, with status 2: it is the same mistake in every job.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from gancli.cli.errors import USAGE_ERROR, fail
from gancli.cli.jax_setup import configure_jax, quiet_library_logs
from gancli.cli.run_record import discard_unused_run_dir
from gancli.errors import GancliError, StorageError

C = TypeVar("C")

# (job output dir, error) of each job of this process's sweep that failed
_FAILED_JOBS: list[tuple[str, str]] = []


def failed_jobs() -> list[tuple[str, str]]:
    return list(_FAILED_JOBS)


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
            return run(typed, Path(output_dir))
        except OSError as err:  # an output path that cannot be written (the trainer says more itself)
            raise StorageError(f"could not read or write {err.filename or 'a file'} ({err.strerror or err}); "
                               "choose a writable place, or free some space") from err
    except GancliError as err:
        if hydra_cfg.mode != RunMode.MULTIRUN:
            if err.exit_status == USAGE_ERROR:
                _fail_on_input(command, err, hydra_cfg)
            fail(command, str(err), err.exit_status)
        print(f"{command}: error in job {hydra_cfg.job.num} ({output_dir}): {err}", file=sys.stderr, flush=True)
        _FAILED_JOBS.append((output_dir, str(err)))
        return float("nan")


def _fail_on_input(command: str, err: GancliError, hydra_cfg: Any) -> NoReturn:
    """Exit 2, first removing the run dir Hydra made for this command if nothing else is in it.

    Only a directory Hydra named itself (outputs/<command>/<timestamp>): one the command line
    names (hydra.run.dir=...) may be the user's own, or another process's run starting up.
    """
    named = any(o.startswith(("hydra.run.dir=", "hydra.sweep.dir=")) for o in hydra_cfg.overrides.hydra)
    if hydra_cfg.output_subdir is not None and hydra_cfg.mode == RunMode.RUN and not named:
        discard_unused_run_dir(Path(hydra_cfg.runtime.output_dir), f"{hydra_cfg.job.name}.log")
    fail(command, str(err))
