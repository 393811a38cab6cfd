"""The `gancli` entry point: dispatches `gancli <command> ...` to that command's Hydra app."""

from __future__ import annotations

import importlib
import os
import signal
import sys
import tempfile
from collections.abc import Callable

from gancli import __version__
from gancli.cli.errors import fail
from gancli.cli.hparams_search import quiet_plugin_deprecations
from gancli.cli.overrides import check_overrides
from gancli.cli.parallel_jobs import launcher_of, limit_threads_of_parallel_jobs
from gancli.cli.positional import PATH_ARGUMENTS, with_path_overrides
from gancli.cli.run_record import kept_on_failure, run_dir_of
from gancli.cli.task import FAILED_JOBS_ENV, failed_jobs
from gancli.errors import GancliError

COMMANDS = {
    "train": "train a GAN (resumes if its run dir has checkpoints)",
    "resume": "continue a run: gancli resume <run_dir> [key=value ...]",
    "sample": "draw from a trained run: gancli sample <run_dir> n=10000 out=samples.npy",
    "eval": "every metric of a trained run: gancli eval <run_dir> (writes <run_dir>/eval.json)",
    "report": "compare runs: gancli report <sweep_dir> [<dir> ...] (report.md, report.csv, report.png)",
    "estimate": "train only the critic between two known distributions: estimate vs exact D_f(P||Q)",
}
# The commands that are Hydra apps of their own, each with conf/<name>.yaml.
HYDRA_APPS = ("train", "sample", "eval", "report", "estimate")
# Launchers whose jobs run on other machines: they cannot see this one's temporary directory.
CLUSTER_LAUNCHERS = ("slurm", "submitit_slurm")

HELP = """\
usage: gancli <command> [key=value ...] [hydra flags]

commands:
{commands}

Each command is a Hydra app: `gancli train --help` lists its config groups, `--cfg job` prints
the composed config, `-m` runs a sweep (e.g. gancli train -m divergence=kl,js,gan seed=0,1).
Tab completion in bash: eval "$(gancli train -sc install=bash)"; gancli --version prints the version.
"""


def _hydra_app(command: str) -> Callable[[], object]:
    """The command's @hydra.main function, imported only when it runs (Hydra is slow to import)."""
    module = importlib.import_module(f"gancli.cli.apps.{command}")
    return module.app


def _failed_jobs_parent(args: list[str]) -> str | None:
    """Where the sweep's folder of failed jobs goes: the temporary directory (None), or for jobs on
    other machines the working directory, which a cluster's nodes share as they share the sweep
    dir (outputs/multirun/... by default)."""
    return os.getcwd() if launcher_of(args) in CLUSTER_LAUNCHERS else None


def _run_hydra_app(command: str, args: list[str]) -> int:
    """Run the command's Hydra app with `args` as if it were its own program."""
    try:
        check_overrides(command, args)
    except GancliError as err:
        fail(f"gancli {command}", str(err))
    sys.argv = [sys.argv[0], *args]  # argv[0] stays `gancli`: Hydra's completion script names it
    limit_threads_of_parallel_jobs(args)
    quiet_plugin_deprecations()
    with (kept_on_failure(run_dir_of(args)),
          tempfile.TemporaryDirectory(prefix=".gancli-failed-jobs-", dir=_failed_jobs_parent(args)) as scratch):
        previous = os.environ.get(FAILED_JOBS_ENV)
        os.environ[FAILED_JOBS_ENV] = scratch  # jobs' processes inherit it
        try:
            _hydra_app(command)()
            failed = failed_jobs()
        finally:
            if previous is None:
                del os.environ[FAILED_JOBS_ENV]
            else:
                os.environ[FAILED_JOBS_ENV] = previous
    if failed:  # a sweep went on past its failed jobs: say which, and exit non-zero
        print(f"gancli {command}: {len(failed)} job(s) of the sweep failed: {', '.join(d for d, _ in failed)}",
              file=sys.stderr)
        return 1
    return 0


def _complete(args: list[str]) -> int:
    """Bash completion: Hydra's script runs `gancli -sc query=bash` with the whole line in COMP_LINE.

    Complete the command word here; after it, drop the command from COMP_LINE so the
    command's own Hydra app sees the line it expects (program name, then overrides).
    """
    line = os.environ.get("COMP_LINE", "")
    words = line.split()
    typing_command = len(words) < 2 or (len(words) == 2 and not line.endswith(" "))
    if typing_command:
        prefix = words[1] if len(words) == 2 else ""
        print(" ".join(c for c in COMMANDS if c.startswith(prefix)))
        return 0
    command = words[1]
    if command not in HYDRA_APPS or command in PATH_ARGUMENTS:
        return 0  # a directory comes first: leave it to bash's file completion
    start = line.index(command)
    os.environ["COMP_LINE"] = line[:start] + line[start + len(command):].lstrip()
    point = int(os.environ.get("COMP_POINT", len(line)))
    os.environ["COMP_POINT"] = str(max(0, point - (len(line) - len(os.environ["COMP_LINE"]))))
    sys.argv = [sys.argv[0], *args]
    _hydra_app(command)()
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return _dispatch(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:  # Ctrl-C before training starts, or in a command that saves nothing
        print("gancli: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT


def _dispatch(args: list[str]) -> int:
    if not args or args[0] in ("-h", "--help", "help"):
        width = max(map(len, COMMANDS))
        print(HELP.format(commands="\n".join(f"  {c:<{width}}  {d}" for c, d in COMMANDS.items())))
        return 0
    if args[0] in ("-V", "--version"):
        print(f"gancli {__version__}")
        return 0
    if args[0] in ("-sc", "--shell-completion") and len(args) > 1 and args[1].startswith("query="):
        return _complete(args)
    command, rest = args[0], args[1:]
    if command in PATH_ARGUMENTS:
        try:
            rest = with_path_overrides(command, rest)
        except GancliError as err:
            fail(f"gancli {command}", str(err))
    if command in HYDRA_APPS:
        return _run_hydra_app(command, rest)
    if command == "resume":
        from gancli.cli.apps.resume import HELP as RESUME_HELP
        from gancli.cli.apps.resume import train_arguments

        if not rest or rest[0] in ("-h", "--help"):
            print(RESUME_HELP)
            return 0
        try:
            train_args = train_arguments(rest)
        except ValueError as err:
            fail("gancli resume", str(err))
        return _run_hydra_app("train", train_args)
    fail("gancli", f"unknown command {command!r}; choose one of: {', '.join(COMMANDS)} (gancli --help)")


if __name__ == "__main__":
    sys.exit(main())
