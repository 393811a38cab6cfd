"""Check gancli.divergences against values computed independently of its formulas.

Every expected value here comes from THEORY.md section 4 re-typed in numpy (the generator f,
its derivative, the activation g_f and its inverse), from numerical suprema and integrals,
or from the closed forms for two Gaussians, never from the module's own functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gancli.divergences import DIVERGENCES, critic_objective, generator_loss, get_divergence
from gancli.errors import GancliError

LOG2 = math.log(2.0)
NAMES = sorted(DIVERGENCES)
STABLE = ["gan", "js", "reverse_kl", "tv"]  # written to stay finite, gradients included, at |v| = 50


def _xlogx(u):
    """u log u, with the limit 0 at u = 0."""
    u = np.asarray(u, dtype=np.float64)
    return np.where(u > 0, u * np.log(np.where(u > 0, u, 1.0)), 0.0)


def _softplus(v):
    """log(1 + exp(v)) without overflow."""
    return np.logaddexp(0.0, v)


@dataclass(frozen=True)
class Spec:
    """One row of THEORY.md's f-divergence table, re-typed in numpy."""

    f: Callable  # generator f(u)
    f_prime: Callable  # f'(u), differentiated by hand
    conjugate: Callable  # the table's f*(t), used only where t is well inside dom f*
    activation: Callable  # g_f(v)
    inverse_activation: Callable  # g_f^{-1}(t)
    in_domain: Callable  # t -> whether t is in dom f* (open where the table's bound is strict)
    f_prime_at_1: float
    real_line: bool = False  # f is a polynomial on all of R (pearson): its f* = t^2/4 + t needs that


SPECS: dict[str, Spec] = {
    "kl": Spec(
        f=_xlogx,
        f_prime=lambda u: 1.0 + np.log(u),
        conjugate=lambda t: np.exp(t - 1.0),
        activation=lambda v: v,
        inverse_activation=lambda t: t,
        in_domain=np.isfinite,
        f_prime_at_1=1.0,
    ),
    "reverse_kl": Spec(
        f=lambda u: -np.log(u),
        f_prime=lambda u: -1.0 / u,
        conjugate=lambda t: -1.0 - np.log(-t),
        activation=lambda v: -np.exp(-v),
        inverse_activation=lambda t: -np.log(-t),
        in_domain=lambda t: t < 0,
        f_prime_at_1=-1.0,
    ),
    "pearson": Spec(
        f=lambda u: (u - 1.0) ** 2,
        f_prime=lambda u: 2.0 * (u - 1.0),
        conjugate=lambda t: t**2 / 4.0 + t,
        activation=lambda v: v,
        inverse_activation=lambda t: t,
        in_domain=np.isfinite,
        f_prime_at_1=0.0,
        real_line=True,
    ),
    "neyman": Spec(
        f=lambda u: (1.0 - u) ** 2 / u,
        f_prime=lambda u: 1.0 - 1.0 / u**2,
        conjugate=lambda t: 2.0 - 2.0 * np.sqrt(1.0 - t),
        activation=lambda v: 1.0 - np.exp(-v),
        inverse_activation=lambda t: -np.log(1.0 - t),
        in_domain=lambda t: t < 1,
        f_prime_at_1=0.0,
    ),
    "hellinger": Spec(
        f=lambda u: (np.sqrt(u) - 1.0) ** 2,
        f_prime=lambda u: 1.0 - 1.0 / np.sqrt(u),
        conjugate=lambda t: t / (1.0 - t),
        activation=lambda v: 1.0 - np.exp(-v),
        inverse_activation=lambda t: -np.log(1.0 - t),
        in_domain=lambda t: t < 1,
        f_prime_at_1=0.0,
    ),
    "js": Spec(
        f=lambda u: -(u + 1.0) * np.log((1.0 + u) / 2.0) + _xlogx(u),
        f_prime=lambda u: np.log(2.0 * u / (1.0 + u)),
        conjugate=lambda t: -np.log(2.0 - np.exp(t)),
        activation=lambda v: LOG2 - _softplus(-v),
        inverse_activation=lambda t: -np.log(2.0 * np.exp(-t) - 1.0),
        in_domain=lambda t: t < LOG2,
        f_prime_at_1=0.0,
    ),
    "gan": Spec(
        f=lambda u: _xlogx(u) - (u + 1.0) * np.log(u + 1.0),
        f_prime=lambda u: np.log(u / (u + 1.0)),
        conjugate=lambda t: -np.log(1.0 - np.exp(t)),
        activation=lambda v: -_softplus(-v),
        inverse_activation=lambda t: -np.log(np.exp(-t) - 1.0),
        in_domain=lambda t: t < 0,
        f_prime_at_1=-LOG2,
    ),
    "tv": Spec(
        f=lambda u: 0.5 * np.abs(u - 1.0),
        f_prime=lambda u: 0.5 * np.sign(u - 1.0),
        conjugate=lambda t: t,
        activation=lambda v: 0.5 * np.tanh(v),
        # T* = +-1/2 sits on the boundary; 1 - 1e-15 keeps v finite at a 1e-15 cost.
        inverse_activation=lambda t: np.arctanh(np.clip(2.0 * t, -1.0 + 1e-15, 1.0 - 1e-15)),
        in_domain=lambda t: np.abs(t) <= 0.5,
        f_prime_at_1=0.0,
    ),
}


