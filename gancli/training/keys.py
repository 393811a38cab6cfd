"""The key schedule of a training run: which random stream feeds which draw.

Every random number of a run follows from its seed and the step through these functions, and
nothing else folds or splits a run's keys: a resumed run draws what an uninterrupted one would,
and a test names the draw it checks instead of re-typing the numbers. The numbers are part of
the checkpoint format (a run saved by an earlier version resumes with them): never change one.

    seed --split 3--> init (the players' initial weights), train, eval
    train --fold_in step--> the step's key
        critic update i (i < d_steps): fold_in i --split--> real batch, fake batch
                                                 fold_in 2 --> penalty --fold_in h--> head h's penalty
        generator update: fold_in d_steps --> its fake batch
                          --fold_in 1, fold_in i--> unrolled critic update i (an update key as above)
        maximum likelihood: the step's key draws the data batch
    eval --split--> samples (--fold_in step--> that evaluation's; --fold_in b--> its batch b;
                             --fold_in 1--> the extra samples that count image modes), real
         --fold_in 2--> frames (the fixed noise of the snapshots)
"""

from __future__ import annotations

from typing import NamedTuple

import jax
from jax import Array

PENALTY = 2  # fold_in number of a critic update's penalty stream (0 and 1 are its batches' split)
UNROLL = 1  # fold_in number of the generator key's unrolled critic updates (its own batch takes the key itself)
MODE_COUNT = 1  # fold_in number of an evaluation's extra samples for counting image modes
FRAMES = 2  # fold_in number of the snapshots' fixed noise in the eval stream (0 and 1 are its split)


class RunKeys(NamedTuple):
    init: Array  # the players' initial weights
    train: Array  # kept in the train state: every step's draws
    eval: Array  # every evaluation's draws


def run_keys(seed: int | Array) -> RunKeys:
    """The three independent streams every random number of a run comes from."""
    return RunKeys(*jax.random.split(jax.random.key(seed), 3))


def step_key(train_key: Array, step: int | Array) -> Array:
    return jax.random.fold_in(train_key, step)


def critic_update_key(step_key: Array, i: int | Array) -> Array:
    """The key of a step's critic update i (i < d_steps)."""
    return jax.random.fold_in(step_key, i)


def generator_key(step_key: Array, d_steps: int) -> Array:
    """The key of a step's generator update, after its d_steps critic updates; it draws G's batch."""
    return jax.random.fold_in(step_key, d_steps)


def batch_keys(update_key: Array) -> tuple[Array, Array]:
    """(real, fake): the keys of a critic update's data batch and generated batch."""
    real, fake = jax.random.split(update_key)
    return real, fake


def head_penalty_keys(update_key: Array, heads: int) -> list[Array]:
    """The key of each head's penalty in a critic update (a gradient penalty's interpolates)."""
    penalty = jax.random.fold_in(update_key, PENALTY)
    return [jax.random.fold_in(penalty, h) for h in range(heads)]


def unrolled_update_key(generator_key: Array, i: int | Array) -> Array:
    """The key of the i-th critic update that the generator looks ahead through (unroll_steps)."""
    return jax.random.fold_in(jax.random.fold_in(generator_key, UNROLL), i)


class EvaluationKeys(NamedTuple):
    samples: Array  # folded with the step: fresh generated samples at every evaluation
    real: Array  # the same real samples at every evaluation
    frames: Array  # the fixed noise of the snapshots: frames at different steps are comparable


def evaluation_keys(seed: int) -> EvaluationKeys:
    eval_key = run_keys(seed).eval
    # split(k) is k folded with 0 and 1 (partitionable Threefry): FRAMES = 2 is a stream of its own.
    samples, real = jax.random.split(eval_key)
    return EvaluationKeys(samples, real, jax.random.fold_in(eval_key, FRAMES))


def evaluation_key(keys: EvaluationKeys, step: int) -> Array:
    """The key of the generated samples of the evaluation at `step`."""
    return jax.random.fold_in(keys.samples, step)


def sample_batch_key(key: Array, b: int) -> Array:
    """The key of batch b of a draw too large for one generator call."""
    return jax.random.fold_in(key, b)


def mode_count_key(key: Array) -> Array:
    """The key of an evaluation's extra samples that count image modes."""
    return jax.random.fold_in(key, MODE_COUNT)
