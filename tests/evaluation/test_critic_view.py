"""gancli.evaluation.critic_view: what the critic says of an evaluation batch (its divergence
estimate, D(x) on both sides) and of single points (its surface, and what that surface is called),
each checked against the critic's raw outputs v put through the heads' formulas by hand."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gancli.evaluation.critic_view import critic_evaluation, critic_surface, surface_label, surface_of_head
from gancli.objectives.critic_losses import OBJECTIVES, get_objective
from gancli.objectives.heads import Head
from gancli.training.problem import build, critic, pack
from tests.helpers import SMOKE, compose_config


def test_the_critic_surface_is_what_each_head_says_of_a_point(smoke_config):
    """For gan: D(x) = sigmoid(v) of a pack of copies of x; for an f-divergence: T(x) = g_f(v)."""
    for divergence, activation in (("gan", jax.nn.sigmoid), ("kl", lambda v: v)):
        problem, init = build(smoke_config(f"divergence={divergence}"))
        state = jax.jit(init)()
        points = np.array([[0.0, 0.0], [1.0, 0.0], [0.3, -0.7]], np.float32)
        surface = np.asarray(critic_surface(problem, state.d, points))
        v = np.asarray(critic(problem, state.d, pack(problem, np.repeat(points, problem.pack, axis=0))))
        np.testing.assert_allclose(surface, activation(v), rtol=1e-6)
    assert [surface_label(h) for h in problem.heads] == ["T(x)"]


@pytest.mark.parametrize("members", [["kl", "reverse_kl"], ["gan", "hinge"]])
def test_an_ensemble_has_one_surface_per_head(smoke_config, members):
    # hinge is no zero-sum game: it takes the non-saturating generator loss, not the ensemble's default minimax
    problem, init = build(smoke_config("divergence=ensemble", f"divergence.members=[{','.join(members)}]",
                                       "divergence.generator_loss=nonsaturating"))
    surface = critic_surface(problem, jax.jit(init)().d, np.zeros((5, 2), np.float32))
    assert surface.shape == (5, 2)
    labels = [surface_label(h) for h in problem.heads]
    assert labels == (["T(x)", "T(x)"] if members[0] == "kl" else ["D(x)", "critic output v(x)"])


# The problems below, each built and initialised once for the whole file.
SETUPS = {
    "gan": ("divergence=gan",),
    "kl": ("divergence=kl",),
    # gan second, at a weight of its own: d_real must come from the gan head's column, not the first
    "hinge+gan": ("divergence=ensemble", "divergence.members=[hinge,gan]", "divergence.weights=[0.25,0.75]",
                  "divergence.generator_loss=nonsaturating"),
}


@pytest.fixture(scope="module")
def critics():
    """name -> (problem, critic weights), built on first use."""
    built = {}

    def get(name):
        if name not in built:
            problem, init = build(compose_config(*SMOKE, *SETUPS[name]))
            built[name] = problem, jax.jit(init)().d
        return built[name]
    return get


def _batches(problem):
    real = np.random.default_rng(0).normal(size=(64, problem.data.dim)).astype(np.float32)
    return real, real[::-1] * 1.3 + 0.2  # generated: a stretched, shifted copy


def _raw(problem, d_params, x):
    return np.asarray(critic(problem, d_params, pack(problem, x)), np.float64)


def _softplus(v):
    return np.logaddexp(0.0, v)


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _gan_bound(v_real, v_fake):
    """E_P[log D] + E_Q[log(1 - D)] with D = sigmoid(v): the GAN game's value, 2 JSD - log 4 at best."""
    return np.mean(-_softplus(-v_real)) - np.mean(_softplus(v_fake))


def test_a_gan_critic_reports_its_bound_and_its_mean_d_on_both_sides(critics):
    problem, d_params = critics("gan")
    real, fake = _batches(problem)
    judged = critic_evaluation(problem, d_params, real, fake)
    assert set(judged) == {"critic_estimate", "d_real", "d_fake"}
    v_real, v_fake = _raw(problem, d_params, real)[:, 0], _raw(problem, d_params, fake)[:, 0]
    assert float(judged["critic_estimate"]) == pytest.approx(_gan_bound(v_real, v_fake), rel=1e-5)
    assert float(judged["d_real"]) == pytest.approx(np.mean(_sigmoid(v_real)), rel=1e-5)
    assert float(judged["d_fake"]) == pytest.approx(np.mean(_sigmoid(v_fake)), rel=1e-5)


