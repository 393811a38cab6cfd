"""The path arguments of the commands that read runs, turned into the overrides their
Hydra apps take: `gancli eval <run_dir>` -> run_dir=<run_dir>, `gancli report <dir> <dir>` ->
dirs=[<dir>,<dir>]."""

from __future__ import annotations

from pathlib import Path

from gancli.errors import GancliError

# command -> (the config key its paths fill, whether it takes several)
PATH_ARGUMENTS = {"sample": ("run_dir", False), "eval": ("run_dir", False), "report": ("dirs", True)}
HELP_FLAGS = {"-h", "--help", "-hh", "--hydra-help", "--info", "-i", "-c", "--cfg", "-sc", "--shell-completion"}
# Hydra's flags whose next word is their value, not a path
VALUE_FLAGS = {"-c", "--cfg", "-p", "--package", "-cp", "--config-path", "-cn", "--config-name", "-cd", "--config-dir"}


def quote(path: str) -> str:
    """A path as a quoted Hydra override value, so spaces, commas and quotes survive the grammar."""
    return "'" + path.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _is_path(word: str) -> bool:
    # A word with '=' is an override, unless it names something on disk: Hydra's own
    # hydra.sweep.subdir=${hydra.job.override_dirname} makes job folders like `divergence=gan,seed=0`.
    return not word.startswith(("-", "+", "~")) and ("=" not in word or Path(word).exists())


def with_path_overrides(command: str, args: list[str]) -> list[str]:
    """args with their paths (words that are not flags, flag values or overrides) replaced by one
    override at the end, where Hydra's argument parser accepts it whatever flags come first.

    Raises GancliError when the command gets no path at all, or several where it takes one.
    """
    key, several = PATH_ARGUMENTS[command]
    paths, rest = [], []
    for i, word in enumerate(args):
        flag_value = i > 0 and args[i - 1] in VALUE_FLAGS
        (paths if _is_path(word) and not flag_value else rest).append(word)
    if not paths:
        if any(a.split("=", 1)[0] == key for a in rest) or any(a in HELP_FLAGS for a in rest):
            return rest
        what = "<dir> [<dir> ...]" if several else "<run_dir>"
        raise GancliError(f"name the {'directories' if several else 'run directory'} to read: "
                          f"gancli {command} {what} [key=value ...]")
    if len(paths) > 1 and not several:
        raise GancliError(f"gancli {command} reads one run directory, got {len(paths)}: {' '.join(paths)}; "
                          "to read several, run it once per directory (or use gancli report)")
    value = f"[{','.join(map(quote, paths))}]" if several else quote(paths[0])
    return [*rest, f"{key}={value}"]
