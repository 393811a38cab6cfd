"""Jobs of a sweep that run side by side (`hydra/launcher=joblib` or `submitit_local`): each on its
share of the cores.

One training keeps more than one core partly busy (XLA runs independent kernels of a step at
once, NumPy's BLAS splits the evaluation), so jobs left to the scheduler fight over the cores:
measured here (without pictures), two unpinned jobs on 2 cores each ran at 0.62x the speed of
one alone, two jobs pinned one per core at 0.9x. So with N jobs at once on C cores each job
claims C // N cores (at least one) through a lock file per core, shared by every gancli sweep of
the user, and pins itself there; the `gancli` process also sets the BLAS thread counts to match
before any job starts (a job's process reads them once, when it loads NumPy). A variable the
user has set is left alone. Several jobs on one GPU must not each take most of its memory, so
JAX's preallocation is turned off too.

submitit_local starts every job of a batch at once, each in a process of its own, with no n_jobs
to bound them: the jobs count as one per core (as joblib's default, n_jobs=-1), and jobs beyond
the cores run unpinned. SLURM jobs (hydra/launcher=slurm) are not pinned here: the cluster gives
each job its own cores (cpus_per_task), and a share of those would leave the rest idle.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path

PARALLEL_LAUNCHERS = ("joblib", "submitit_local")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
PREALLOCATE = "XLA_PYTHON_CLIENT_PREALLOCATE"


def _override(args: list[str], key: str) -> str | None:
    values = [a.split("=", 1)[1] for a in args if a.startswith(f"{key}=")]
    return values[-1] if values else None


def launcher_of(args: list[str]) -> str | None:
    """The launcher a command line picks (hydra/launcher=...), or None for Hydra's basic one."""
    return _override(args, "hydra/launcher")


def _cores() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def jobs_at_once(n_jobs: int | str | None, cores: int) -> int:
    """How many jobs share the cores for hydra.launcher.n_jobs (joblib's meaning: -1 is every
    core, -2 all but one...): every core by default, and at most the cores (a job more than
    that finds every core claimed and runs unpinned)."""
    try:
        n = int(n_jobs) if n_jobs is not None else -1
    except ValueError:
        return cores  # Hydra rejects it with its own message
    if n < 0:
        n = cores + 1 + n
    return max(1, min(n, cores))


def limit_threads_of_parallel_jobs(args: list[str], environ: MutableMapping[str, str] = os.environ) -> None:
    """Set the BLAS thread counts if `args` pick a launcher that runs jobs side by side."""
    if launcher_of(args) not in PARALLEL_LAUNCHERS:
        return
    cores = len(_cores())
    threads = max(1, cores // jobs_at_once(_override(args, "hydra.launcher.n_jobs"), cores))
    for name in THREAD_VARIABLES:
        environ.setdefault(name, str(threads))
    environ.setdefault(PREALLOCATE, "false")


@contextmanager
def cores_of_this_job(n_jobs: int | str | None) -> Iterator[list[int]]:
    """Claim this job's share of the cores (see the module's docstring) and pin the whole
    process to them until the job ends, then unpin it (a joblib worker runs job after job);
    yields the cores, or [] if every core is claimed or this system cannot pin (not Linux)."""
    claims = _claims_directory()
    if claims is None or not hasattr(os, "sched_setaffinity"):
        yield []
        return
    import fcntl  # POSIX only: imported here so that the CLI starts anywhere

    original = os.sched_getaffinity(0)
    cores = sorted(original)
    share = max(1, len(cores) // jobs_at_once(n_jobs, len(cores)))
    held: list[tuple[int, int]] = []  # (core, file descriptor of its claim)
    try:
        for core in cores:
            if len(held) == share:
                break
            fd = os.open(claims / f"core{core}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # claimed by another job
                os.close(fd)
                continue
            held.append((core, fd))
        mine = [core for core, _ in held]
        if mine:
            _pin_process(set(mine))
        try:
            yield mine
        finally:
            if mine:
                _pin_process(original)
    finally:
        for _, fd in held:
            os.close(fd)  # releases the flock


def _claims_directory() -> Path | None:
    """$TMPDIR/gancli-cores-<uid>, private to this user; None if it cannot be (someone else's)."""
    if not hasattr(os, "getuid"):
        return None
    claims = Path(tempfile.gettempdir()) / f"gancli-cores-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        claims.mkdir(mode=0o700)
    info = claims.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        return None  # a link, another user's, or one others may have written to: pin nothing rather than trust it
    if info.st_mode & 0o077:  # ours and only readable by others (made by hand, say): make it private
        try:
            claims.chmod(0o700)
        except OSError:
            return None
    return claims


def _pin_process(cores: set[int]) -> None:
    """Pin every thread of this process (a reused worker already has JAX's) to `cores`; threads
    started later inherit it."""
    tasks = Path("/proc/self/task")
    for tid in [int(t.name) for t in tasks.iterdir()] if tasks.is_dir() else [0]:
        with contextlib.suppress(OSError):  # a thread that has just ended
            os.sched_setaffinity(tid, cores)
