"""Check gancli.objectives.f_divergences against values computed independently of its formulas.

Every expected value here comes from THEORY.md section 4 re-typed in numpy (the generator f,
its derivative, the activation g_f and its inverse), from numerical suprema and integrals,
or from the closed forms for two Gaussians, never from the module's own functions. The three
parametrised divergences (alpha, jeffrey, js_weighted; f-GAN Tables 1-2) have only f in
THEORY.md or the brief: their f', f*, dom f*, inverse activations and stable fake scores were
derived by hand below and are held to the numerical suprema like every other row.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gancli.errors import GancliError
from gancli.objectives.f_divergences import BUILDERS, DIVERGENCES, critic_objective, generator_loss, get_divergence

LOG2 = math.log(2.0)
NAMES = sorted(DIVERGENCES)


def _xlogx(u):
    """u log u, with the limit 0 at u = 0."""
    u = np.asarray(u, dtype=np.float64)
    return np.where(u > 0, u * np.log(np.where(u > 0, u, 1.0)), 0.0)


def _softplus(v):
    """log(1 + exp(v)) without overflow."""
    return np.logaddexp(0.0, v)


def _softplus_inv(c):
    """v with softplus(v) = c > 0, as c + log(1 - exp(-c)) so that neither tail overflows."""
    c = np.asarray(c, dtype=np.float64)
    return c + np.log(-np.expm1(-c))


def _log_lambertw_exp(s):
    """y = log W(exp(s)), i.e. the root of exp(y) + y = s, by Newton's method on that root.

    Working with y = log w and s = log(argument) keeps W(exp(s)) usable for s up to ~1e300,
    where exp(s) itself overflows. exp(y) + y - s is convex and increasing, so from the start
    below (right of the root for s <= 1, slightly left of it for s > 1) Newton converges
    monotonically after at most one step, without overshooting into an overflow.
    """
    s = np.asarray(s, dtype=np.float64)
    big = s > 1.0
    safe = np.where(big, s, 2.0)
    y = np.where(big, np.log(safe - np.log(safe)), s)  # W(x) ~ log x - log log x for large x
    for _ in range(60):
        y = y - (np.exp(y) + y - s) / (np.exp(y) + 1.0)
    return y


@dataclass(frozen=True)
class Spec:
    """One row of THEORY.md's f-divergence table (or of the f-GAN paper's), re-typed in numpy."""

    f: Callable  # generator f(u)
    f_prime: Callable  # f'(u), differentiated by hand
    conjugate: Callable  # the table's f*(t), used only where t is well inside dom f*
    activation: Callable  # g_f(v)
    inverse_activation: Callable  # g_f^{-1}(t)
    domain: tuple[float, float]  # dom f* = (lo, hi): open unless `closed`
    f_prime_at_1: float
    closed: bool = False
    real_line: bool = False  # f is a polynomial on all of R (pearson): its f* = t^2/4 + t needs that
    # f*(g_f(v)) simplified by hand so that it is exact where the naive composite cancels or overflows.
    stable_fake_score: Callable | None = None
    # v* as a function of log(p/q), for rows where g_f^{-1}(f'(p/q)) would lose v* to cancellation
    # (t = f'(p/q) rounds onto the edge of dom f* in the tails, and g_f^{-1} of the edge is infinite).
    v_star: Callable | None = None

    def in_domain(self, t):
        lo, hi = self.domain
        t = np.asarray(t)
        if self.closed:
            return (lo <= t) & (t <= hi)
        return (lo < t) & (t < hi)


def alpha_spec(alpha: float) -> Spec:
    """f-GAN's alpha-divergence, f(u) = (u^a - 1 - a (u - 1)) / (a (a - 1)), a not in {0, 1}.

    By hand: f'(u) = (u^(a-1) - 1) / (a - 1), f''(u) = u^(a-2) > 0, f'(1) = 0. The sup of
    u t - f(u) sits where u^(a-1) = s := 1 + (a - 1) t, which needs s > 0: t > 1/(1 - a) for
    a > 1, t < 1/(1 - a) for a < 1. Substituting u = s^(1/(a-1)), u^a = u s:
        f*(t) = (s^(a/(a-1)) - 1) / a.
    (For a > 1, f* continues as the constant -1/a = -f(0) below the edge, since the sup then sits
    at u = 0; the activation never goes there.) With sigma = sign(a - 1) both activations read
    g(v) = 1/(1 - a) + sigma softplus(sigma v), so s = |a - 1| softplus(sigma v) > 0 and
        f*(g(v)) = ((|a - 1| softplus(sigma v))^(a/(a-1)) - 1) / a,
    free of the cancellation 1 + (a - 1) t has near the edge. At T* = f'(rho) the same algebra gives
    softplus(sigma v*) = rho^(a-1) / |a - 1|.
    """
    a = float(alpha)
    sigma = 1.0 if a > 1.0 else -1.0
    edge = 1.0 / (1.0 - a)

    def conjugate(t):
        s = 1.0 + (a - 1.0) * t
        return (s ** (a / (a - 1.0)) - 1.0) / a

    return Spec(
        f=lambda u: (u**a - 1.0 - a * (u - 1.0)) / (a * (a - 1.0)),
        f_prime=lambda u: (u ** (a - 1.0) - 1.0) / (a - 1.0),
        conjugate=conjugate,
        activation=lambda v: edge + sigma * _softplus(sigma * v),
        inverse_activation=lambda t: sigma * _softplus_inv(sigma * (t - edge)),
        domain=(edge, math.inf) if a > 1.0 else (-math.inf, edge),
        f_prime_at_1=0.0,
        stable_fake_score=lambda v: ((abs(a - 1.0) * _softplus(sigma * v)) ** (a / (a - 1.0)) - 1.0) / a,
        v_star=lambda log_ratio: sigma * _softplus_inv(np.exp((a - 1.0) * log_ratio) / abs(a - 1.0)),
    )


def _jeffrey_conjugate(t):
    """f*(t) for f(u) = (u - 1) log u, by hand.

    f'(u) = log u + 1 - 1/u runs over all of R, so dom f* = R. With w = 1/u the stationarity
    condition t = f'(u) reads w + log w = 1 - t, i.e. w = W(exp(1 - t)); then
    f*(t) = u t - f(u) = log u + u - 1 = 1/w - log w - 1, which equals the f-GAN form
    W + 1/W + t - 2 (use W + log W = 1 - t) without its cancellation between W and t for t << 0.
    """
    y = _log_lambertw_exp(1.0 - np.asarray(t, dtype=np.float64))
    return np.exp(-y) - y - 1.0


JEFFREY = Spec(
    f=lambda u: (u - 1.0) * np.log(u),
    f_prime=lambda u: np.log(u) + 1.0 - 1.0 / u,
    conjugate=_jeffrey_conjugate,
    activation=lambda v: v,
    inverse_activation=lambda t: t,
    domain=(-math.inf, math.inf),
    f_prime_at_1=0.0,
    stable_fake_score=_jeffrey_conjugate,  # g_f is the identity
)


def js_weighted_spec(pi: float) -> Spec:
    """f-GAN's pi-weighted Jensen-Shannon, f(u) = pi u log u - (1 - pi + pi u) log(1 - pi + pi u).

    By hand: f'(u) = pi log(u / (1 - pi + pi u)), increasing from -inf (u -> 0) to -pi log pi
    (u -> inf), so dom f* = (-inf, -pi log pi); f'(1) = 0. With r = exp(t / pi) = u / (1 - pi + pi u),
    u t - f(u) collapses to (1 - pi) log(1 - pi + pi u) and 1 - pi + pi u = (1 - pi) / (1 - pi r):
        f*(t) = (1 - pi) log((1 - pi) / (1 - pi exp(t / pi))).
    With g(v) = -pi log pi - pi softplus(-v), pi exp(g/pi) = sigmoid(v), so
        f*(g(v)) = (1 - pi) (log(1 - pi) + softplus(v)),
    and g(v*) = f'(rho) gives v* = log rho + log(pi / (1 - pi)).
    """
    p = float(pi)
    edge = -p * math.log(p)
    return Spec(
        f=lambda u: p * _xlogx(u) - _xlogx(1.0 - p + p * u),
        f_prime=lambda u: p * np.log(u / (1.0 - p + p * u)),
        conjugate=lambda t: (1.0 - p) * np.log((1.0 - p) / (1.0 - p * np.exp(t / p))),
        activation=lambda v: edge - p * _softplus(-v),
        inverse_activation=lambda t: -_softplus_inv((edge - t) / p),
        domain=(-math.inf, edge),
        f_prime_at_1=0.0,
        stable_fake_score=lambda v: (1.0 - p) * (math.log(1.0 - p) + _softplus(v)),
        v_star=lambda log_ratio: log_ratio + math.log(p / (1.0 - p)),
    )


SPECS: dict[str, Spec] = {
    "kl": Spec(
        f=_xlogx,
        f_prime=lambda u: 1.0 + np.log(u),
        conjugate=lambda t: np.exp(t - 1.0),
        activation=lambda v: v,
        inverse_activation=lambda t: t,
        domain=(-math.inf, math.inf),
        f_prime_at_1=1.0,
    ),
    "reverse_kl": Spec(
        f=lambda u: -np.log(u),
        f_prime=lambda u: -1.0 / u,
        conjugate=lambda t: -1.0 - np.log(-t),
        activation=lambda v: -np.exp(-v),
        inverse_activation=lambda t: -np.log(-t),
        domain=(-math.inf, 0.0),
        f_prime_at_1=-1.0,
    ),
    "pearson": Spec(
        f=lambda u: (u - 1.0) ** 2,
        f_prime=lambda u: 2.0 * (u - 1.0),
        conjugate=lambda t: t**2 / 4.0 + t,
        activation=lambda v: v,
        inverse_activation=lambda t: t,
        domain=(-math.inf, math.inf),
        f_prime_at_1=0.0,
        real_line=True,
    ),
    "neyman": Spec(
        f=lambda u: (1.0 - u) ** 2 / u,
        f_prime=lambda u: 1.0 - 1.0 / u**2,
        conjugate=lambda t: 2.0 - 2.0 * np.sqrt(1.0 - t),
        activation=lambda v: 1.0 - np.exp(-v),
        inverse_activation=lambda t: -np.log(1.0 - t),
        domain=(-math.inf, 1.0),
        f_prime_at_1=0.0,
    ),
    "hellinger": Spec(
        f=lambda u: (np.sqrt(u) - 1.0) ** 2,
        f_prime=lambda u: 1.0 - 1.0 / np.sqrt(u),
        conjugate=lambda t: t / (1.0 - t),
        activation=lambda v: 1.0 - np.exp(-v),
        inverse_activation=lambda t: -np.log(1.0 - t),
        domain=(-math.inf, 1.0),
        f_prime_at_1=0.0,
    ),
    "js": Spec(
        f=lambda u: -(u + 1.0) * np.log((1.0 + u) / 2.0) + _xlogx(u),
        f_prime=lambda u: np.log(2.0 * u / (1.0 + u)),
        conjugate=lambda t: -np.log(2.0 - np.exp(t)),
        activation=lambda v: LOG2 - _softplus(-v),
        inverse_activation=lambda t: -np.log(2.0 * np.exp(-t) - 1.0),
        domain=(-math.inf, LOG2),
        f_prime_at_1=0.0,
    ),
    "gan": Spec(
        f=lambda u: _xlogx(u) - (u + 1.0) * np.log(u + 1.0),
        f_prime=lambda u: np.log(u / (u + 1.0)),
        conjugate=lambda t: -np.log(1.0 - np.exp(t)),
        activation=lambda v: -_softplus(-v),
        inverse_activation=lambda t: -np.log(np.exp(-t) - 1.0),
        domain=(-math.inf, 0.0),
        f_prime_at_1=-LOG2,
    ),
    "tv": Spec(
        f=lambda u: 0.5 * np.abs(u - 1.0),
        f_prime=lambda u: 0.5 * np.sign(u - 1.0),
        conjugate=lambda t: t,
        activation=lambda v: 0.5 * np.tanh(v),
        # T* = +-1/2 sits on the boundary; 1 - 1e-15 keeps v finite at a 1e-15 cost.
        inverse_activation=lambda t: np.arctanh(np.clip(2.0 * t, -1.0 + 1e-15, 1.0 - 1e-15)),
        domain=(-0.5, 0.5),
        f_prime_at_1=0.0,
        closed=True,
    ),
    # The registry holds the parametrised divergences at their documented defaults.
    "alpha": alpha_spec(2.0),
    "jeffrey": JEFFREY,
    "js_weighted": js_weighted_spec(0.5),
}
DEFAULT_PARAMS = {"alpha": {"alpha": 2.0}, "js_weighted": {"pi": 0.5}}
SPEC_FACTORIES = {"alpha": alpha_spec, "js_weighted": js_weighted_spec}

# Further parameter values, each run through the same battery as the registry's entries: alpha on
# both activation branches (a < 0, 0 < a < 1, a > 1; 2.0 again, now through an explicit parameter)
# and pi on both sides of 1/2. Every alpha here keeps int p^a q^(1-a) finite for the Gaussians in 4.
PARAMETRISED: dict[str, tuple[str, dict[str, float]]] = {
    **{f"alpha={a:g}": ("alpha", {"alpha": a}) for a in (-1.0, 0.5, 2.0, 3.0)},
    **{f"js_weighted={p:g}": ("js_weighted", {"pi": p}) for p in (0.2, 0.5, 0.8)},
}
CASES = NAMES + list(PARAMETRISED)


def resolve(case):
    """(registry name, parameters) of a case: a registry name or a key of PARAMETRISED."""
    if case in PARAMETRISED:
        return PARAMETRISED[case]
    return case, DEFAULT_PARAMS.get(case, {})


def spec_of(case):
    """The hand-derived Spec for a case."""
    if case in PARAMETRISED:
        name, params = PARAMETRISED[case]
        return SPEC_FACTORIES[name](**params)
    return SPECS[case]


def div_of(case):
    """The module's divergence for a case: the registry entry, or get_divergence with parameters."""
    if case in PARAMETRISED:
        name, params = PARAMETRISED[case]
        return get_divergence(name, **params)
    return DIVERGENCES[case]


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


