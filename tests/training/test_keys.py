"""The key schedule: its numbers are those every saved run was trained with (a resumed run must draw
what it would have drawn), and each draw of a step and of an evaluation has a stream of its own.

This file is the one place that spells the fold_in numbers; every other test names its draw."""

import itertools

import jax
import numpy as np
import pytest

from gancli.training.keys import (
    RunKeys,
    batch_keys,
    critic_update_key,
    evaluation_key,
    evaluation_keys,
    generator_key,
    head_penalty_keys,
    mode_count_key,
    run_keys,
    sample_batch_key,
    step_key,
    unrolled_update_key,
)

fold_in, split, key_data = jax.random.fold_in, jax.random.split, jax.random.key_data


def same(a, b):
    return np.array_equal(key_data(a), key_data(b))


def test_a_runs_three_streams_are_the_seeds_key_split_in_three():
    keys = run_keys(11)
    assert isinstance(keys, RunKeys)
    assert all(same(mine, theirs) for mine, theirs in zip(keys, split(jax.random.key(11), 3), strict=True))


def test_a_steps_draws_follow_the_numbers_saved_runs_were_trained_with():
    train = run_keys(3).train
    step = step_key(train, 7)
    assert same(step, fold_in(train, 7))
    update = critic_update_key(step, 1)
    assert same(update, fold_in(step, 1))
    assert all(same(mine, theirs) for mine, theirs in zip(batch_keys(update), split(update), strict=True))
    assert [key_data(k).tolist() for k in head_penalty_keys(update, 2)] == [
        key_data(fold_in(fold_in(update, 2), h)).tolist() for h in range(2)]
    g = generator_key(step, 5)  # after d_steps=5 critic updates 0..4
    assert same(g, fold_in(step, 5))
    assert same(unrolled_update_key(g, 3), fold_in(fold_in(g, 1), 3))


def test_an_evaluations_draws_follow_the_numbers_saved_runs_were_evaluated_with():
    eval_key = run_keys(3).eval
    keys = evaluation_keys(3)
    samples, real = split(eval_key)
    assert same(keys.samples, samples) and same(keys.real, real) and same(keys.frames, fold_in(eval_key, 2))
    at_40 = evaluation_key(keys, 40)
    assert same(at_40, fold_in(samples, 40))
    assert same(sample_batch_key(at_40, 2), fold_in(at_40, 2))
    assert same(mode_count_key(at_40), fold_in(at_40, 1))


@pytest.mark.parametrize("d_steps", [1, 3])
def test_every_draw_of_a_step_has_a_stream_of_its_own(d_steps):
    step = step_key(run_keys(0).train, 12)
    updates = [critic_update_key(step, i) for i in range(d_steps)]
    g = generator_key(step, d_steps)
    unrolled = [unrolled_update_key(g, i) for i in range(2)]
    draws = [g] + [k for update in updates + unrolled for k in (*batch_keys(update), *head_penalty_keys(update, 2))]
    assert len(draws) == 1 + (d_steps + 2) * 4
    for a, b in itertools.combinations(draws, 2):
        assert not same(a, b)


def test_the_same_step_draws_the_same_keys_and_another_step_others():
    train = run_keys(0).train
    assert same(critic_update_key(step_key(train, 9), 0), critic_update_key(step_key(train, 9), 0))
    assert not same(step_key(train, 9), step_key(train, 10))


def test_the_evaluation_streams_are_distinct_and_fixed_by_the_seed():
    keys = evaluation_keys(0)
    for a, b in itertools.combinations(keys, 2):
        assert not same(a, b)
    assert all(same(a, b) for a, b in zip(keys, evaluation_keys(0), strict=True))
    assert not same(evaluation_key(keys, 20), evaluation_key(keys, 40))  # fresh samples at each evaluation
