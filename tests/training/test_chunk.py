"""The train chunk: up to `length` train steps in one call, the steps at or past `stop` skipped
(the state unchanged, their metrics zero), whether the steps loop in the compiled program or on
the host, for one run or for several seeds' runs side by side."""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gancli.training.chunk import make_train_chunk
from gancli.training.problem import build
from gancli.training.state import stack_states
from tests.helpers import SMOKE, compose_config

LENGTH = 10  # the smoke preset's train.chunk


@pytest.fixture(scope="module")
def smoke():
    """The smoke problem, two seeds' initial states, and its chunk: the programs most tests of the
    suite compile (one compilation each, shared through the session's cache)."""
    cfg = compose_config(*SMOKE)
    assert cfg.train.chunk == LENGTH
    problem, init = build(cfg)
    init = jax.jit(init)
    return problem, [init(np.int32(seed)) for seed in (0, 1)], make_train_chunk(problem, LENGTH)


def copy(state):
    """A fresh copy: a chunk donates the state it is given."""
    return jax.tree.map(jnp.copy, state)


def assert_close(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6)


def test_a_chunk_runs_its_steps_up_to_the_stop_and_skips_the_rest(smoke):
    problem, states, chunk = smoke
    state, metrics = chunk(copy(states[0]), np.int32(2))
    assert int(state.step) == 2
    assert set(metrics) == {*problem.metric_names, "step"}
    assert metrics["step"].tolist() == [1, 2] + [0] * 8  # 0 where a step was skipped
    for name in problem.metric_names:
        assert metrics[name].shape == (LENGTH,)
        assert np.all(np.asarray(metrics[name])[2:] == 0) and np.all(np.asarray(metrics[name])[:2] != 0)


@pytest.mark.slow  # compiles the step twice more; tests/end_to_end/test_image_runs.py checks DCGAN's
def test_the_host_loop_runs_the_same_steps_as_the_compiled_loop(smoke):
    """problem.host_loop (convolutions on a CPU) loops one jitted train step on the host: the same
    steps, the same metrics, the same skipped tail."""
    problem, states, chunk = smoke
    host_chunk = make_train_chunk(replace(problem, host_loop=True), LENGTH)
    compiled, compiled_metrics = chunk(copy(states[0]), np.int32(3))
    looped, looped_metrics = host_chunk(copy(states[0]), np.int32(3))
    assert int(looped.step) == 3 and looped_metrics["step"].tolist() == [1, 2, 3] + [0] * 7
    assert_close(looped.g, compiled.g)
    assert_close(looped.d, compiled.d)
    assert_close(looped_metrics, compiled_metrics)
    # Already past its stop, it runs nothing (and does not count backwards).
    again, metrics = host_chunk(copy(looped), np.int32(2))
    assert int(again.step) == 3 and not np.asarray(metrics["step"]).any()
    jax.tree.map(np.testing.assert_array_equal, jax.tree.map(np.asarray, again.g),
                 jax.tree.map(np.asarray, looped.g))


def test_seeds_trained_side_by_side_each_train_as_they_would_alone(smoke):
    problem, states, chunk = smoke
    together, metrics = make_train_chunk(problem, LENGTH, replicas=True)(stack_states(copy(states)), np.int32(3))
    assert together.step.tolist() == [3, 3]
    assert metrics["step"].shape == (2, LENGTH)  # a row per seed
    assert metrics["step"].tolist() == [[1, 2, 3] + [0] * 7] * 2
    for seed, state in enumerate(states):
        alone, alone_metrics = chunk(copy(state), np.int32(3))
        assert_close(jax.tree.map(lambda leaf, i=seed: leaf[i], together.g), alone.g)
        assert_close({k: v[seed] for k, v in metrics.items()}, alone_metrics)
