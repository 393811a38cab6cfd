"""`gancli resume <run_dir> [key=value ...]`: re-run `gancli train` into an existing run dir.

The run's own overrides (.hydra/overrides.yaml) come first, the new ones after and win, and
hydra.run.dir points at the run, so the trainer finds its checkpoints and continues.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from gancli.cli.positional import quote
from gancli.run_dir.layout import RunDir

HELP = """\
usage: gancli resume <run_dir> [key=value ...]

Continue a run from its newest checkpoint, with the overrides it was started with.
New overrides are applied on top, e.g. train.steps=40000 extends a finished run.
A change that alters any parameter's shape (model.*, prior.dim, ...) is refused.

Same as: gancli train <the run's overrides> [key=value ...] hydra.run.dir=<run_dir>
"""


def override_key(override: str) -> str:
    """'+train.x=1' -> 'train.x': the key an override sets, whatever its prefix."""
    return override.split("=", 1)[0].lstrip("+~")


def merge_overrides(saved: list[str], new: list[str]) -> list[str]:
    """The saved overrides with those that `new` sets again removed, then `new`."""
    replaced = {override_key(o) for o in new}
    return [o for o in saved if override_key(o) not in replaced] + list(new)


def train_arguments(args: list[str]) -> list[str]:
    """The `gancli train` command line that resumes the run named by args[0].

    Raises ValueError with a one-line message when the run dir cannot be resumed.
    """
    run_dir, new = Path(args[0]), args[1:]
    if not run_dir.is_dir():
        raise ValueError(f"run directory {run_dir} does not exist")
    saved_file = RunDir(run_dir).overrides_file
    if not saved_file.is_file():
        raise ValueError(f"{run_dir} is not a gancli run directory (it has no .hydra/overrides.yaml); "
                         "pass a directory that `gancli train` created, e.g. outputs/train/<timestamp>")
    if any(a in ("-m", "--multirun") for a in new):
        raise ValueError("resume continues one run: drop -m/--multirun")
    saved = yaml.safe_load(saved_file.read_text()) or []
    # How the processes of that launch met (distributed.*) is not the run's: a resume says its own.
    saved = [o for o in saved if not override_key(o).startswith("distributed.")]
    return [*merge_overrides(saved, new), f"hydra.run.dir={quote(str(run_dir))}"]
