"""Data parallel training (`train.devices`): the batch split over devices, the parameters copied.

The train step samples its batch inside the program; a sharding constraint on each batch makes
XLA split the batch's work over a `jax.sharding.Mesh` of the chosen devices and sum the
gradients across them. Random numbers do not depend on the split (JAX's partitionable
Threefry), so a run on n devices computes what it computes on one, up to the order of float
sums. With `jax.distributed` set up, `all` spans the devices of every process.
"""

from __future__ import annotations

from typing import Any

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gancli.errors import GancliError

BATCH_AXIS = "batch"


def chosen_devices(setting: int | str, batch_size: int, pack: int) -> list[Any]:
    """The devices `train.devices` names: `auto` (one: measured on this project's 2-core machine,
    a batch of 512 split over two host devices ran at 0.95-0.98x of one; every process's, for a
    run started over several), `all`, or a count. Each device must get whole packs of the batch."""
    available = jax.devices()
    if setting == "auto":  # a run started over several processes (gancli.runner.distributed) means them all
        return available if jax.process_count() > 1 else available[:1]
    count = len(available) if setting == "all" else int(setting)
    if count > len(available):
        raise GancliError(f"train.devices={setting} asks for {count} devices and JAX sees {len(available)} "
                          f"({available[0].platform}); pass train.devices=all, or on a CPU make more with "
                          f"JAX_NUM_CPU_DEVICES={count}")
    per_device = batch_size // count
    if batch_size % count or per_device % pack:
        raise GancliError(f"train.batch_size={batch_size} does not split into whole packs of {pack} over {count} "
                          f"devices: pass a batch size that is a multiple of {count * pack}")
    return available[:count]


def mesh_of(devices: list[Any]) -> Mesh:
    return Mesh(devices, (BATCH_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """A batch's rows split over the mesh."""
    return NamedSharding(mesh, PartitionSpec(BATCH_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    """An array copied whole onto every device of the mesh: the parameters and optimiser states."""
    return NamedSharding(mesh, PartitionSpec())
