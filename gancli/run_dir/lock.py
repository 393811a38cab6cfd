"""One writer per run directory: an exclusive lock that its process holds while it trains.

The lock is an advisory `flock` on <run_dir>/train.lock. The kernel releases it when the
process dies, however it dies, so a crashed or killed run never leaves the directory locked.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

from gancli.errors import GancliError
from gancli.run_dir.layout import RunDir


class RunLock:
    """`with RunLock(run_dir):` trains into run_dir, or raises GancliError if another process does."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self._file: Any = None

    def __enter__(self) -> RunLock:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        lock = open(RunDir(self.run_dir).lock_file, "a+")  # noqa: SIM115 - held open until __exit__
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            recorded = lock.read().strip()
            lock.close()
            # The pid is signed once the holder has read its checkpoints: until then it may be an earlier one's.
            holder = f"another process (pid {recorded})" if _alive(recorded) else "another process"
            raise GancliError(f"{holder} is training into {self.run_dir}; wait for it to finish or stop it, or "
                              "train into another run directory") from None
        self._file = lock
        return self

    def sign(self) -> None:
        """Write this process's pid into the lock file, for the message a second writer gets.

        Separate from taking the lock: a command refused after taking it leaves the file as it was.
        """
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"{os.getpid()}\n")
        self._file.flush()

    def __exit__(self, *exc: Any) -> None:
        # Unlocked, not deleted: deleting would let a waiting process lock a file no one else sees.
        fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True
