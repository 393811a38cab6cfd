"""Remedies for mode collapse: PacGAN packing (model.pack) and the Unrolled GAN (train.unroll_steps)."""

from __future__ import annotations

from dataclasses import replace

import jax
import numpy as np
import optax
import pytest

from gancli.errors import GancliError
from gancli.training.chunk import make_train_chunk
from gancli.training.keys import unrolled_update_key
from gancli.training.problem import build, critic, pack
from gancli.training.state import evaluated_generator
from gancli.training.step import _critic_update, _generator_objective


def test_pack_puts_consecutive_samples_side_by_side(smoke_config):
    problem, _ = build(smoke_config("model.pack=3", "train.batch_size=6"))
    x = np.arange(12.0).reshape(6, 2)
    np.testing.assert_array_equal(pack(problem, x), [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]])


def test_packed_critic_sees_pack_times_the_data_dimension(smoke_config):
    problem, init = build(smoke_config("model.pack=4"))
    state = jax.jit(init)()
    first_layer = state.d["hidden"][0]["kernel"][...]
    assert first_layer.shape[0] == 4 * 2
    scores = critic(problem, state.d, pack(problem, np.zeros((64, 2), np.float32)))
    assert scores.shape == (16, 1)


@pytest.mark.slow
def test_packed_run_trains(smoke_config):
    problem, init = build(smoke_config("model.pack=2", "divergence=wgan_gp"))
    state, metrics = make_train_chunk(problem, 10)(jax.jit(init)(), np.int32(10))
    assert np.isfinite(np.asarray(metrics["d_loss"])).all() and int(state.step) == 10


def test_batch_must_split_into_whole_packs(smoke_config):
    with pytest.raises(GancliError, match="multiple of it"):
        build(smoke_config("model.pack=3", "train.batch_size=64"))


def _g_loss_and_grad(problem, state, unroll, d_opt):
    problem = replace(problem, unroll_steps=unroll, d_opt=d_opt)
    return jax.value_and_grad(_generator_objective, argnums=1)(problem, state.g, state.d,
                                                                d_opt.init(state.d), jax.random.key(5))


def _flat(tree):
    return np.concatenate([np.ravel(x) for x in jax.tree.leaves(tree)])


@pytest.mark.slow
def test_unrolling_a_frozen_critic_changes_nothing(smoke_config):
    """With a critic learning rate of 0, k unrolled updates leave D as it was: same loss, same gradient."""
    problem, init = build(smoke_config())
    state = jax.jit(init)()
    frozen = optax.sgd(0.0)
    plain_loss, plain_grad = _g_loss_and_grad(problem, state, 0, frozen)
    loss, grad = _g_loss_and_grad(problem, state, 3, frozen)
    np.testing.assert_allclose(loss, plain_loss, rtol=1e-6)
    np.testing.assert_allclose(_flat(grad), _flat(plain_grad), rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_generator_differentiates_through_the_unrolled_critic_updates(smoke_config):
    """G's unrolled gradient includes how D's updates depend on G (Metz et al. 2017, eq. 12): it
    differs from the gradient at the same updated critic with that dependence cut."""
    problem, init = build(smoke_config("train.unroll_steps=3"))
    state = jax.jit(init)()
    learning = optax.sgd(0.5)
    loss, grad = _g_loss_and_grad(problem, state, 3, learning)
    plain_loss, _ = _g_loss_and_grad(problem, state, 0, learning)
    assert float(loss) != pytest.approx(float(plain_loss), rel=1e-4)  # the updates moved D

    unrolled = replace(problem, d_opt=learning)

    def d_after(g_params):  # D's parameters after the 3 unrolled updates, as a function of G
        d, opt = state.d, learning.init(state.d)
        for i in range(3):
            d, opt, _, _ = _critic_update(unrolled, d, opt, g_params, unrolled_update_key(jax.random.key(5), i))
        return d

    d_k = jax.lax.stop_gradient(d_after(state.g))
    cut_grad = jax.grad(_generator_objective, argnums=1)(replace(problem, unroll_steps=0), state.g, d_k,
                                                          learning.init(d_k), jax.random.key(5))
    cut_loss = _generator_objective(replace(problem, unroll_steps=0), state.g, d_k, learning.init(d_k),
                                    jax.random.key(5))
    np.testing.assert_allclose(cut_loss, loss, rtol=1e-5)  # same critic, same loss ...
    assert not np.allclose(_flat(cut_grad), _flat(grad), rtol=1e-3, atol=1e-6)  # ... but another gradient


@pytest.mark.slow
def test_unrolled_run_trains_and_stays_finite(smoke_config):
    problem, init = build(smoke_config("train.unroll_steps=2"))
    state, metrics = make_train_chunk(problem, 10)(jax.jit(init)(), np.int32(10))
    assert np.isfinite(np.asarray(metrics["g_loss"])).all() and int(state.step) == 10


def _weighted_mean(weights, iterates):
    """sum_t w_t g_t / sum_t w_t, leaf by leaf."""
    leaves = [jax.tree.leaves(g) for g in iterates]
    return [sum(w * g[i] for w, g in zip(weights, leaves, strict=True)) / sum(weights) for i in range(len(leaves[0]))]


# 0.5: a resume that changes train.ema_decay. Slow: tests/training/ checks the average in the fast suite.
@pytest.mark.slow
@pytest.mark.parametrize("later_decay", [0.9, 0.5])
def test_ema_is_a_weighted_mean_of_the_iterates_and_what_evaluation_uses(smoke_config, later_decay):
    problem, init = build(smoke_config("train.ema_decay=0.9"))
    state = jax.jit(init)()
    iterates = []
    for stop, decay in ((1, 0.9), (2, 0.9), (3, later_decay)):
        state, _ = make_train_chunk(replace(problem, ema_decay=decay), 10)(state, np.int32(stop))
        iterates.append(jax.tree.map(np.asarray, state.g))  # host copies: the chunk donates its input
    # g_t enters with weight (1 - d_t) and decays by every later d: the mean of the iterates, not of the start.
    weights = [0.1 * 0.9 * later_decay, 0.1 * later_decay, 1.0 - later_decay]
    for leaf, expected in zip(jax.tree.leaves(evaluated_generator(state)), _weighted_mean(weights, iterates),
                              strict=True):
        np.testing.assert_allclose(leaf, expected, rtol=1e-5, atol=1e-6)


def test_without_ema_evaluation_uses_the_generator_itself(smoke_config):
    _, init = build(smoke_config("train.ema_decay=0"))
    state = jax.jit(init)()
    assert state.g_ema is None and evaluated_generator(state) is state.g
