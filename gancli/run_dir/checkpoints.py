"""Orbax checkpoints of the train state, each with JSON metadata that describes the run.

Every checkpoint carries a SHA-256 digest of its arrays in its metadata. Orbax already ignores
a save that never finished (`<step>.orbax-checkpoint-tmp`); the digest also catches a
finished one damaged later (bytes flipped or cut short on disk), which Orbax would restore as
if nothing were wrong. `newest_intact` skips damaged checkpoints and says which.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np

from gancli.errors import GancliError, StorageError

log = logging.getLogger(__name__)

# Checkpoints set aside: Orbax ignores names that are not steps, and nothing is deleted.
DAMAGED_SUFFIX = ".damaged"
ROLLED_BACK_SUFFIX = ".rolled-back"  # newer than the step a rollback went back to


def state_shapes(state: Any) -> dict[str, list[int]]:
    """{"g/hidden/0/kernel": [8, 128], ...}: what a resume must match exactly."""
    flat, _ = jax.tree_util.tree_flatten_with_path(state)
    return {jax.tree_util.keystr(path, simple=True, separator="/"): list(leaf.shape) for path, leaf in flat}


def host_array(leaf: Any) -> np.ndarray:
    """A leaf of the train state as a NumPy array; a typed PRNG key as its raw key data."""
    if not leaf.is_fully_addressable:  # replicated over several processes: this one's copy
        leaf = leaf.addressable_data(0)
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        leaf = jax.random.key_data(leaf)
    return np.asarray(jax.device_get(leaf))


def state_digest(state: Any, metadata: dict[str, Any]) -> str:
    """SHA-256 over the metadata (as canonical JSON, without the digest) and every array's path,
    dtype, shape and bytes: the config it holds (seed, rates) matters as much as the arrays."""
    digest = hashlib.sha256()
    described = {k: v for k, v in metadata.items() if k != "digest"}
    digest.update(json.dumps(described, sort_keys=True).encode())
    flat, _ = jax.tree_util.tree_flatten_with_path(state)
    for path, leaf in flat:
        array = np.ascontiguousarray(host_array(leaf))
        digest.update(f"{jax.tree_util.keystr(path)}|{array.dtype}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _on_one_device(abstract_state: Any) -> Any:
    """Restore targets placed on one device: without a placement Orbax restores an array onto
    the devices that saved it, and refuses if this process has other devices."""
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    return jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=device), abstract_state)


def _reason(err: BaseException) -> str:
    """An exception as a short clause: its type and the first line of its message."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text[:160]}" if text else type(err).__name__


class DamagedCheckpoint(Exception):
    """A checkpoint that cannot be read back as it was saved; the message says what is wrong."""


@dataclass(frozen=True)
class Restored:
    step: int
    metadata: dict[str, Any]
    state: Any
    skipped: tuple[tuple[int, str], ...]  # (step, what was wrong) of the newer, damaged checkpoints


class Checkpointer:
    """Saves asynchronously, keeps the newest `keep`, and ignores half-written checkpoints.

    Always `close()` it (it waits for a save in flight): an async save is lost if the
    process exits first. A save that fails (a full disk) raises StorageError, at the latest
    from the next call to `check()`, `save()`, `wait()` or `close()`.
    """

    def __init__(self, directory: Path, keep: int | None = None, read_only: bool = False):
        """read_only: create, delete and clean up nothing, so that reading a run's checkpoints is
        safe beside a process still training into the same directory."""
        self.directory = Path(directory).absolute()
        self._keep, self._read_only = keep, read_only
        self._opened: Any = None

    @property
    def _manager(self) -> Any:
        """Orbax's CheckpointManager, opened at first use: importing Orbax takes ~0.3 s that a
        fresh run need not spend before its first training steps."""
        if self._opened is None:
            self._opened = _open_manager(self.directory, self._keep, self._read_only)
        return self._opened

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def save(self, step: int, state: Any, metadata: dict[str, Any]) -> None:
        import orbax.checkpoint as ocp

        metadata = {**metadata, "digest": state_digest(state, metadata)}
        with self._storage_errors(f"could not save the checkpoint of step {step}"):
            self._manager.save(step, args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), metadata=ocp.args.JsonSave(metadata)))

    def metadata(self, step: int) -> dict[str, Any]:
        import orbax.checkpoint as ocp

        restored = self._manager.restore(step, args=ocp.args.Composite(metadata=ocp.args.JsonRestore()))
        return restored["metadata"]

    def restore(self, step: int, abstract_state: Any) -> Any:
        """The state saved at `step`, laid out like `abstract_state` (from jax.eval_shape), on
        this process's first device whatever devices saved it (a data parallel run's, say)."""
        import orbax.checkpoint as ocp

        restored = self._manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(_on_one_device(abstract_state))))
        return restored["state"]

    def read_verified(self, step: int, abstract_of: Callable[[dict[str, Any]], Any]) -> tuple[dict[str, Any], Any]:
        """(metadata, state) of `step`, the state checked against the digest saved with it.

        abstract_of(metadata) gives the restore target; a GancliError it raises (a config that
        does not fit the checkpoint) passes through. A checkpoint that cannot be read, or whose
        arrays differ from what was saved, raises DamagedCheckpoint.
        """
        try:
            metadata = self.metadata(step)
        except Exception as err:  # noqa: BLE001 - whatever Orbax raises, the metadata is unreadable
            raise DamagedCheckpoint(f"its metadata cannot be read ({_reason(err)})") from err
        abstract = abstract_of(metadata)
        try:
            state = self.restore(step, abstract)
        except Exception as err:  # noqa: BLE001 - whatever TensorStore raises, the arrays are unreadable
            raise DamagedCheckpoint(f"its arrays cannot be read ({_reason(err)})") from err
        saved_digest = metadata.get("digest")  # checkpoints of gancli before 0.2 have none
        if saved_digest is not None and state_digest(state, metadata) != saved_digest:
            raise DamagedCheckpoint("its arrays or metadata differ from those saved (the checksum does not match)")
        return metadata, state

    def newest_intact(self, abstract_of: Callable[[dict[str, Any]], Any]) -> Restored | None:
        """The newest checkpoint that reads back intact; None if there is no checkpoint at all.

        Damaged ones are skipped with a warning naming each. If every checkpoint is damaged,
        raises GancliError and touches nothing.
        """
        skipped: list[tuple[int, str]] = []
        for step in reversed(self.all_steps()):
            try:
                metadata, state = self.read_verified(step, abstract_of)
            except DamagedCheckpoint as damage:
                if not (self.directory / str(step)).exists():  # deleted by the run still training (train.keep)
                    continue
                log.warning("skipping the damaged checkpoint at step %d in %s: %s", step, self.directory, damage)
                skipped.append((step, str(damage)))
                continue
            return Restored(step, metadata, state, tuple(skipped))
        if skipped:
            described = "; ".join(f"step {s}: {why}" for s, why in skipped)
            raise GancliError(f"no intact checkpoint in {self.directory} ({described}); nothing was deleted: "
                              "move that directory away to train from scratch")
        return None

    def reload(self) -> None:
        """Read the list of checkpoints again, after steps were set aside."""
        self._manager.reload()

    def check(self) -> None:
        """Raise StorageError if an async save has failed since the last call."""
        if self._opened is None:
            return
        with self._storage_errors("could not save a checkpoint"):
            self._manager.check_for_errors()

    def wait(self) -> None:
        if self._opened is None:
            return
        with self._storage_errors("could not save a checkpoint"):
            self._manager.wait_until_finished()

    def close(self) -> None:
        if self._opened is None:
            return
        try:
            self.wait()
        finally:
            self._opened.close()

    def _storage_errors(self, what: str) -> AbstractContextManager[None]:
        return _storage_errors(f"{what} in {self.directory}", run_dir=self.directory.parent)


