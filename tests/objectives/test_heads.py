"""gancli.objectives.heads: the critic's heads a divergence config asks for (one, or one per ensemble
member), and how their estimates, penalties and generator losses combine by the heads' weights.
Expected values come from the divergences' closed forms in numpy, not from the module's helpers."""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gancli.config.compose import group_config
from gancli.errors import GancliError
from gancli.objectives.critic_losses import get_objective
from gancli.objectives.f_divergences import critic_objective, generator_loss
from gancli.objectives.heads import (
    critic_objective_of_heads,
    generator_loss_of_heads,
    head_estimates,
    heads_from_config,
    weighted_sum,
)
from gancli.objectives.penalties import interpolate_gradient_penalty


def ensemble(members, weights=None, **kw):
    return group_config("divergence", "ensemble", members=members, weights=weights, **kw)


def softplus(v):
    return np.logaddexp(0.0, v)


# Critic outputs of two heads (gan, kl) on 6 real and 5 fake samples, built by hand.
V_REAL = np.array([[0.5, 0.2], [-1.0, 1.5], [2.0, -0.3], [0.0, 0.0], [1.2, 0.7], [-0.4, 2.2]], np.float32)
V_FAKE = np.array([[-0.8, -1.0], [0.3, 0.4], [-2.5, 0.9], [1.1, -0.6], [0.0, 1.3]], np.float32)


def test_a_single_divergence_is_one_head_of_weight_one():
    (head,) = heads_from_config(group_config("divergence", "kl"))
    assert (head.name, head.weight) == ("kl", 1.0) and head.objective is get_objective("kl")


def test_members_get_equal_weights_by_default_and_their_parameters():
    heads = heads_from_config(ensemble(["gan", "alpha", "js_weighted"], alpha=3.0, pi=0.25))
    assert [h.name for h in heads] == ["gan", "alpha", "js_weighted"]
    assert [h.weight for h in heads] == pytest.approx([1 / 3] * 3)
    assert heads[1].objective.params == {"alpha": 3.0} and heads[2].objective.params == {"pi": 0.25}


@pytest.mark.parametrize(("cfg", "fragment"), [
    (ensemble(None), "needs members"),
    (ensemble(["kl", "klx"]), "'klx', which is not a member divergence"),
    (ensemble(["kl", "ensemble"]), "'ensemble', which is not a member divergence"),
    (ensemble(["kl", "kl"]), "lists a divergence twice"),
    (ensemble(["kl", "js"], alpha=2.0), "no member of the ensemble takes it"),
    (ensemble(["kl", "js"], [1.0]), "1 numbers for 2 members"),
    (ensemble(["kl", "hinge"], generator_loss="minimax"), "not a zero-sum game"),
])
def test_bad_ensembles_are_refused(cfg, fragment):
    with pytest.raises(GancliError, match=fragment):
        heads_from_config(cfg)


def test_heads_objective_is_the_weighted_sum_of_each_heads_own():
    heads = heads_from_config(replace(ensemble(["gan", "kl", "wgan_gp"], [0.5, 2.0, 1.0]), penalty="gp",
                                      penalty_weight=10.0))
    real = jax.random.normal(jax.random.key(0), (64, 2)) + 1.0
    fake = jax.random.normal(jax.random.key(1), (64, 2))
    w = jax.random.normal(jax.random.key(2), (2, 3))

    def critic(x):  # head h is the linear critic x . w[:, h], squared for some curvature
        return jnp.tanh(x @ w) + 0.1 * (x @ w) ** 2

    keys = jax.random.split(jax.random.key(3), len(heads))
    total, estimates, penalty = critic_objective_of_heads(heads, critic, real, fake, keys)
    expected_total = expected_penalty = 0.0
    for h, head in enumerate(heads):
        own = lambda x, h=h: critic(x)[:, h]  # noqa: E731
        own_estimate = critic_objective(head.objective, own(real), own(fake))
        own_penalty = 10.0 * interpolate_gradient_penalty(own, real, fake, keys[h])  # each head its own key
        np.testing.assert_allclose(estimates[h], own_estimate, rtol=1e-5)
        expected_total += head.weight * (own_estimate - own_penalty)
        expected_penalty += head.weight * own_penalty
    np.testing.assert_allclose(total, expected_total, rtol=1e-5)
    np.testing.assert_allclose(penalty, expected_penalty, rtol=1e-5)
    assert float(penalty) > 0  # every head is penalised, and the estimates are not


