"""One run over several processes, on one machine or several (`jax.distributed`).

Every process trains the same program on its own devices: the batch is split over the devices
of all of them (train.devices) and the gradients are summed across processes by XLA. Process 0
(the primary) does everything else: it reads the run's checkpoints, evaluates, draws, writes the
metrics, and decides. The other processes (followers) only do what must be done on every
process, when the primary says so: take the state it broadcasts, run a chunk to a step, save a
checkpoint together (Orbax writes the replicated arrays once, from the primary), and stop with
the primary's exit status, whatever ended its run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from typing import Any

import jax
import numpy as np

from gancli.config.train import DistributedConfig
from gancli.errors import GancliError
from gancli.run_dir.checkpoints import host_array
from gancli.training.state import to_tree

log = logging.getLogger(__name__)

# What the primary tells the followers before each step of the protocol: [op, step, value].
PLACE, CHUNK, SAVE, END = range(4)
SLURM_STEP_TASKS = "SLURM_STEP_NUM_TASKS"  # srun's tasks (SLURM_NTASKS is the allocation's, srun or not)
_joined = False  # this process has joined the run's others (jax.distributed allows it once)
_ended = False  # the primary has sent END: the followers are gone, no collective may follow


def initialize(cfg: DistributedConfig) -> None:
    """Join the processes of one run, if this is one of several: as `distributed.*` says, or as
    SLURM says when it started several tasks (srun, or the slurm launcher's tasks_per_node).
    Must come before anything asks JAX for its devices."""
    global _ended, _joined
    _ended = False  # a new run: its followers wait for their orders
    if _joined or (cfg.coordinator is None and int(os.environ.get(SLURM_STEP_TASKS, "1")) <= 1):
        return  # joined for an earlier job of a sweep in this process, or one process alone
    if cfg.coordinator is not None and (cfg.num_processes is None or cfg.process_id is None):
        raise GancliError("distributed.coordinator needs distributed.num_processes and distributed.process_id too "
                          "(this process's number, 0 for the one at the coordinator's address)")
    # CPU processes exchange their gradients over Gloo (GPUs use NCCL whatever this says).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(cfg.coordinator, cfg.num_processes, cfg.process_id)
    except (RuntimeError, ValueError) as err:
        raise GancliError(f"could not join the run's processes ({str(err).splitlines()[0][:200]}); check "
                          "distributed.coordinator (host:port of process 0) and that every process started") from err
    _joined = True
    if not is_primary():  # the primary saves and stops for all: a follower gone mid-collective would hang it
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
    log.info("process %d of %d, devices: %s", jax.process_index(), jax.process_count(), jax.devices())


def is_primary() -> bool:
    return jax.process_index() == 0


def several_processes() -> bool:
    return jax.process_count() > 1


def end(status: int) -> None:
    """The primary's last order, once, whatever ends the run (a refused resume before any other
    order included): the followers close their checkpointers and exit with `status`."""
    global _ended
    if several_processes() and is_primary() and not _ended:
        _ended = True
        with contextlib.suppress(PeerFailed):  # a follower that never started: it is leaving too
            tell(END, value=status)


class PeerFailed(GancliError):
    """Another process of the run could not start it: every process stops, saying so."""


def tell(op: int, step: int = 0, value: int = 0, ok: bool = True) -> tuple[int, int, int]:
    """The primary's next order to the followers; every process calls it and gets the primary's.

    Each process also says whether it is fit to go on (`ok`): a follower that could not set the
    run up says so at its first order, and then every process stops (PeerFailed), rather than
    the others waiting in a collective it will never join."""
    from jax.experimental import multihost_utils

    global _ended
    rows = np.asarray(multihost_utils.process_allgather(np.array([op, step, value, int(ok)], dtype=np.int64)))
    if not rows[:, 3].all():
        _ended = True  # no further collective: the process that failed is leaving
        failed = ", ".join(str(i) for i in np.flatnonzero(rows[:, 3] == 0))
        raise PeerFailed(f"process {failed} of the run could not start it (its output says why); every process stops")
    return int(rows[0, 0]), int(rows[0, 1]), int(rows[0, 2])


def abandon() -> None:
    """A follower that could not set the run up: say so at the primary's first order."""
    with contextlib.suppress(PeerFailed):
        tell(0, ok=False)


def share_state(state: Any, sharding: Any) -> Any:
    """The primary's `state` on every device of `sharding`, in every process (the followers pass
    any state of the same layout). Typed PRNG keys travel as their raw data."""
    from jax.experimental import multihost_utils

    is_key = jax.tree.map(lambda leaf: jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key), state)
    host = multihost_utils.broadcast_one_to_all(jax.tree.map(host_array, state))
    wrap = jax.jit(jax.random.wrap_key_data, out_shardings=sharding)
    return jax.tree.map(lambda data, key: wrap(data) if key else jax.device_put(data, sharding), host, is_key)


def follow(chunk: Any, template: Any, sharding: Any, checkpointer: Any) -> int:
    """A follower's whole run: do what the primary says until it ends; returns its exit status."""
    state = template
    while True:
        op, step, value = tell(0)
        if op == PLACE:
            state = share_state(state, sharding)
        elif op == CHUNK:
            state, _ = chunk(state, np.int32(value))
        elif op == SAVE:
            checkpointer.save(step, to_tree(state), {"step": step})  # the primary's metadata is the one written
        elif op == END:
            checkpointer.close()
            return value
