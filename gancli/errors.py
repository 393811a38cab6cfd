"""The exceptions whose message is shown to the user as a one-line error, with their exit status,
and the one error every registry gives for a name it lacks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

T = TypeVar("T")


class GancliError(Exception):
    """A failure the user can act on: printed as one line, no traceback, non-zero exit (2: the
    input was wrong)."""

    exit_status = 2
    reported_elsewhere = False  # another process of the run reports it, and leaves its failure.json


class TrainingError(GancliError):
    """Training itself failed (a non-finite loss), not the input: exit status 1."""

    exit_status = 1


class StorageError(GancliError):
    """A file could not be written (a full disk, a lost mount): exit status 1. What was saved
    before the failure is left intact."""

    exit_status = 1


def unknown(what: str, name: str, choices: Iterable[str]) -> GancliError:
    """The one error for a name that is none of the choices: it names them all."""
    return GancliError(f"unknown {what} {name!r}; choose one of: {', '.join(choices)}")


def lookup(registry: Mapping[str, T], name: str, what: str) -> T:
    """registry[name], or the error for an unknown name, listing the registry's names."""
    try:
        return registry[name]
    except KeyError:
        raise unknown(what, name, registry) from None