def test_an_f_divergence_critic_reports_its_bound_and_no_d(critics):
    problem, d_params = critics("kl")
    real, fake = _batches(problem)
    judged = critic_evaluation(problem, d_params, real, fake)
    assert set(judged) == {"critic_estimate"}  # D(x) is the GAN's discriminator: no other head has one
    v_real, v_fake = _raw(problem, d_params, real)[:, 0], _raw(problem, d_params, fake)[:, 0]
    # KL: T = g_f(v) = v and f*(t) = exp(t - 1)
    assert float(judged["critic_estimate"]) == pytest.approx(np.mean(v_real) - np.mean(np.exp(v_fake - 1)), rel=1e-5)


def test_an_ensembles_estimate_is_the_weighted_sum_of_its_heads(critics):
    problem, d_params = critics("hinge+gan")
    real, fake = _batches(problem)
    judged = critic_evaluation(problem, d_params, real, fake)
    v_real, v_fake = _raw(problem, d_params, real), _raw(problem, d_params, fake)
    hinge = np.mean(-np.maximum(1 - v_real[:, 0], 0)) - np.mean(np.maximum(1 + v_fake[:, 0], 0))
    gan = _gan_bound(v_real[:, 1], v_fake[:, 1])
    assert float(judged["critic_estimate"]) == pytest.approx(0.25 * hinge + 0.75 * gan, rel=1e-5)
    assert float(judged["d_real"]) == pytest.approx(np.mean(_sigmoid(v_real[:, 1])), rel=1e-5)
    assert float(judged["d_fake"]) == pytest.approx(np.mean(_sigmoid(v_fake[:, 1])), rel=1e-5)


def test_each_head_of_an_ensemble_shows_its_own_column_on_the_surface(critics):
    problem, d_params = critics("hinge+gan")
    points = np.array([[0.0, 0.0], [0.5, -0.5], [2.0, 1.0]], np.float32)
    surface = np.asarray(critic_surface(problem, d_params, points))
    v = _raw(problem, d_params, np.repeat(points, problem.pack, axis=0))  # a pack of copies of each point
    np.testing.assert_allclose(surface[:, 0], v[:, 0], rtol=1e-5, atol=1e-7)  # hinge: the raw output
    np.testing.assert_allclose(surface[:, 1], _sigmoid(v[:, 1]), rtol=1e-5, atol=1e-7)  # gan: D(x)
    assert [surface_label(h) for h in problem.heads] == ["critic output v(x)", "D(x)"]


def test_a_packed_critic_is_shown_copies_of_the_point(critics):
    problem, d_params = critics("gan")
    assert problem.pack == 2  # the smoke preset packs two samples: the case this test is about
    points = np.array([[0.1, 0.2], [-1.0, 0.4]], np.float32)
    surface = np.asarray(critic_surface(problem, d_params, points))
    side_by_side = np.concatenate([points, points], axis=1)  # (x, x) as one row of the critic's input
    v = np.asarray(critic(problem, d_params, side_by_side), np.float64)
    np.testing.assert_allclose(surface, _sigmoid(v), rtol=1e-5)


def test_the_objectives_probability_not_its_name_decides_what_the_surface_shows():
    """D(x) is shown where the objective defines a probability (the GAN's sigmoid), whatever the head is called."""
    v = jnp.array([-2.0, 0.0, 3.0])
    gan, kl = get_objective("gan"), get_objective("kl")
    renamed = Head("my_classifier", gan, 1.0)
    np.testing.assert_allclose(surface_of_head(renamed, v), 1.0 / (1.0 + np.exp(-np.asarray(v))), rtol=1e-6)
    assert surface_label(renamed) == "D(x)"
    posing = Head("gan", kl, 1.0)  # a name alone makes no probability
    np.testing.assert_allclose(surface_of_head(posing, v), kl.activation(v))
    assert surface_label(posing) == "T(x)"
    assert [name for name in OBJECTIVES if get_objective(name).probability is not None] == ["gan"]