def _open_manager(directory: Path, keep: int | None, read_only: bool) -> Any:
    import orbax.checkpoint as ocp

    if read_only:
        # With several processes only the primary reads (see gancli.runner.distributed): no other takes part.
        alone = {"multiprocessing_options": ocp.options.MultiprocessingOptions(primary_host=0, active_processes={0})}
        options = ocp.CheckpointManagerOptions(read_only=True, create=False, save_interval_steps=0,
                                               enable_async_checkpointing=False,
                                               **(alone if jax.process_count() > 1 else {}))
    else:
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, enable_async_checkpointing=True,
            # A process killed mid-save leaves <step>.orbax-checkpoint-tmp: remove it.
            cleanup_tmp_directories=True,
        )
    _drop_closed_loop_reports()
    absl_log = logging.getLogger("absl")
    level = absl_log.level
    if read_only:  # Orbax warns that the directory is read only: asked for, so not news
        absl_log.setLevel(logging.ERROR)
    try:
        return ocp.CheckpointManager(directory, options=options)
    finally:
        absl_log.setLevel(level)


@contextmanager
def _storage_errors(what: str, run_dir: Path) -> Iterator[None]:
    """Turns any failure of a write inside the `with` into a StorageError saying what failed."""
    try:
        yield
    except GancliError:
        raise
    except Exception as err:  # noqa: BLE001 - Orbax and TensorStore raise many types for one failed write
        raise StorageError(f"{what} ({_reason(err)}); the checkpoints saved before are intact: free space or "
                           f"fix the directory, then resume with: gancli resume {run_dir}") from err


def _drop_closed_loop_reports() -> None:
    """When a save or a restore fails, TensorStore's other reads and writes of it still complete,
    into the event loop that Orbax has closed, and each reports a traceback (through
    sys.unraisablehook) that adds nothing to the one-line error: drop exactly those, and the
    warnings about the writes it never started."""
    if getattr(sys.unraisablehook, "drops_closed_loop_reports", False):
        return
    previous = sys.unraisablehook

    def hook(report: Any) -> None:
        if not (report.exc_type is RuntimeError and str(report.exc_value) == "Event loop is closed"):
            previous(report)

    hook.drops_closed_loop_reports = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook
    # The writes of a failed save that never started: their coroutines are dropped unawaited.
    warnings.filterwarnings("ignore", message="coroutine .* was never awaited", category=RuntimeWarning)


def set_aside(directory: Path, step: int, suffix: str = DAMAGED_SUFFIX) -> Path:
    """Rename the checkpoint of `step` to <step><suffix>[-k], out of Orbax's sight but kept for a
    look. A Checkpointer open on the directory must `reload()` afterwards."""
    source = Path(directory) / str(step)
    target = source.with_name(f"{step}{suffix}")
    k = 1
    while target.exists():
        target = source.with_name(f"{step}{suffix}-{k}")
        k += 1
    source.rename(target)
    return target
