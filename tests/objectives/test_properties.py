"""Property-based checks (hypothesis) over critic outputs, for every objective in the registry."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gancli.data.densities import GaussianMixture
from gancli.evaluation.exact import exact_value
from gancli.objectives.critic_losses import CRITIC_LOSSES, get_objective
from gancli.objectives.f_divergences import DIVERGENCES

P = GaussianMixture(np.array([1.0]), np.array([[0.0]]), np.array([[1.0]]))
Q = GaussianMixture(np.array([1.0]), np.array([[0.7]]), np.array([[1.3]]))
X = np.linspace(-12.0, 14.0, 40001)
P_X, Q_X = np.exp(P.log_density(X[:, None])), np.exp(Q.log_density(X[:, None]))
# The domains of f* (open ends strict), as THEORY.md's table gives them, for the default parameters.
DOMAINS = {"kl": (-np.inf, np.inf), "reverse_kl": (-np.inf, 0.0), "pearson": (-np.inf, np.inf),
           "neyman": (-np.inf, 1.0), "hellinger": (-np.inf, 1.0), "js": (-np.inf, np.log(2.0)),
           "gan": (-np.inf, 0.0), "tv": (-0.5, 0.5), "alpha": (-1.0, np.inf), "jeffrey": (-np.inf, np.inf),
           "js_weighted": (-np.inf, 0.5 * np.log(2.0))}
# Objectives whose scores grow at most polynomially in v: finite in float32 for any |v| <= 1e4.
TAME = ["gan", "js", "tv", "js_weighted", "hinge", "least_squares", "wgan_gp"]

critics = st.lists(st.floats(-2.0, 2.0), min_size=1, max_size=5)  # coefficients of a polynomial critic


def _bound(name: str, coefficients: list[float]) -> float:
    """int p g(v) - int q f*(g(v)) for the critic v(x) = sum_k c_k (x / 4)^k, in float64."""
    obj = get_objective(name)
    v = np.polynomial.polynomial.polyval(X / 4.0, coefficients)
    with jax.enable_x64(True):
        real, fake = np.asarray(obj.real_score(v)), np.asarray(obj.fake_score(v))
    with np.errstate(over="ignore", invalid="ignore"):
        value = np.trapezoid(P_X * real, X) - np.trapezoid(Q_X * fake, X)
    return float(value) if np.isfinite(value) else -np.inf  # an overflowing critic bounds nothing


@pytest.mark.parametrize("name", sorted(DIVERGENCES) + sorted(n for n, c in CRITIC_LOSSES.items()
                                                              if c.pointwise_optimum is not None))
@settings(max_examples=60, deadline=None)
@given(coefficients=critics)
def test_no_critic_beats_the_exact_value(name, coefficients):
    assert _bound(name, coefficients) <= exact_value(get_objective(name), P, Q).value + 1e-6


@pytest.mark.parametrize("name", sorted(DIVERGENCES))
@settings(max_examples=200, deadline=None)
@given(v=st.floats(-30.0, 30.0))
def test_activations_map_into_the_conjugates_domain(name, v):
    lo, hi = DOMAINS[name]
    with jax.enable_x64(True):
        t = float(DIVERGENCES[name].activation(jnp.float64(v)))
    assert lo < t < hi or (name == "tv" and lo <= t <= hi)  # tv's domain is closed


@pytest.mark.slow  # each input length compiles anew: ten seconds a loss
@pytest.mark.parametrize("name", TAME)
@settings(max_examples=100, deadline=None)
@given(v=st.lists(st.floats(-1e4, 1e4), min_size=1, max_size=16))
def test_losses_and_gradients_stay_finite_for_large_critic_outputs(name, v):
    obj = get_objective(name)
    v = jnp.asarray(v, jnp.float32)
    for fn in (obj.real_score, obj.fake_score, obj.nonsaturating_loss):
        assert np.isfinite(np.asarray(fn(v))).all()
        assert np.isfinite(np.asarray(jax.grad(lambda w, fn=fn: jnp.sum(fn(w)))(v))).all()