@pytest.mark.parametrize("name", CASES)
def test_conjugate_is_sup_of_ut_minus_f(name, x64):
    spec, div = spec_of(name), div_of(name)
    t = interior_points(spec)
    expected = numerical_conjugate(spec.f, t, spec.real_line)
    np.testing.assert_allclose(call(div.conjugate, t), expected, rtol=1e-6, atol=1e-8)
    # The spec's own conjugate is used as a reference below, so it is held to the same sup.
    np.testing.assert_allclose(spec.conjugate(t), expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", CASES)
def test_f_matches_the_table(name, x64):
    u = np.logspace(-4, 4, 101)
    np.testing.assert_allclose(call(div_of(name).f, u), spec_of(name).f(u), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------------
# 2. Activations land in dom f*; the stable fake score equals the naive f*(g_f(v)).


@pytest.mark.parametrize("name", CASES)
def test_activation_matches_the_table_and_stays_in_domain(name, x64):
    spec, div = spec_of(name), div_of(name)
    v = np.linspace(-30.0, 30.0, 601)
    t = call(div.activation, v)
    np.testing.assert_allclose(t, spec.activation(v), rtol=1e-12, atol=1e-12)
    assert np.all(spec.in_domain(t))
    np.testing.assert_array_equal(call(div.real_score, v), t)


@pytest.mark.parametrize("name", CASES)
def test_fake_score_equals_naive_composite(name, x64):
    div = div_of(name)
    v = np.linspace(-5.0, 5.0, 201)
    naive = call(div.conjugate, call(div.activation, v))
    np.testing.assert_allclose(call(div.fake_score, v), naive, rtol=1e-9, atol=1e-9)
    spec = spec_of(name)
    np.testing.assert_allclose(naive, spec.conjugate(spec.activation(v)), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", CASES)
def test_scores_finite_in_float32(name):
    # Up to |v| = 80 every true value fits in float32 (exp(80) ~ 5.5e34; the largest, alpha = 1/2's
    # 4 exp(80) ~ 2e35 and jeffrey's 1 / W(exp(-79)) ~ exp(79), too), so none may overflow.
    div, spec = div_of(name), spec_of(name)
    v = jnp.linspace(-80.0, 80.0, 1601, dtype=jnp.float32)
    assert np.all(np.isfinite(np.asarray(div.fake_score(v))))
    real = np.asarray(div.real_score(v))
    assert np.all(np.isfinite(real))
    # Rounding may reach the edge of an open domain in float32, never go past it.
    lo, hi = (np.float32(edge) for edge in spec.domain)
    assert np.all((lo <= real) & (real <= hi))


# ---------------------------------------------------------------------------------------
# 3. f is a valid generator: f(1) = 0, convex, with the stated derivative.


@pytest.mark.parametrize("name", CASES)
def test_f_vanishes_at_one_and_is_convex(name, x64):
    div = div_of(name)
    # The table's GAN f gives f(1) = -log 4: that constant is what makes D_f = 2 JSD - log 4.
    f_at_1 = -math.log(4.0) if resolve(name)[0] == "gan" else 0.0
    assert call(div.f, np.array([1.0]))[0] == pytest.approx(f_at_1, abs=1e-15)
    u = np.logspace(-4, 4, 2001)
    slopes = np.diff(call(div.f, u)) / np.diff(u)
    # Convex <=> secant slopes never decrease; the tolerance covers rounding in the slopes.
    assert np.all(np.diff(slopes) >= -1e-8 * (np.abs(slopes[1:]) + 1.0))


@pytest.mark.parametrize("name", CASES)
def test_f_prime_is_the_derivative_of_f(name, x64):
    spec, div = spec_of(name), div_of(name)
    u = np.logspace(-2, 2, 41)
    if resolve(name)[0] == "tv":
        u = u[np.abs(u - 1.0) > 1e-3]  # |u - 1| / 2 has a kink at 1
    step = 1e-6 * u
    numeric = (spec.f(u + step) - spec.f(u - step)) / (2.0 * step)
    np.testing.assert_allclose(call(div.f_prime, u), numeric, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(spec.f_prime(u), numeric, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", CASES)
def test_f_prime_at_1(name, x64):
    div = div_of(name)
    assert div.f_prime_at_1 == pytest.approx(spec_of(name).f_prime_at_1, abs=1e-12)
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


def weighted_jsd(pi):
    """pi KL(P||M) + (1 - pi) KL(Q||M), M = pi P + (1 - pi) Q, integrated without any f.

    This is what js_weighted's f estimates: expanding int q f(p/q) gives
    pi int p log p + (1 - pi) int q log q - int m log m, which is the expression above.
    """
    log_m = np.logaddexp(math.log(pi) + LOG_P, math.log1p(-pi) + LOG_Q)
    return pi * integrate(P * (LOG_P - log_m)) + (1.0 - pi) * integrate(Q * (LOG_Q - log_m))


def jsd():
    """JSD(P||Q) = KL(P||M)/2 + KL(Q||M)/2, M = (P+Q)/2."""
    return weighted_jsd(0.5)


def alpha_gauss(a, m1, s1, m2, s2):
    """D_alpha(N(m1, s1^2) || N(m2, s2^2)) = (int p^a q^(1-a) - 1) / (a (a - 1)).

    int q f(p/q) = (int p^a q^(1-a) - 1 - a (1 - 1)) / (a (a - 1)); the Gaussian integral is
    s1^(1-a) s2^a / sqrt(d) exp(-a (1 - a) (m1 - m2)^2 / (2 d)), d = a s2^2 + (1 - a) s1^2,
    finite only for d > 0 (for a = 2 it is Pearson chi^2 / 2).
    """
    d = a * s2**2 + (1.0 - a) * s1**2
    assert d > 0, f"D_alpha is infinite for alpha = {a} between these Gaussians"
    integral = s1 ** (1.0 - a) * s2**a / math.sqrt(d) * math.exp(-a * (1.0 - a) * (m1 - m2) ** 2 / (2.0 * d))
    return (integral - 1.0) / (a * (a - 1.0))


def reference_divergence(case):
    """D_f(P||Q) from a closed form (or, for js, gan and js_weighted, from KL to the mixture)."""
    name, params = resolve(case)
    return {
        "alpha": lambda: alpha_gauss(params.get("alpha", 0.0), M1, S1, M2, S2),
        "jeffrey": lambda: kl_gauss(M1, S1, M2, S2) + kl_gauss(M2, S2, M1, S1),  # int (p - q) log(p / q)
        "js_weighted": lambda: weighted_jsd(params.get("pi", 0.0)),
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
    return integrate(Q * spec_of(name).f(RATIO))


def variational_value(div, v):
    """int p g_f(v) - int q f*(g_f(v)) for a critic v on X, with the module's scores."""
    return integrate(P * call(div.real_score, v)) - integrate(Q * call(div.fake_score, v))


def optimal_critic(name):
    """v* with g_f(v*) = T* = f'(p/q), from the table's f' and the hand-inverted g_f."""
    spec = spec_of(name)
    if spec.v_star is not None:
        return spec.v_star(LOG_P - LOG_Q)
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


@pytest.mark.parametrize("name", CASES)
def test_numerical_divergence_matches_closed_form(name):
    # Validates the integrator and the table's f against what each f is said to estimate.
    assert true_divergence(name) == pytest.approx(reference_divergence(name), rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("name", CASES)
def test_bound_is_tight_at_the_optimal_critic(name, x64):
    div, spec = div_of(name), spec_of(name)
    truth = true_divergence(name)
    t_star = spec.f_prime(RATIO)
    via_conjugate = integrate(P * t_star) - integrate(Q * call(div.conjugate, t_star))
    assert via_conjugate == pytest.approx(truth, rel=1e-7, abs=1e-7)
    v_star = optimal_critic(name)
    np.testing.assert_allclose(call(div.real_score, v_star), t_star, rtol=1e-9, atol=1e-12)
    assert variational_value(div, v_star) == pytest.approx(truth, rel=1e-7, abs=1e-7)


@pytest.mark.parametrize("name", CASES)
def test_bound_holds_for_arbitrary_critics(name, x64):
    div = div_of(name)
    truth = true_divergence(name)
    for i, v in enumerate(arbitrary_critics(name)):
        value = variational_value(div, v)
        assert np.isfinite(value), i
        assert value <= truth + 1e-6, (i, value, truth)


# ---------------------------------------------------------------------------------------
# 5. The objective and the generator losses assemble the scores as documented.


@pytest.mark.parametrize("name", CASES)
def test_critic_objective_and_generator_losses(name):
    spec, div = spec_of(name), div_of(name)
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


def same_functions(a, b):
    """Whether two divergences agree on f, f', f*, g_f and the fake score (bit for bit, in float64)."""
    u, v = np.logspace(-3, 3, 61), np.linspace(-10.0, 10.0, 81)
    t = call(a.activation, v)
    pairs = [(a.f, b.f, u), (a.f_prime, b.f_prime, u), (a.conjugate, b.conjugate, t)]
    pairs += [(a.activation, b.activation, v), (a.fake_score, b.fake_score, v)]
    return a.f_prime_at_1 == b.f_prime_at_1 and all(np.array_equal(call(x, w), call(y, w)) for x, y, w in pairs)


def test_get_divergence(x64):
    # A parametrised divergence is built afresh on each call, so equality is of behaviour, not identity.
    for name in NAMES:
        assert same_functions(get_divergence(name), DIVERGENCES[name]), name
        assert same_functions(get_divergence(name, **DEFAULT_PARAMS.get(name, {})), DIVERGENCES[name]), name
    with pytest.raises(GancliError, match="kl"):
        get_divergence("nope")


def test_parameters_change_the_divergence(x64):
    # Guards against a builder that ignores its parameter (every case would then test the default).
    assert not same_functions(get_divergence("alpha", alpha=3.0), DIVERGENCES["alpha"])
    assert not same_functions(get_divergence("js_weighted", pi=0.2), DIVERGENCES["js_weighted"])


BAD_PARAMETERS = [
    ("alpha", {"alpha": 1.0}),  # f has a 0/0 at a = 1 (its limit is KL, a different row)
    ("alpha", {"alpha": 0.0}),  # and at a = 0 (limit: reverse KL)
    ("js_weighted", {"pi": 1.5}),
    ("js_weighted", {"pi": 0.0}),  # the endpoints make f linear, so D_f = 0 for every P, Q
    ("js_weighted", {"pi": 1.0}),
    ("js_weighted", {"pi": -0.2}),
    ("kl", {"alpha": 2.0}),  # a parameter the divergence does not take
    ("alpha", {"pi": 0.5}),
    ("jeffrey", {"alpha": 2.0}),
]


@pytest.mark.parametrize(
    "name, params", BAD_PARAMETERS, ids=[f"{n}-{k}={v:g}" for n, ps in BAD_PARAMETERS for k, v in ps.items()]
)
def test_bad_parameters_raise(name, params):
    with pytest.raises(GancliError):
        get_divergence(name, **params)


# ---------------------------------------------------------------------------------------
# 6. Gradients stay finite where a saturated critic would make a naive form overflow.


# Written to stay finite, gradients included, at |v| = 50 (every true value and slope there fits float32).
STABLE = ["gan", "js", "reverse_kl", "tv", "alpha", "js_weighted"] + list(PARAMETRISED)


@pytest.mark.parametrize("name", STABLE)
@pytest.mark.parametrize("v", [-50.0, 0.0, 50.0])
def test_gradients_finite(name, v):
    div = div_of(name)
    x = jnp.full((4,), v, dtype=jnp.float32)
    g_real, g_fake = jax.grad(lambda a, b: critic_objective(div, a, b), argnums=(0, 1))(x, x)
    assert np.all(np.isfinite(g_real)) and np.all(np.isfinite(g_fake))
    for form in ("minimax", "nonsaturating"):
        g = jax.grad(lambda a, form=form: jnp.sum(generator_loss(div, a, form)))(x)
        assert np.all(np.isfinite(g)), form


@pytest.mark.parametrize("name", ["gan", "js", "tv", "js_weighted"])
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


# ---------------------------------------------------------------------------------------
# 7. The parametrised divergences: stable forms, jeffrey's Lambert W, js_weighted at pi = 1/2.

WITH_STABLE_FORM = [case for case in CASES if spec_of(case).stable_fake_score is not None]


@pytest.mark.parametrize("name", WITH_STABLE_FORM)
def test_fake_score_matches_hand_simplified_form(name, x64):
    # Wider than the naive-composite check: at |v| = 30 the naive f*(g_f(v)) cancels (alpha, a > 1:
    # 1 + (a - 1) t ~ 1e-13) or saturates (js_weighted: 1 - sigmoid(30) ~ 1e-13), the hand form does not.
    spec, div = spec_of(name), div_of(name)
    v = np.linspace(-30.0, 30.0, 601)
    np.testing.assert_allclose(call(div.fake_score, v), spec.stable_fake_score(v), rtol=1e-9, atol=1e-12)
    inside = np.abs(v) <= 5.0  # where the naive composite is still accurate, the two forms must agree
    naive = spec.conjugate(spec.activation(v[inside]))
    np.testing.assert_allclose(spec.stable_fake_score(v[inside]), naive, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", CASES)
def test_inverse_activation_inverts_activation(name, x64):
    # The tightness test builds v* from these inverses (or from v_star), so they are checked here too.
    spec = spec_of(name)
    v = np.linspace(-8.0, 8.0, 33)
    np.testing.assert_allclose(spec.inverse_activation(spec.activation(v)), v, rtol=1e-7, atol=1e-7)
    if spec.v_star is not None:
        log_ratio = np.linspace(-5.0, 5.0, 41)
        direct = spec.inverse_activation(spec.f_prime(np.exp(log_ratio)))
        np.testing.assert_allclose(spec.v_star(log_ratio), direct, rtol=1e-7, atol=1e-7)


def test_lambert_w_helper():
    # The reference W itself: w e^w = x over 600 orders of magnitude, and W(e) = 1, W(0+) ~ x.
    s = np.linspace(-300.0, 300.0, 1201)
    y = _log_lambertw_exp(s)
    np.testing.assert_allclose(np.exp(y) + y, s, rtol=1e-13, atol=1e-12)
    assert _log_lambertw_exp(np.array([1.0]))[0] == pytest.approx(0.0, abs=1e-15)
    # f-GAN's form W + 1/W + t - 2 agrees with the cancellation-free one where it is accurate.
    t = np.linspace(-5.0, 5.0, 21)
    w = np.exp(_log_lambertw_exp(1.0 - t))
    np.testing.assert_allclose(_jeffrey_conjugate(t), w + 1.0 / w + t - 2.0, rtol=1e-12, atol=1e-12)


def test_jeffrey_fake_score_is_the_numerical_sup(x64):
    # The module computes W itself; hold its fake score to sup_u (u v - f(u)), no W involved.
    v = np.linspace(-20.0, 6.0, 105)
    expected = numerical_conjugate(JEFFREY.f, v)
    np.testing.assert_allclose(call(DIVERGENCES["jeffrey"].fake_score, v), expected, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_jeffrey_fake_score_gradient(dtype, x64):
    # d f*/dt is the maximiser u = 1/W(exp(1 - t)) (envelope theorem): finite and known exactly.
    v = np.linspace(-20.0, 6.0, 105)
    grad = np.asarray(jax.vmap(jax.grad(DIVERGENCES["jeffrey"].fake_score))(jnp.asarray(v, dtype)))
    assert np.all(np.isfinite(grad))
    rtol = 1e-4 if dtype == jnp.float32 else 1e-9
    np.testing.assert_allclose(grad, np.exp(-_log_lambertw_exp(1.0 - v)), rtol=rtol, atol=rtol)


def test_js_weighted_at_one_half_is_half_of_js(x64):
    # At pi = 1/2 the weighted f is exactly f_js / 2, so f* (t) = f_js*(2 t) / 2, and the activations
    # line up too: g(v) = g_js(v) / 2, hence both scores are halved and the divergence is JSD, not 2 JSD.
    jsw, js = get_divergence("js_weighted", pi=0.5), DIVERGENCES["js"]
    u, v = np.logspace(-4, 4, 81), np.linspace(-30.0, 30.0, 121)
    np.testing.assert_allclose(call(jsw.f, u), 0.5 * call(js.f, u), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(call(jsw.f_prime, u), 0.5 * call(js.f_prime, u), rtol=1e-12, atol=1e-14)
    t = np.linspace(-10.0, 0.3, 53)  # below pi's edge -pi log pi = log(2) / 2 ~ 0.347
    np.testing.assert_allclose(call(jsw.conjugate, t), 0.5 * call(js.conjugate, 2.0 * t), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(call(jsw.real_score, v), 0.5 * call(js.real_score, v), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(call(jsw.fake_score, v), 0.5 * call(js.fake_score, v), rtol=1e-12, atol=1e-14)
    exact = integrate(Q * call(jsw.f, RATIO))
    assert exact == pytest.approx(0.5 * integrate(Q * call(js.f, RATIO)), rel=1e-12)
    assert exact == pytest.approx(jsd(), rel=1e-7)


def test_each_registry_entry_declares_the_parameters_its_builder_and_its_config_take():
    """No signature is inspected at run time: the entry says what it takes, and this ties it to
    the builder's arguments and to the keys of its option's config class."""
    import inspect
    from dataclasses import fields

    from gancli.config.compose import group_config

    common = {"name", "generator_loss", "penalty", "penalty_weight"}
    for name, builder in BUILDERS.items():
        assert tuple(inspect.signature(builder.build).parameters) == builder.parameters, name
        assert {f.name for f in fields(group_config("divergence", name))} - common == set(builder.parameters), name
    with pytest.raises(GancliError, match="divergence 'kl' takes no parameter\\(s\\) alpha"):
        get_divergence("kl", alpha=2.0)
