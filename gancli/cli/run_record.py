"""Keeps a run's record of how it was started (.hydra/*.yaml) when a command into it fails.

Hydra rewrites <run_dir>/.hydra/ (config, overrides) before the task runs, so a resume that is
then refused (a shape change, a bad value) would leave the run recorded with overrides it never
ran with, and every later `gancli resume` would replay them. The files are put back on a usage
error (exit status 2). A new run directory that such an error leaves with nothing but Hydra's
record in it is removed: bad input changes nothing on disk.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gancli.cli.errors import USAGE_ERROR
from gancli.run_dir.files import write_atomically
from gancli.run_dir.layout import RunDir

RUN_DIR_OVERRIDE = "hydra.run.dir="


def run_dir_of(args: list[str]) -> Path | None:
    """The run dir a command line trains into, if it names one (the last hydra.run.dir= wins)."""
    named = [a[len(RUN_DIR_OVERRIDE):] for a in args if a.startswith(RUN_DIR_OVERRIDE)]
    if not named or any(a in ("-m", "--multirun") for a in args):
        return None
    value = named[-1]
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":  # resume quotes the path
        value = value[1:-1].replace("\\'", "'").replace("\\\\", "\\")
    return Path(value)


@contextmanager
def kept_on_failure(run_dir: Path | None) -> Iterator[None]:
    """Restore run_dir/.hydra/*.yaml as they were if the body exits with a usage error."""
    record = RunDir(run_dir).record if run_dir is not None else None
    saved = {p: p.read_text() for p in sorted(record.glob("*.yaml"))} if record and record.is_dir() else {}
    try:
        yield
    except SystemExit as exit_:
        if exit_.code == USAGE_ERROR and run_dir is not None and run_dir.is_dir():
            for path, text in saved.items():
                write_atomically(path, lambda tmp, text=text: tmp.write_text(text))
        raise


def discard_unused_run_dir(run_dir: Path, log_name: str) -> None:
    """Remove run_dir if it holds only what Hydra wrote before the task failed: .hydra/ and an
    empty log, and then its parents below the working directory that are left empty. A directory
    with anything else in it (checkpoints, metrics, a log with lines from an earlier attempt) is
    left alone."""
    run_dir = Path(run_dir)
    cwd = Path.cwd().resolve()
    record = RunDir(run_dir).record
    if run_dir.is_symlink() or run_dir.resolve() == cwd or not record.is_dir():
        return
    log = run_dir / log_name
    others = {p.name for p in run_dir.iterdir()} - {record.name, log_name}
    if others or (log.exists() and log.stat().st_size) or any(p.is_dir() for p in record.iterdir()):
        return
    with contextlib.suppress(OSError):  # a clean-up: never the reason a command fails
        shutil.rmtree(run_dir)
        for parent in run_dir.resolve().parents:  # and the folders made for it (outputs/train/), if now empty
            if parent == cwd or not parent.is_relative_to(cwd) or any(parent.iterdir()):
                break
            parent.rmdir()