@pytest.fixture
def x64():
    """Run the module in float64, so comparisons are limited by the maths, not by rounding."""
    previous = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


def call(fn, x):
    """Apply a module function to a numpy array and return numpy (float64 under x64)."""
    return np.asarray(fn(jnp.asarray(x)))


# ---------------------------------------------------------------------------------------
# 1. The conjugate is the Fenchel conjugate of f.


def numerical_conjugate(f, t, real_line=False):
    """sup_u (u t - f(u)) per t: a dense log grid, then golden section around its argmax.

    u t - f(u) is concave in u, so the bracket around the grid's argmax holds the sup.
    """
    u = np.logspace(-6, 6, 4001)
    if real_line:
        u = np.concatenate([-u[::-1], u])
    t = np.asarray(t, dtype=np.float64)[:, None]
    i = np.clip(np.argmax(u * t - f(u), axis=1), 1, u.size - 2)
    lo, hi = u[i - 1], u[i + 1]
    t = t[:, 0]

    def h(x):
        return x * t - f(x)

    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    for _ in range(120):
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        left = h(a) > h(b)
        hi = np.where(left, b, hi)
        lo = np.where(left, lo, a)
    return h(0.5 * (lo + hi))


def interior_points(spec):
    """About 20 points spread over the interior of dom f*: g_f of a grid of v."""
    t = spec.activation(np.linspace(-3.0, 3.0, 21))
    assert np.all(spec.in_domain(t))
    return t


def test_every_divergence_has_a_spec():
    assert set(SPECS) == set(DIVERGENCES)


