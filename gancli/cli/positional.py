"""The leading path arguments of the commands that read runs, turned into the overrides their
Hydra apps take: `gancli eval <run_dir>` -> run_dir=<run_dir>, `gancli report <dir> <dir>` ->
dirs=[<dir>,<dir>]."""

from __future__ import annotations

from gancli.errors import GancliError

# command -> (the config key its paths fill, whether it takes several)
PATH_ARGUMENTS = {"sample": ("run_dir", False), "eval": ("run_dir", False), "report": ("dirs", True)}
HELP_FLAGS = {"-h", "--help", "-hh", "--hydra-help", "--info", "-i", "-c", "--cfg", "-sc", "--shell-completion"}


def quote(path: str) -> str:
    """A path as a quoted Hydra override value: any character survives the override grammar."""
    return "'" + path.replace("\\", "\\\\").replace("'", "\\'") + "'"


def with_path_overrides(command: str, args: list[str]) -> list[str]:
    """args with the leading paths (words with no '=' that are not flags) replaced by one override.

    Raises GancliError when the command gets no path at all, or several where it takes one.
    """
    key, several = PATH_ARGUMENTS[command]
    count = next((i for i, a in enumerate(args) if "=" in a or a.startswith("-")), len(args))
    paths, rest = args[:count], args[count:]
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
    return [f"{key}={value}", *rest]