def test_generator_loss_is_the_weighted_sum_of_the_members():
    heads = heads_from_config(ensemble(["kl", "reverse_kl"], [0.25, 0.75]))
    v = jax.random.normal(jax.random.key(0), (32, 2))
    expected = sum(h.weight * jnp.mean(generator_loss(h.objective, v[:, i], "nonsaturating"))
                   for i, h in enumerate(heads))
    np.testing.assert_allclose(generator_loss_of_heads(heads, v, "nonsaturating"), expected, rtol=1e-6)


def test_given_weights_are_kept_in_the_members_order():
    heads = heads_from_config(ensemble(["tv", "gan", "kl"], [3.0, 0.5, 1.0]))
    assert [(h.name, h.weight) for h in heads] == [("tv", 3.0), ("gan", 0.5), ("kl", 1.0)]


def test_every_member_gets_the_divergence_penalty_and_none_drops_a_leftover_weight():
    heads = heads_from_config(ensemble(["gan", "kl"], penalty="r1", penalty_weight=5.0))
    assert [(h.penalty, h.penalty_weight) for h in heads] == [("r1", 5.0), ("r1", 5.0)]
    (head,) = heads_from_config(group_config("divergence", "kl", penalty="none", penalty_weight=3.0))
    assert (head.penalty, head.penalty_weight) == ("none", 0.0)


def test_weighted_sum_is_the_dot_product_with_the_heads_weights():
    heads = heads_from_config(ensemble(["gan", "kl", "tv"], [0.5, 2.0, 1.5]))
    values = np.array([1.0, -3.0, 4.0], np.float32)
    assert float(weighted_sum(heads, values)) == pytest.approx(0.5 * 1.0 - 2.0 * 3.0 + 1.5 * 4.0)


def test_head_estimates_are_each_members_bound_on_its_own_column():
    """gan: E_P[log sigmoid(v)] - E_Q[softplus(v)]; kl: E_P[v] - E_Q[exp(v - 1)] (f-GAN, Table 2)."""
    heads = heads_from_config(ensemble(["gan", "kl"]))
    gan = np.mean(-softplus(-V_REAL[:, 0])) - np.mean(softplus(V_FAKE[:, 0]))
    kl = np.mean(V_REAL[:, 1]) - np.mean(np.exp(V_FAKE[:, 1] - 1.0))
    np.testing.assert_allclose(head_estimates(heads, V_REAL, V_FAKE), [gan, kl], rtol=1e-5)


def test_without_a_penalty_the_critic_ascends_the_weighted_estimates():
    heads = heads_from_config(ensemble(["gan", "kl"], [0.25, 4.0]))
    table = {"r": jnp.asarray(V_REAL), "f": jnp.asarray(V_FAKE)}
    # A critic that answers with the hand-built outputs: 6 rows for the real batch, 5 for the fake one.
    total, estimates, penalty = critic_objective_of_heads(
        heads, lambda x: table["r"] if x.shape[0] == 6 else table["f"], jnp.zeros((6, 2)), jnp.zeros((5, 2)),
        [jax.random.key(0), jax.random.key(1)])
    gan = np.mean(-softplus(-V_REAL[:, 0])) - np.mean(softplus(V_FAKE[:, 0]))
    kl = np.mean(V_REAL[:, 1]) - np.mean(np.exp(V_FAKE[:, 1] - 1.0))
    np.testing.assert_allclose(estimates, [gan, kl], rtol=1e-5)
    np.testing.assert_allclose(total, 0.25 * gan + 4.0 * kl, rtol=1e-5)
    assert float(penalty) == 0.0


@pytest.mark.parametrize(("form", "expected"), [
    ("nonsaturating", lambda v: np.mean(softplus(-v))),  # -log D(G(z)), D = sigmoid(v)
    ("minimax", lambda v: np.mean(-softplus(v))),  # log(1 - D(G(z)))
])
def test_a_single_gan_heads_generator_loss_is_goodfellows(form, expected):
    heads = heads_from_config(group_config("divergence", "gan"))
    v = V_FAKE[:, :1]
    np.testing.assert_allclose(generator_loss_of_heads(heads, v, form), expected(v[:, 0]), rtol=1e-5)
