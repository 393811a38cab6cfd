"""What each generator loss descends at the optimal critic, checked numerically on Gaussians.

With the critic frozen at its optimum v*(x) (T* = f'(p/q) for an f-divergence), the generator's
gradient is E_z[grad_theta loss(v*(G_theta(z)))]. The claim for each row of the README's table is
that this equals grad_theta D_h(P || Q_theta) for the divergence D_h named there: the minimax form
descends D_f itself, the non-saturating form the f-divergence with h''(u) = f''(u) / u. Here
P = N(0, 1), Q_theta = N(mu, sigma^2) with theta = (mu, log sigma), x = mu + sigma z; the frozen
critic's gradient comes from the module's own losses, activations and f' by autodiff, and the
claimed divergence's gradient from each h re-typed in numpy, integrated on a grid and
differenced in theta. Affine terms a (u - 1) + c of h change D_h by a constant, so each h is
given up to them.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gancli.objectives.critic_losses import CRITIC_LOSSES
from gancli.objectives.f_divergences import generator_loss, get_divergence

MU, SIGMA = 0.3, 1.1  # Q's start: every divergence below is finite here (Neyman's alpha = -2 needs sigma^2 < 1.5)
X = np.linspace(-9.0, 9.0, 24001)
DX = X[1] - X[0]


def _log_normal(x, mu, sigma):
    return -0.5 * ((x - mu) / sigma) ** 2 - np.log(sigma) - 0.5 * math.log(2 * math.pi)


def _alpha_f(a):
    if a == 1.0:
        return lambda u: u * np.log(u)
    if a == 0.0:
        return lambda u: -np.log(u)
    return lambda u: (u**a - 1.0 - a * (u - 1.0)) / (a * (a - 1.0))


def _js2(u):  # f-GAN's `js` f, which gives 2 JSD
    return u * np.log(u) - (u + 1.0) * np.log((1.0 + u) / 2.0)


def _js_weighted(pi):
    return lambda u: pi * u * np.log(u) - (1.0 - pi + pi * u) * np.log(1.0 - pi + pi * u)


# (divergence, its parameters) -> (f of the minimax claim, h of the non-saturating claim), by hand.
CLAIMS = {
    ("kl", ()): (lambda u: u * np.log(u), lambda u: -np.log(u)),  # KL(P||Q); KL(Q||P)
    ("reverse_kl", ()): (lambda u: -np.log(u), lambda u: (1.0 - u) ** 2 / (2.0 * u)),  # Neyman / 2
    ("pearson", ()): (lambda u: (u - 1.0) ** 2, lambda u: 2.0 * u * np.log(u)),  # 2 KL
    ("neyman", ()): (lambda u: (1.0 - u) ** 2 / u, lambda u: 2.0 * _alpha_f(-2.0)(u)),
    ("hellinger", ()): (lambda u: (np.sqrt(u) - 1.0) ** 2, lambda u: 0.5 * _alpha_f(-0.5)(u)),
    ("js", ()): (_js2, lambda u: -np.log(u) - _js2(u)),  # KL(Q||P) - 2 JSD
    ("gan", ()): (lambda u: u * np.log(u) - (u + 1.0) * np.log(u + 1.0), lambda u: -np.log(u) - _js2(u)),
    ("jeffrey", ()): (lambda u: (u - 1.0) * np.log(u), lambda u: -np.log(u) + (1.0 - u) ** 2 / (2.0 * u)),
    ("js_weighted", (("pi", 0.3),)): (_js_weighted(0.3), lambda u: -0.3 * np.log(u) - 0.3 / 0.7 * _js_weighted(0.3)(u)),
    **{("alpha", (("alpha", a),)): (_alpha_f(a), _alpha_f(a - 1.0)) for a in (-1.0, 0.5, 2.0, 3.0)},
}


def claimed_gradient(h) -> np.ndarray:
    """grad_theta of D_h(P || Q_theta) = int q h(p/q), by central differences in (mu, log sigma)."""

    def divergence(mu, log_sigma):
        log_q = _log_normal(X, mu, math.exp(log_sigma))
        u = np.exp(_log_normal(X, 0.0, 1.0) - log_q)
        return float(np.sum(np.exp(log_q) * h(u)) * DX)

    eps, log_s = 1e-4, math.log(SIGMA)
    return np.array([(divergence(MU + eps, log_s) - divergence(MU - eps, log_s)) / (2 * eps),
                     (divergence(MU, log_s + eps) - divergence(MU, log_s - eps)) / (2 * eps)])


def _inverse(activation, t):
    """v with activation(v) = t, by bisection: every activation is increasing."""
    lo, hi = jnp.full_like(t, -1e7), jnp.full_like(t, 1e7)  # softplus activations reach |v| ~ (q/p)^2 in the tails
    for _ in range(120):
        mid = 0.5 * (lo + hi)
        below = activation(mid) < t
        lo, hi = jnp.where(below, mid, lo), jnp.where(below, hi, mid)
    return 0.5 * (lo + hi)


def frozen_critic_gradient(loss_of_v, v_star_of_x) -> np.ndarray:
    """E_z[grad_theta loss(v*(mu + sigma z))] with v* frozen: int q(x) d/dx loss(v*(x)) [1, x - mu] dx."""
    # Q's mass within 6 sigma: beyond it float32 rounds T* onto the edge of dom f* (alpha = 3), and
    # q < 1e-8 there leaves the integral unchanged at this test's tolerance.
    near = X[np.abs(X - MU) < 6 * SIGMA]
    slope = jax.vmap(jax.grad(lambda xi: loss_of_v(v_star_of_x(xi))))(jnp.asarray(near, jnp.float32))
    weights = np.exp(_log_normal(near, MU, SIGMA)) * DX
    slope = np.asarray(slope, np.float64)
    return np.array([np.sum(weights * slope), np.sum(weights * slope * (near - MU))])


def log_ratio(x):
    """log p/q for the frozen Q, in jnp so the critic's gradient can flow through it."""
    return (-0.5 * x**2) - (-0.5 * ((x - MU) / SIGMA) ** 2 - math.log(SIGMA))