@pytest.mark.parametrize("name", NAMES)
def test_conjugate_is_sup_of_ut_minus_f(name, x64):
    spec, div = SPECS[name], DIVERGENCES[name]
    t = interior_points(spec)
    expected = numerical_conjugate(spec.f, t, spec.real_line)
    np.testing.assert_allclose(call(div.conjugate, t), expected, rtol=1e-6, atol=1e-8)
    # The spec's own conjugate is used as a reference below, so it is held to the same sup.
    np.testing.assert_allclose(spec.conjugate(t), expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_f_matches_the_table(name, x64):
    u = np.logspace(-4, 4, 101)
    np.testing.assert_allclose(call(DIVERGENCES[name].f, u), SPECS[name].f(u), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------------
# 2. Activations land in dom f*; the stable fake score equals the naive f*(g_f(v)).


@pytest.mark.parametrize("name", NAMES)
def test_activation_matches_the_table_and_stays_in_domain(name, x64):
    spec, div = SPECS[name], DIVERGENCES[name]
    v = np.linspace(-30.0, 30.0, 601)
    t = call(div.activation, v)
    np.testing.assert_allclose(t, spec.activation(v), rtol=1e-12, atol=1e-12)
    assert np.all(spec.in_domain(t))
    np.testing.assert_array_equal(call(div.real_score, v), t)


@pytest.mark.parametrize("name", NAMES)
def test_fake_score_equals_naive_composite(name, x64):
    div = DIVERGENCES[name]
    v = np.linspace(-5.0, 5.0, 201)
    naive = call(div.conjugate, call(div.activation, v))
    np.testing.assert_allclose(call(div.fake_score, v), naive, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(naive, SPECS[name].conjugate(SPECS[name].activation(v)), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_scores_finite_in_float32(name):
    # Up to |v| = 80 every true value fits in float32 (exp(80) ~ 5.5e34), so none may overflow.
    div = DIVERGENCES[name]
    v = jnp.linspace(-80.0, 80.0, 1601, dtype=jnp.float32)
    assert np.all(np.isfinite(np.asarray(div.fake_score(v))))
    real = np.asarray(div.real_score(v))
    assert np.all(np.isfinite(real))
    # Rounding may reach the edge of an open domain in float32, never go past it.
    edge = {"reverse_kl": 0.0, "neyman": 1.0, "hellinger": 1.0, "js": np.float32(LOG2), "gan": 0.0, "tv": 0.5}
    if name in edge:
        assert np.all(real <= edge[name])


# ---------------------------------------------------------------------------------------
# 3. f is a valid generator: f(1) = 0, convex, with the stated derivative.


@pytest.mark.parametrize("name", NAMES)
def test_f_vanishes_at_one_and_is_convex(name, x64):
    div = DIVERGENCES[name]
    # The table's GAN f gives f(1) = -log 4: that constant is what makes D_f = 2 JSD - log 4.
    f_at_1 = -math.log(4.0) if name == "gan" else 0.0
    assert call(div.f, np.array([1.0]))[0] == pytest.approx(f_at_1, abs=1e-15)
    u = np.logspace(-4, 4, 2001)
    slopes = np.diff(call(div.f, u)) / np.diff(u)
    # Convex <=> secant slopes never decrease; the tolerance covers rounding in the slopes.
    assert np.all(np.diff(slopes) >= -1e-8 * (np.abs(slopes[1:]) + 1.0))


@pytest.mark.parametrize("name", NAMES)
def test_f_prime_is_the_derivative_of_f(name, x64):
    spec, div = SPECS[name], DIVERGENCES[name]
    u = np.logspace(-2, 2, 41)
    if name == "tv":
        u = u[np.abs(u - 1.0) > 1e-3]  # |u - 1| / 2 has a kink at 1
    step = 1e-6 * u
    numeric = (spec.f(u + step) - spec.f(u - step)) / (2.0 * step)
    np.testing.assert_allclose(call(div.f_prime, u), numeric, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(spec.f_prime(u), numeric, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_f_prime_at_1(name, x64):
    div = DIVERGENCES[name]
    assert div.f_prime_at_1 == pytest.approx(SPECS[name].f_prime_at_1, abs=1e-12)
    assert call(div.f_prime, np.array([1.0]))[0] == pytest.approx(div.f_prime_at_1, abs=1e-12)


# ---------------------------------------------------------------------------------------
# 4. The variational bound holds for any critic and is tight at T* = f'(p/q).

M1, S1, M2, S2 = 0.0, 1.0, 0.7, 1.3  # P = N(M1, S1^2), Q = N(M2, S2^2)
# Neyman's integrand (p - q)^2 / p decays only like exp(-0.09 x^2), hence the wide grid.
X = np.linspace(-20.0, 30.0, 200_001)


def log_normal_pdf(x, m, s):
    """log of the N(m, s^2) density."""
    return -0.5 * ((x - m) / s) ** 2 - math.log(s * math.sqrt(2.0 * math.pi))


LOG_P, LOG_Q = log_normal_pdf(X, M1, S1), log_normal_pdf(X, M2, S2)
P, Q = np.exp(LOG_P), np.exp(LOG_Q)
RATIO = np.exp(LOG_P - LOG_Q)  # p / q, from logs so the tails do not divide 0 by 0


def integrate(y):
    """Trapezoid rule on X."""
    return float((X[1] - X[0]) * (np.sum(y) - 0.5 * (y[0] + y[-1])))


def kl_gauss(m1, s1, m2, s2):
    """KL(N(m1, s1^2) || N(m2, s2^2)), THEORY.md's closed form."""
    return math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2.0 * s2**2) - 0.5


def pearson_gauss(m1, s1, m2, s2):
    """Pearson chi^2(N(m1, s1^2) || N(m2, s2^2)) = int p^2 / q - 1, THEORY.md's closed form."""
    d = 2.0 * s2**2 - s1**2
    return s2**2 / (s1 * math.sqrt(d)) * math.exp((m1 - m2) ** 2 / d) - 1.0


def hellinger_gauss(m1, s1, m2, s2):
    """Squared Hellinger int (sqrt p - sqrt q)^2 = 2 (1 - BC), THEORY.md's closed form."""
    v = s1**2 + s2**2
    bc = math.sqrt(2.0 * s1 * s2 / v) * math.exp(-((m1 - m2) ** 2) / (4.0 * v))
    return 2.0 * (1.0 - bc)


def tv_gauss(m1, s1, m2, s2):
    """TV = P(A) - Q(A) with A = {p > q}, an interval between the roots of log p = log q."""
    a = 0.5 / s1**2 - 0.5 / s2**2
    b = -m1 / s1**2 + m2 / s2**2
    c = 0.5 * m1**2 / s1**2 - 0.5 * m2**2 / s2**2 + math.log(s1 / s2)
    x1, x2 = sorted(np.roots([a, b, c]).real)

    def cdf(x, m, s):
        return 0.5 * (1.0 + math.erf((x - m) / (s * math.sqrt(2.0))))

    return (cdf(x2, m1, s1) - cdf(x1, m1, s1)) - (cdf(x2, m2, s2) - cdf(x1, m2, s2))


def jsd():
    """JSD(P||Q) = KL(P||M)/2 + KL(Q||M)/2, M = (P+Q)/2, integrated without any f."""
    log_m = np.logaddexp(LOG_P, LOG_Q) - LOG2
    return 0.5 * integrate(P * (LOG_P - log_m)) + 0.5 * integrate(Q * (LOG_Q - log_m))


def reference_divergence(name):
    """D_f(P||Q) from a closed form (or, for js and gan, from KL to the mixture)."""
    return {
        "kl": lambda: kl_gauss(M1, S1, M2, S2),
        "reverse_kl": lambda: kl_gauss(M2, S2, M1, S1),
        "pearson": lambda: pearson_gauss(M1, S1, M2, S2),
        "neyman": lambda: pearson_gauss(M2, S2, M1, S1),  # Neyman(P||Q) = Pearson(Q||P)
        "hellinger": lambda: hellinger_gauss(M1, S1, M2, S2),
        "js": lambda: 2.0 * jsd(),
        "gan": lambda: 2.0 * jsd() - math.log(4.0),
        "tv": lambda: tv_gauss(M1, S1, M2, S2),
    }[name]()


def true_divergence(name):
    """D_f(P||Q) = int q f(p/q) with the table's f."""
    return integrate(Q * SPECS[name].f(RATIO))


def variational_value(div, v):
    """int p g_f(v) - int q f*(g_f(v)) for a critic v on X, with the module's scores."""
    return integrate(P * call(div.real_score, v)) - integrate(Q * call(div.fake_score, v))


def optimal_critic(name):
    """v* with g_f(v*) = T* = f'(p/q), from the table's f' and the hand-inverted g_f."""
    spec = SPECS[name]
    return spec.inverse_activation(spec.f_prime(RATIO))


def arbitrary_critics(name):
    """A dozen critics with no relation to the optimum, plus small perturbations of v*."""
    rng = np.random.default_rng(0)
    critics = [a * X + b for a, b in [(0.3, -0.2), (-0.4, 0.5), (0.1, 1.0)]]
    critics += [np.sin(X), np.cos(2.0 * X) - 0.5, np.zeros_like(X)]
    critics += [3.0 * np.tanh(np.polyval(rng.normal(scale=0.5, size=4), X)) for _ in range(5)]
    v_star = optimal_critic(name)
    critics += [v_star + 0.1 * np.sin(X), v_star - 0.2, v_star + 0.2]
    return critics


@pytest.mark.parametrize("name", NAMES)
def test_numerical_divergence_matches_closed_form(name):
    # Validates the integrator and the table's f against what each f is said to estimate.
    assert true_divergence(name) == pytest.approx(reference_divergence(name), rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_bound_is_tight_at_the_optimal_critic(name, x64):
    div, spec = DIVERGENCES[name], SPECS[name]
    truth = true_divergence(name)
    t_star = spec.f_prime(RATIO)
    via_conjugate = integrate(P * t_star) - integrate(Q * call(div.conjugate, t_star))
    assert via_conjugate == pytest.approx(truth, rel=1e-7, abs=1e-7)
    v_star = optimal_critic(name)
    np.testing.assert_allclose(call(div.real_score, v_star), t_star, rtol=1e-9, atol=1e-12)
    assert variational_value(div, v_star) == pytest.approx(truth, rel=1e-7, abs=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_bound_holds_for_arbitrary_critics(name, x64):
    div = DIVERGENCES[name]
    truth = true_divergence(name)
    for i, v in enumerate(arbitrary_critics(name)):
        value = variational_value(div, v)
        assert np.isfinite(value), i
        assert value <= truth + 1e-6, (i, value, truth)


# ---------------------------------------------------------------------------------------
# 5. The objective and the generator losses assemble the scores as documented.


@pytest.mark.parametrize("name", NAMES)
def test_critic_objective_and_generator_losses(name):
    spec, div = SPECS[name], DIVERGENCES[name]
    rng = np.random.default_rng(1)
    v_real, v_fake = rng.normal(scale=2.0, size=(2, 1000))
    fake = spec.conjugate(spec.activation(v_fake))
    expected = np.mean(spec.activation(v_real)) - np.mean(fake)
    got = float(critic_objective(div, jnp.asarray(v_real, jnp.float32), jnp.asarray(v_fake, jnp.float32)))
    assert got == pytest.approx(expected, rel=1e-5, abs=1e-5)
    v32 = jnp.asarray(v_fake, jnp.float32)
    np.testing.assert_allclose(generator_loss(div, v32, "minimax"), -fake, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        generator_loss(div, v32, "nonsaturating"), -spec.activation(v_fake), rtol=1e-5, atol=1e-5
    )
    with pytest.raises(GancliError):
        generator_loss(div, v32, "saturating")


def test_gan_generator_losses_are_goodfellows():
    v = np.linspace(-10.0, 10.0, 201)
    sigmoid = 1.0 / (1.0 + np.exp(-v))
    div, v32 = DIVERGENCES["gan"], jnp.asarray(v, jnp.float32)
    np.testing.assert_allclose(generator_loss(div, v32, "minimax"), np.log(1.0 - sigmoid), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(generator_loss(div, v32, "nonsaturating"), -np.log(sigmoid), rtol=1e-5, atol=1e-6)


def test_get_divergence():
    for name in NAMES:
        assert get_divergence(name) is DIVERGENCES[name]
    with pytest.raises(GancliError, match="kl"):
        get_divergence("nope")


# ---------------------------------------------------------------------------------------
# 6. Gradients stay finite where a saturated critic would make a naive form overflow.


@pytest.mark.parametrize("name", STABLE)
@pytest.mark.parametrize("v", [-50.0, 0.0, 50.0])
def test_gradients_finite(name, v):
    div = DIVERGENCES[name]
    x = jnp.full((4,), v, dtype=jnp.float32)
    g_real, g_fake = jax.grad(lambda a, b: critic_objective(div, a, b), argnums=(0, 1))(x, x)
    assert np.all(np.isfinite(g_real)) and np.all(np.isfinite(g_fake))
    for form in ("minimax", "nonsaturating"):
        g = jax.grad(lambda a, form=form: jnp.sum(generator_loss(div, a, form)))(x)
        assert np.all(np.isfinite(g)), form


@pytest.mark.parametrize("name", ["gan", "js", "tv"])
def test_bounded_divergences_survive_extreme_logits(name):
    # Their true scores grow at most linearly in v, so any inf or nan here is a naive exp overflowing.
    div = DIVERGENCES[name]
    x = jnp.array([-1000.0, -100.0, 100.0, 1000.0], dtype=jnp.float32)
    assert np.all(np.isfinite(div.real_score(x))) and np.all(np.isfinite(div.fake_score(x)))
    g_real, g_fake = jax.grad(lambda a, b: critic_objective(div, a, b), argnums=(0, 1))(x, x)
    assert np.all(np.isfinite(g_real)) and np.all(np.isfinite(g_fake))


def test_nonsaturating_gan_gradient_is_large_where_minimax_saturates():
    # At D(G(z)) ~ 0 (v = -50) log(1 - D) is flat while -log D has slope ~ -1 (THEORY.md 3).
    div, x = DIVERGENCES["gan"], jnp.array([-50.0])
    minimax = jax.grad(lambda a: jnp.sum(generator_loss(div, a, "minimax")))(x)
    nonsat = jax.grad(lambda a: jnp.sum(generator_loss(div, a, "nonsaturating")))(x)
    assert abs(float(minimax[0])) < 1e-20
    assert float(nonsat[0]) == pytest.approx(-1.0, abs=1e-6)
