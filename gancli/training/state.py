"""The train state: one pytree of both players' parameters and Adam states, the step counter,
the base key, the learning-rate scale that a rollback lowers (with the count of rollbacks) and,
where kept, the running average of the generator's weights.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

State = dict[str, Any]
# Leaves added to the train state after gancli 0.1.0, with their initial values: also what a
# state saved without them meant (full learning rates, no rollback).
LATER_LEAVES = {"lr_scale": lambda: jnp.ones(()), "rollbacks": lambda: jnp.zeros((), jnp.int32)}


def stack_states(states: list[State]) -> State:
    """Several runs' states as one, each leaf with a new first axis: what a replicas chunk takes."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)


def restore_target(abstract: State, saved_shapes: dict[str, list[int]]) -> State:
    """The restore target for a checkpoint whose leaves are `saved_shapes`: `abstract` without
    the later leaves that an older checkpoint lacks (`complete_state` adds them back)."""
    return {k: v for k, v in abstract.items() if k not in LATER_LEAVES or k in saved_shapes}


def complete_state(state: State) -> State:
    """A restored state with the later leaves an older checkpoint lacks, at their old meaning."""
    return {**{k: make() for k, make in LATER_LEAVES.items() if k not in state}, **state}


def evaluated_generator(state: State) -> Any:
    """The generator weights that evaluation and sampling use: the average, if one is kept.

    The average starts at zero and is divided by its total weight (1 - decay^t for a constant
    decay, as Adam debiases its moments, Kingma & Ba 2015): a weighted mean of the iterates, not
    of the initialisation, and still one if a resume changes train.ema_decay.
    """
    if "g_ema" not in state or not float(state["g_ema_weight"]):
        return state["g"]
    weight = state["g_ema_weight"]
    return jax.tree.map(lambda avg: avg / weight, state["g_ema"])
