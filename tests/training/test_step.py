"""One train step: d_steps critic updates, then one generator update against the updated critic,
every random number drawn from the step's key (gancli.training.keys); the learning-rate scale, the generator average,
and the maximum-likelihood step of an explicit model."""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gancli.objectives.f_divergences import critic_objective, generator_loss
from gancli.training.chunk import make_train_chunk
from gancli.training.keys import batch_keys, critic_update_key, generator_key, step_key
from gancli.training.problem import build, critic, generate, pack
from gancli.training.step import train_step
from tests.helpers import SMOKE, assert_states_equal, compose_config


@pytest.fixture(scope="module")
def smoke():
    """The smoke preset's problem (divergence=gan, d_steps=1, pack 2, an average of G kept), its
    initial state, and one step of it: the first step of the smoke chunk, the program most tests
    of the suite compile (one compilation, shared through the session's cache)."""
    cfg = compose_config(*SMOKE)
    problem, init = build(cfg)
    chunk = make_train_chunk(problem, cfg.train.chunk)

    def step(state):
        """train_step's (state, metrics): the chunk stopped after one step."""
        new, metrics = chunk(jax.tree.map(jnp.copy, state), np.int32(int(state.step) + 1))  # it donates its input
        return new, {k: v[0] for k, v in metrics.items() if k != "step"}

    return problem, jax.jit(init)(np.int32(cfg.seed)), step


def host(tree):
    return jax.tree.map(np.asarray, tree)


def counting(opt, name, calls):
    """`opt`, logging each update it makes to `calls`."""
    def update(updates, state, params=None):
        calls.append(name)
        return opt.update(updates, state, params)

    return optax.GradientTransformation(opt.init, update)


@pytest.mark.parametrize(("overrides", "d_steps", "updates"), [
    ((), 1, ["critic", "generator"]),
    ((), 3, ["critic", "critic", "critic", "generator"]),
    (("model=gmm", "divergence=mle"), 1, ["generator"]),  # an explicit model: no critic
])
def test_a_step_updates_the_critic_d_steps_times_then_the_generator_once(overrides, d_steps, updates):
    problem, init = build(compose_config(*SMOKE, *overrides))
    calls = []
    problem = replace(problem, d_steps=d_steps, d_opt=counting(problem.d_opt, "critic", calls),
                      g_opt=counting(problem.g_opt, "generator", calls))
    jax.eval_shape(lambda state: train_step(problem, state), jax.eval_shape(init))  # traced: the updates in order
    assert calls == updates


def test_a_step_moves_the_step_on_and_keeps_the_key_rate_and_rollbacks(smoke):
    _, state, step = smoke
    new, _ = step(state)
    assert int(new.step) == 1 and int(new.d_opt[0].count) == 1 and int(new.g_opt[0].count) == 1
    np.testing.assert_array_equal(jax.random.key_data(new.key), jax.random.key_data(state.key))
    assert float(new.lr_scale) == 1.0 and int(new.rollbacks) == 0


def test_the_critics_loss_is_its_objective_on_samples_drawn_from_the_steps_key(smoke):
    problem, state, step = smoke
    state = state.replace(step=jnp.int32(5))
    _, metrics = step(state)

    @jax.jit
    def objective(state):
        k_real, k_z = batch_keys(critic_update_key(step_key(state.key, 5), 0))
        real = pack(problem, problem.data.sample(k_real, problem.batch_size))
        fake = pack(problem, generate(problem, state.g, k_z, problem.batch_size))
        return critic_objective(problem.heads[0].objective, critic(problem, state.d, real)[:, 0],
                                critic(problem, state.d, fake)[:, 0])

    expected = objective(state)
    np.testing.assert_allclose(metrics["d_loss"], -expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(metrics["divergence_estimate"], expected, rtol=1e-5, atol=1e-6)


def test_the_generator_is_scored_against_the_critic_after_its_update(smoke):
    problem, state, step = smoke
    new, metrics = step(state)

    @jax.jit
    def loss_against(d_params):
        g_key = generator_key(step_key(state.key, 0), problem.d_steps)
        v = critic(problem, d_params, pack(problem, generate(problem, state.g, g_key, problem.batch_size)))
        return jnp.mean(generator_loss(problem.heads[0].objective, v[:, 0], problem.generator_loss))

    np.testing.assert_allclose(metrics["g_loss"], loss_against(new.d), rtol=1e-5, atol=1e-6)
    assert not np.isclose(metrics["g_loss"], loss_against(state.d), rtol=1e-5, atol=1e-6)


def test_a_steps_random_numbers_follow_its_step_count_not_its_history(smoke):
    _, state, step = smoke
    at_5 = state.replace(step=jnp.int32(5))
    first = step(at_5)
    assert_states_equal(first, step(at_5))  # the same step draws the same samples: a resume is exact
    at_6, _ = step(state.replace(step=jnp.int32(6)))
    assert not np.array_equal(jax.tree.leaves(first[0].d)[0], jax.tree.leaves(at_6.d)[0])


def test_a_zero_learning_rate_scale_freezes_both_players_but_not_the_step(smoke):
    _, state, step = smoke
    new, _ = step(state.replace(lr_scale=jnp.float32(0.0)))
    for player in ("g", "d"):
        jax.tree.map(np.testing.assert_array_equal, host(getattr(new, player)), host(getattr(state, player)))
    assert int(new.step) == 1 and int(new.d_opt[0].count) == 1
    assert float(new.lr_scale) == 0.0  # kept: a rollback's lower rates last


def test_the_learning_rate_scale_scales_the_critics_update(smoke):
    """Adam's update is proportional to its rate: half the scale, half the step (the critic's one
    update is taken from the same gradient at both scales)."""
    _, state, step = smoke
    full, _ = step(state)
    half, _ = step(state.replace(lr_scale=jnp.float32(0.5)))
    for before, f, h in zip(jax.tree.leaves(host(state.d)), jax.tree.leaves(host(full.d)),
                            jax.tree.leaves(host(half.d)), strict=True):
        np.testing.assert_allclose(h - before, 0.5 * (f - before), rtol=1e-3, atol=1e-7)


def test_after_one_step_the_generator_average_is_the_new_generator(smoke):
    problem, state, step = smoke
    new, _ = step(state)
    # The running sum is (1 - decay) g_1 and its weight 1 - decay.
    weight = 1.0 - problem.ema_decay
    np.testing.assert_allclose(float(new.g_ema_weight), weight, rtol=1e-4)
    for avg, g in zip(jax.tree.leaves(host(new.g_ema)), jax.tree.leaves(host(new.g)), strict=True):
        np.testing.assert_allclose(avg, weight * g, rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("overrides", [("divergence=wgan_gp",), ("divergence=ensemble", "divergence.members=[kl,gan]"),
                                       ("model=gmm", "divergence=mle")])
def test_a_step_gives_one_scalar_for_each_logged_metric(overrides):
    problem, init = build(compose_config(*SMOKE, *overrides))
    # Traced abstractly: the metrics' names and shapes, nothing compiled or run.
    _, metrics = jax.eval_shape(lambda: train_step(problem, init()))
    assert set(metrics) == set(problem.metric_names)
    assert all(m.shape == () for m in metrics.values())
