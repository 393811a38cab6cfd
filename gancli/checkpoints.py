"""Orbax checkpoints of the train state, each with JSON metadata that describes the run."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

log = logging.getLogger(__name__)


def state_shapes(state: Any) -> dict[str, list[int]]:
    """{"g/hidden/0/kernel": [8, 128], ...}: what a resume must match exactly."""
    flat, _ = jax.tree_util.tree_flatten_with_path(state)
    return {jax.tree_util.keystr(path, simple=True, separator="/"): list(leaf.shape) for path, leaf in flat}


class Checkpointer:
    """Saves asynchronously, keeps the newest `keep`, and ignores half-written checkpoints.

    Always `close()` it (it waits for a save in flight): an async save is lost if the
    process exits first.
    """

    def __init__(self, directory: Path, keep: int | None = None, read_only: bool = False):
        """read_only: create, delete and clean up nothing, so that reading a run's checkpoints is
        safe beside a process still training into the same directory."""
        if read_only:
            options = ocp.CheckpointManagerOptions(read_only=True, create=False, save_interval_steps=0,
                                                   enable_async_checkpointing=False)
        else:
            options = ocp.CheckpointManagerOptions(
                max_to_keep=keep, create=True, enable_async_checkpointing=True,
                # A process killed mid-save leaves <step>.orbax-checkpoint-tmp: remove it.
                cleanup_tmp_directories=True,
            )
        absl_log = logging.getLogger("absl")
        level = absl_log.level
        if read_only:  # Orbax warns that the directory is read only: asked for, so not news
            absl_log.setLevel(logging.ERROR)
        try:
            self._manager = ocp.CheckpointManager(Path(directory).absolute(), options=options)
        finally:
            absl_log.setLevel(level)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def save(self, step: int, state: Any, metadata: dict[str, Any]) -> None:
        self._manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), metadata=ocp.args.JsonSave(metadata)))

    def metadata(self, step: int) -> dict[str, Any]:
        restored = self._manager.restore(step, args=ocp.args.Composite(metadata=ocp.args.JsonRestore()))
        return restored["metadata"]

    def restore(self, step: int, abstract_state: Any) -> Any:
        """The state saved at `step`, laid out like `abstract_state` (from jax.eval_shape)."""
        restored = self._manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state)))
        return restored["state"]

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()
