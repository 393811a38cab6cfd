"""Jobs of a sweep that run side by side (`hydra/launcher=joblib`): one core each.

One training keeps more than one core partly busy (XLA runs independent kernels of a step at
once, NumPy's BLAS splits the evaluation), so jobs left to the scheduler fight over the cores:
measured here, two unpinned jobs on 2 cores each ran at 0.62x the speed of one alone, two jobs
pinned one per core at 0.9x. So with N jobs at once on C cores each job claims C // N cores (at
least one) through a lock file per core, shared by every gancli sweep of the user, and pins
itself there; the `gancli` process also sets the BLAS thread counts to match before any job
starts (a job's process reads them once, when it loads NumPy). A variable the user has set is
left alone. Several jobs on one GPU must not each take most of its memory, so JAX's
preallocation is turned off too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PARALLEL_LAUNCHERS = ("joblib",)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _override(args: list[str], key: str) -> str | None:
    values = [a.split("=", 1)[1] for a in args if a.startswith(f"{key}=")]
    return values[-1] if values else None


def _cores() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def jobs_at_once(n_jobs: int | str | None, cores: int) -> int:
    """How many jobs joblib runs at once for hydra.launcher.n_jobs (joblib's meaning: -1 is
    every core, -2 all but one...): every core by default, never more than the cores."""
    try:
        n = int(n_jobs) if n_jobs is not None else -1
    except ValueError:
        return cores  # Hydra rejects it with its own message
    if n < 0:
        n = cores + 1 + n
    return max(1, min(n, cores))


def limit_threads_of_parallel_jobs(args: list[str], environ: os._Environ[str] | dict[str, str] = os.environ) -> None:
    """Set the BLAS thread counts if `args` pick a launcher that runs jobs side by side."""
    if _override(args, "hydra/launcher") not in PARALLEL_LAUNCHERS:
        return
    cores = len(_cores())
    threads = max(1, cores // jobs_at_once(_override(args, "hydra.launcher.n_jobs"), cores))
    for name in THREAD_VARIABLES:
        environ.setdefault(name, str(threads))
    environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


@contextmanager
def cores_of_this_job(n_jobs: int | str | None) -> Iterator[list[int]]:
    """Claim this job's share of the cores (see the module's docstring) and pin the whole
    process to them until the job ends; yields the cores, or [] if every core is claimed."""
    cores = _cores()
    share = max(1, len(cores) // jobs_at_once(n_jobs, len(cores)))
    claims = Path(tempfile.gettempdir()) / f"gancli-cores-{os.getuid()}"
    claims.mkdir(exist_ok=True)
    held: list[tuple[int, Any]] = []
    try:
        for core in cores:
            if len(held) == share:
                break
            lock = open(claims / f"core{core}.lock", "w")  # noqa: SIM115 - held until the job ends
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                continue
            held.append((core, lock))
        mine = [core for core, _ in held]
        if mine:
            _pin_process(set(mine))
        yield mine
    finally:
        for _, lock in held:
            lock.close()  # releases the flock


def _pin_process(cores: set[int]) -> None:
    """Pin every thread of this process (a reused worker already has JAX's) to `cores`; threads
    started later inherit it."""
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that has just ended
            os.sched_setaffinity(int(task.name), cores)
