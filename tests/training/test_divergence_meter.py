"""The divergence meter: a critic trained for exactly the configured steps, and the variational
estimate E_P[real_score(v)] - E_Q[fake_score(v)] averaged over fresh samples of P and Q."""

from __future__ import annotations

from dataclasses import replace

import jax
import numpy as np
import pytest
from flax import nnx

from gancli.config.compose import estimate_config
from gancli.data.densities import GaussianMixture
from gancli.objectives.critic_losses import CRITIC_LOSSES
from gancli.players.models import MLP
from gancli.training.divergence_meter import TrainedCritic, train_critic, variational_estimate

TINY = replace(estimate_config().estimate, steps=3, batch_size=16, hidden=4, depth=1)


def gaussian(mean, std=1.0):
    return GaussianMixture(np.array([1.0]), np.asarray([[mean]], float), np.asarray([[std]], float))


P, Q = gaussian(0.0), gaussian(1.5)


def affine_critic(slope, intercept):
    """v(x) = slope * x + intercept: an MLP with no hidden layer, its one linear layer set by hand."""
    graph, params = nnx.split(MLP(1, 1, 4, 0, "gelu", rngs=nnx.Rngs(0)))
    params["out"]["kernel"].set_value(np.full((1, 1), slope, np.float32))
    params["out"]["bias"].set_value(np.full((1,), intercept, np.float32))
    return TrainedCritic(graph, params)


def test_a_trained_critic_gives_one_raw_output_per_point():
    critic = affine_critic(2.0, -1.0)
    out = critic(np.array([[0.0], [1.0], [3.0]]))
    assert isinstance(out, np.ndarray) and out.shape == (3,)
    np.testing.assert_allclose(out, [-1.0, 1.0, 5.0])


def test_the_estimate_of_a_constant_critic_is_its_scores_at_that_constant():
    """Hinge with v = 0.5 everywhere: -relu(1 - 0.5) - relu(1 + 0.5) = -2 exactly, whatever the
    samples; 250 samples in batches of 100 (the last one short) must still average over 250."""
    estimate = variational_estimate(CRITIC_LOSSES["hinge"], affine_critic(0.0, 0.5), P, Q, n=250, seed=0, batch=100)
    assert estimate == pytest.approx(-2.0, rel=1e-6)


def test_the_estimate_scores_p_as_real_and_q_as_fake():
    """WGAN's scores are v itself: with v(x) = x the estimate is E_P[x] - E_Q[x] = 0 - 1.5, up to
    the sampling error of 2e5 draws (standard error 0.0032)."""
    estimate = variational_estimate(CRITIC_LOSSES["wgan_gp"], affine_critic(1.0, 0.0), P, Q, n=200_000, seed=0)
    assert estimate == pytest.approx(-1.5, abs=0.02)


@pytest.mark.slow  # trains a critic twice; tests/commands/test_estimate.py trains gan's in the fast suite
def test_the_critic_trains_for_exactly_the_configured_steps_whatever_the_chunk():
    """3 steps in chunks of 2 run a second chunk of which only 1 step may count: the critic is the
    one 3 steps in a single chunk train."""
    loss = CRITIC_LOSSES["least_squares"]
    one_chunk = train_critic(loss, P, Q, replace(TINY, chunk=3), seed=0)
    two_chunks = train_critic(loss, P, Q, replace(TINY, chunk=2), seed=0)
    for a, b in zip(jax.tree.leaves(one_chunk.params), jax.tree.leaves(two_chunks.params), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    # And training moved the critic from its initialisation (the seed's first key): the critics
    # compared above are trained ones.
    init_key = jax.random.split(jax.random.key(0))[0]
    initial = nnx.state(MLP(1, 1, 4, 1, "gelu", rngs=nnx.Rngs(init_key)))
    assert not all(np.allclose(np.asarray(a), np.asarray(b)) for a, b in
                   zip(jax.tree.leaves(initial), jax.tree.leaves(one_chunk.params), strict=True))
