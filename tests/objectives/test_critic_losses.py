"""The non-f-divergence objectives (hinge, least squares, WGAN-GP): optima and penalty, checked
against values computed here independently (numerical sups, integrals, closed forms)."""

from __future__ import annotations

import math
from dataclasses import replace

import jax.numpy as jnp
import numpy as np
import pytest

from gancli.cli.overrides import group_options
from gancli.config.compose import estimate_config
from gancli.data.densities import GaussianMixture
from gancli.errors import GancliError
from gancli.evaluation.exact import exact_value
from gancli.objectives.critic_losses import CRITIC_LOSSES, NOT_ONE_OBJECTIVE, OBJECTIVES, get_objective
from gancli.objectives.f_divergences import generator_loss
from gancli.training.divergence_meter import train_critic, variational_estimate

POINTWISE = sorted(name for name, loss in CRITIC_LOSSES.items() if loss.pointwise_optimum is not None)


def gaussian(mean, std):
    return GaussianMixture(np.array([1.0]), np.asarray([[mean]], float), np.asarray([[std]], float))


def test_every_config_option_is_a_registered_objective():
    """Each divergence option is one critic objective, or one of the train-only names (ensemble, mle)."""
    assert set(group_options("divergence")) == set(OBJECTIVES) | set(NOT_ONE_OBJECTIVE)


@pytest.mark.parametrize("name", POINTWISE)
def test_pointwise_optimum_is_the_sup_over_critic_values(name):
    """sup_v p r(v) - q s(v), by brute force over v, equals the stated optimum and optimal critic."""
    loss = CRITIC_LOSSES[name]
    v = np.linspace(-5, 5, 200001)
    rng = np.random.default_rng(0)
    for p, q in rng.uniform(0.01, 2.0, size=(20, 2)):
        values = p * np.asarray(loss.real_score(v)) - q * np.asarray(loss.fake_score(v))
        assert float(loss.pointwise_optimum(p, q)) == pytest.approx(values.max(), abs=1e-6)
        v_star = float(loss.optimal_critic(p, q))
        assert p * float(loss.real_score(v_star)) - q * float(loss.fake_score(v_star)) == pytest.approx(
            values.max(), abs=1e-6)


def test_hinge_optimum_is_2tv_minus_2():
    p, q = gaussian(0.0, 1.0), gaussian(1.0, 1.5)
    x = np.linspace(-20, 20, 400001)
    tv = 0.5 * np.trapezoid(np.abs(np.exp(p.log_density(x[:, None])) - np.exp(q.log_density(x[:, None]))), x)
    assert exact_value(CRITIC_LOSSES["hinge"], p, q).value == pytest.approx(2 * tv - 2, abs=1e-7)


@pytest.mark.parametrize(("p", "q", "w1"), [
    (gaussian(0.0, 1.0), gaussian(1.3, 1.0), 1.3),  # a shift: W1 is the distance moved
    (gaussian(0.0, 1.0), gaussian(0.0, 2.0), math.sqrt(2 / math.pi)),  # E|Z| * |s1 - s2|
])
def test_wasserstein_exact_value_matches_closed_forms(p, q, w1):
    assert exact_value(CRITIC_LOSSES["wgan_gp"], p, q).value == pytest.approx(w1, rel=1e-6)


def test_wasserstein_is_refused_above_one_dimension():
    p2 = GaussianMixture(np.array([1.0]), np.zeros((1, 2)), np.ones((1, 2)))
    with pytest.raises(GancliError, match="1-D only"):
        exact_value(CRITIC_LOSSES["wgan_gp"], p2, p2)


def test_generator_losses():
    v = jnp.linspace(-3, 3, 7)
    np.testing.assert_allclose(generator_loss(CRITIC_LOSSES["hinge"], v, "nonsaturating"), -v)
    np.testing.assert_allclose(generator_loss(CRITIC_LOSSES["wgan_gp"], v, "nonsaturating"), -v)
    np.testing.assert_allclose(generator_loss(CRITIC_LOSSES["least_squares"], v, "nonsaturating"),
                               0.5 * (v - 1) ** 2, rtol=1e-6)
    np.testing.assert_allclose(generator_loss(CRITIC_LOSSES["wgan_gp"], v, "minimax"), -v)
    for name in ("least_squares", "hinge"):  # not zero-sum games: a "minimax" G loss would be meaningless
        with pytest.raises(GancliError, match="not a zero-sum game"):
            generator_loss(CRITIC_LOSSES[name], v, "minimax")


def test_registry_errors():
    with pytest.raises(GancliError, match="choose one of:.*wgan_gp"):
        get_objective("wgan")
    with pytest.raises(GancliError, match="takes no parameter"):
        get_objective("hinge", alpha=2.0)
    assert get_objective("alpha", alpha=3.0).params == {"alpha": 3.0}


@pytest.mark.slow  # trains a critic each: tests/commands/test_estimate.py trains one in the fast suite
@pytest.mark.parametrize("name", POINTWISE)
def test_trained_critic_reaches_the_optimum_within_5_percent(name):
    loss, p, q = CRITIC_LOSSES[name], gaussian(0.0, 1.0), gaussian(0.5, 1.1)
    cfg = replace(estimate_config().estimate, steps=800, batch_size=2048, chunk=400, eval_samples=200_000)
    estimate = variational_estimate(loss, train_critic(loss, p, q, cfg, seed=0), p, q, cfg.eval_samples, seed=0)
    assert estimate == pytest.approx(exact_value(loss, p, q).value, rel=0.05)


@pytest.mark.slow
def test_wgan_gp_critic_estimates_w1_within_10_percent():
    loss, p, q = CRITIC_LOSSES["wgan_gp"], gaussian(0.0, 1.0), gaussian(1.0, 1.5)
    cfg = estimate_config().estimate
    critic = train_critic(loss, p, q, cfg, seed=0, penalty="gp", penalty_weight=10.0)  # its Lipschitz constraint
    estimate = variational_estimate(loss, critic, p, q, cfg.eval_samples, seed=0)
    assert estimate == pytest.approx(exact_value(loss, p, q).value, rel=0.10)