@pytest.mark.parametrize("form", ["minimax", "nonsaturating"])
@pytest.mark.parametrize(("name", "params"), list(CLAIMS), ids=[f"{n}{dict(p)}" for n, p in CLAIMS])
def test_each_generator_form_descends_the_divergence_the_table_names(name, params, form):
    div = get_divergence(name, **dict(params))

    def v_star(x):
        t = div.f_prime(jnp.exp(log_ratio(x)))  # T* = f'(p/q)
        # v* = g^-1(T*), through the implicit function theorem: dv*/dx = dT*/dx / g'(v*).
        return _implicit_inverse(div.activation, t)

    got = frozen_critic_gradient(lambda v: generator_loss(div, v, form), v_star)
    want = claimed_gradient(CLAIMS[(name, params)][0 if form == "minimax" else 1])
    np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-4)
    assert np.abs(want).max() > 1e-2  # a real gradient, not two zeros agreeing


def _implicit_inverse(activation, t):
    """g^-1(t) whose derivative is 1 / g'(g^-1(t)) (bisection itself has no useful derivative)."""

    @jax.custom_jvp
    def inverse(t):
        return _inverse(activation, t)

    @inverse.defjvp
    def _jvp(primals, tangents):
        (t,), (dt,) = primals, tangents
        v = inverse(t)
        return v, dt / jax.grad(activation)(v)

    return inverse(t)


def test_least_squares_generator_descends_its_f_divergence():
    """LSGAN's (0, 1, 1) generator loss at D* = p/(p+q): f''(u) = 1 / (u (1 + u)^3), integrated by hand."""
    loss = CRITIC_LOSSES["least_squares"]

    def h(u):
        return u * np.log(u) - (1.0 + u) * np.log(1.0 + u) + np.log(1.0 + u) - 1.0 / (2.0 * (1.0 + u))

    got = frozen_critic_gradient(lambda v: generator_loss(loss, v, "nonsaturating"),
                                 lambda x: jax.nn.sigmoid(log_ratio(x)))  # p/(p+q)
    np.testing.assert_allclose(got, claimed_gradient(h), rtol=2e-3, atol=2e-4)


def test_the_registry_names_what_each_form_descends():
    """Every objective states both rows of the table, and the f-divergences' minimax row is D_f."""
    from gancli.objectives.critic_losses import OBJECTIVES, get_objective

    for name in OBJECTIVES:
        objective = get_objective(name)
        assert objective.nonsaturating_descends
        if objective.zero_sum:
            assert objective.minimax_descends not in ("", "-")
