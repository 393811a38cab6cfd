"""The train state: both players' parameters and Adam states, the step counter, the base key,
the learning-rate scale that a rollback lowers (with the count of rollbacks) and, where kept,
the running average of the generator's weights: one typed pytree, `TrainState`.

Its on-disk form (`to_tree`, `from_tree`) is the checkpoint layout gancli has always saved: a dict
of the leaves a run has, {"g", "g_opt", "step", "key", "lr_scale", "rollbacks", "d", "d_opt",
"g_ema", "g_ema_weight"}.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class TrainState:
    """A run's state after `step` steps. The optional parts are None where the run has none: no
    critic for an explicit model (d, d_opt), no weight average with train.ema_decay=0 (g_ema,
    g_ema_weight). None is an empty pytree, so jit, vmap and scan see only the parts there are."""

    g: Any  # the generator's parameters (an nnx.State)
    g_opt: Any  # its Adam state
    step: Array  # int32: steps taken
    key: Array  # the run's training key; a step's draws fold the step into it (gancli.training.keys)
    lr_scale: Array  # float32: both learning rates' factor, lowered by each rollback
    rollbacks: Array  # int32: rollbacks so far
    d: Any = None  # the critic's parameters
    d_opt: Any = None
    g_ema: Any = None  # the running sum of G's weights (see evaluated_generator)
    g_ema_weight: Array | None = None  # its total weight

    def replace(self, **changes: Any) -> TrainState:
        return dataclasses.replace(self, **changes)


# Leaves added to the train state after gancli 0.1.0, with their initial values: also what a
# state saved without them meant (full learning rates, no rollback). gancli.config.train's
# BEFORE_THE_KEY says the same of the config.
LATER_LEAVES = {"lr_scale": lambda: jnp.ones(()), "rollbacks": lambda: jnp.zeros((), jnp.int32)}


def to_tree(state: TrainState) -> dict[str, Any]:
    """The state as checkpoints hold it: a dict of the parts the run has."""
    return {f.name: getattr(state, f.name) for f in dataclasses.fields(state) if getattr(state, f.name) is not None}


def from_tree(tree: dict[str, Any]) -> TrainState:
    """A state from its checkpoint form, with the later leaves an older checkpoint lacks at their
    old meaning."""
    return TrainState(**{**{k: make() for k, make in LATER_LEAVES.items() if k not in tree}, **tree})


def stack_states(states: list[TrainState]) -> TrainState:
    """Several runs' states as one, each leaf with a new first axis: what a replicas chunk takes."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)


def restore_target(abstract: TrainState, saved_shapes: dict[str, list[int]]) -> dict[str, Any]:
    """The restore target, in checkpoint form, for a checkpoint whose leaves are `saved_shapes`:
    `abstract`'s without the later leaves an older checkpoint lacks (`from_tree` adds them back)."""
    return {k: v for k, v in to_tree(abstract).items() if k not in LATER_LEAVES or k in saved_shapes}


def evaluated_generator(state: TrainState) -> Any:
    """The generator weights that evaluation and sampling use: the average, if one is kept.

    The average starts at zero and is divided by its total weight (1 - decay^t for a constant
    decay, as Adam debiases its moments, Kingma & Ba 2015): a weighted mean of the iterates, not
    of the initialisation, and still one if a resume changes train.ema_decay.
    """
    if state.g_ema is None or not float(state.g_ema_weight):
        return state.g
    return jax.tree.map(lambda avg: avg / state.g_ema_weight, state.g_ema)
