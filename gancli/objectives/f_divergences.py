"""The f-divergence registry: each divergence as a few pure, element-wise functions.

Reference: Nowozin, Cseke and Tomioka, "f-GAN: Training Generative Neural Samplers using
Variational Divergence Minimization", NeurIPS 2016 (Tables 1-2); THEORY.md section 4.

For a convex f with f(1) = 0, D_f(P||Q) = E_Q[f(p/q)] >= sup_T E_P[T] - E_Q[f*(T)].
The critic outputs an unconstrained v; T = g_f(v) maps it into the domain of f*.
Every divergence here supplies, element-wise on v:
  real_score(v) = g_f(v)            the critic's reward on a real sample
  fake_score(v) = f*(g_f(v))        the critic's cost on a generated sample, in a stable form
and, for tests and exact values, f, its derivative f' (the optimal critic is T* = f'(p/q))
and the conjugate f* itself. Functions are element-wise: callers reduce.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import jax
import jax.numpy as jnp
from jax import Array
from jax.nn import softplus

from gancli.errors import GancliError, lookup
from gancli.objectives import gaussian_forms

LOG2 = math.log(2.0)
Elementwise = Callable[[Array], Array]


class CriticLossLike(Protocol):
    """What the train step needs of any GAN objective, f-divergence or not (see objectives.critic_losses)."""

    name: str
    estimates: str
    required_penalty: str | None  # a penalty the objective is not defined without (WGAN-GP's gp), or None
    zero_sum: bool  # whether the minimax generator loss (G minimises the critic's objective) means anything
    # What G descends at the optimal critic with each form (README; tests/objectives/test_generator_forms.py).
    minimax_descends: str
    nonsaturating_descends: str
    roth_weight: Elementwise | None  # w(v) of the Roth et al. penalty (gancli.objectives.penalties), or None
    probability: Elementwise | None  # D(x), the probability that x is real, from v where the objective defines one

    def real_score(self, v: Array) -> Array: ...
    def fake_score(self, v: Array) -> Array: ...
    def nonsaturating_loss(self, v: Array) -> Array: ...


@dataclass(frozen=True)
class Divergence:
    """One f-divergence. `estimates` names what E_P[T] - E_Q[f*(T)] lower-bounds."""

    name: str
    estimates: str
    f: Elementwise  # generator function f(u), u = p/q > 0
    f_prime: Elementwise  # f'(u): the optimal critic is T*(x) = f'(p(x)/q(x))
    conjugate: Elementwise  # f*(t) on its domain
    activation: Elementwise  # g_f(v): R -> dom f*
    fake_score: Elementwise  # f*(g_f(v)), written so it cannot overflow where the naive form does
    f_prime_at_1: float  # f'(1): the critic's value where P = Q
    # What the non-saturating generator descends at the optimal critic: the f-divergence D_h with
    # h''(u) = f''(u) / u; the minimax form descends D_f itself (README: What each generator loss descends).
    nonsaturating_descends: str
    # w(v) = f*''(g_f(v)) g_f'(v)^2 = g_f'(v)^2 / f''(u(v)), u(v) = (f')^-1(g_f(v)) the density ratio
    # the critic implies: Roth et al.'s regulariser is E_Q[w(v) |grad v|^2] (gancli.objectives.penalties).
    roth_weight: Elementwise | None
    # What gancli.evaluation.exact needs (gancli.objectives.gaussian_forms): D_f between two single
    # diagonal Gaussians in closed form, or None (then integrated); the c whose int p^c q^(1-c) must
    # be finite for D_f(P||Q) to be (the others always are between Gaussians); and the c it must be
    # finite for, for the bound's sample averages at the optimal critic to have finite variance.
    gaussian_closed_form: Callable[[Any, Any], float] | None
    finite_if_moments: tuple[float, ...]
    finite_variance_if_moments: tuple[float, ...]
    params: dict[str, float] = field(default_factory=dict)  # e.g. {"alpha": 2.0}
    # D(x) = P(real | x) that the critic's output v implies, where the objective is a classifier's
    # (the original GAN: D = sigmoid(v), D* = p/(p+q), Goodfellow et al. 2014); None elsewhere.
    probability: Elementwise | None = None

    required_penalty = None  # the bound alone defines the critic's objective
    zero_sum = True  # G may minimise the critic's own objective (the minimax form)

    @property
    def minimax_descends(self) -> str:
        return self.estimates

    def real_score(self, v: Array) -> Array:
        return self.activation(v)

    def nonsaturating_loss(self, v: Array) -> Array:
        """-g_f(v): G maximises E_Q[g_f(V)] (f-GAN section 3.2)."""
        return -self.activation(v)


def critic_objective(div: Divergence | CriticLossLike, v_real: Array, v_fake: Array) -> Array:
    """E_P[g_f(v)] - E_Q[f*(g_f(v))]: the critic maximises it; it lower-bounds D_f(P||Q)."""
    return jnp.mean(div.real_score(v_real)) - jnp.mean(div.fake_score(v_fake))


def generator_loss(div: Divergence | CriticLossLike, v_fake: Array, form: str) -> Array:
    """Element-wise generator loss on the critic's outputs for generated samples.

    minimax:       -f*(g_f(v))  (G minimises the critic objective; only this term depends on G)
    nonsaturating: -g_f(v)      (G maximises E_Q[g_f(v)]; f-GAN section 3.2)
    For `gan` these are log(1 - D) and -log D of Goodfellow et al. 2014.
    """
    if form == "minimax":
        if not div.zero_sum:
            raise GancliError(f"divergence {div.name} is not a zero-sum game, so it has no minimax generator loss; "
                              "use divergence.generator_loss=nonsaturating")
        return -div.fake_score(v_fake)
    if form == "nonsaturating":
        return div.nonsaturating_loss(v_fake)
    raise GancliError(f"divergence.generator_loss is {form!r}; allowed values: nonsaturating, minimax")


def _xlogx(u: Array) -> Array:
    return jnp.where(u > 0, u * jnp.log(jnp.where(u > 0, u, 1.0)), 0.0)


# Each activation and its stable f*(g_f(v)); derivations in the comments, from THEORY.md's table.
KL = Divergence(
    name="kl", estimates="KL(P||Q)",
    f=_xlogx,
    f_prime=lambda u: 1.0 + jnp.log(u),
    conjugate=lambda t: jnp.exp(t - 1.0),
    activation=lambda v: v,
    fake_score=lambda v: jnp.exp(v - 1.0),
    f_prime_at_1=1.0,
    nonsaturating_descends="KL(Q||P), the reverse KL (Poole et al. 2016)",
    roth_weight=lambda v: jnp.exp(v - 1.0),
    gaussian_closed_form=gaussian_forms.kl_gaussians, finite_if_moments=(), finite_variance_if_moments=(2,),
)

REVERSE_KL = Divergence(
    name="reverse_kl", estimates="KL(Q||P)",
    f=lambda u: -jnp.log(u),
    f_prime=lambda u: -1.0 / u,
    conjugate=lambda t: -1.0 - jnp.log(-t),
    activation=lambda v: -jnp.exp(-v),
    # -1 - log(exp(-v)) = v - 1: no exp, so nothing can overflow.
    fake_score=lambda v: v - 1.0,
    f_prime_at_1=-1.0,
    nonsaturating_descends="Neyman chi^2(P||Q) / 2",
    roth_weight=jnp.ones_like,
    gaussian_closed_form=gaussian_forms.reverse_kl_gaussians, finite_if_moments=(), finite_variance_if_moments=(-1,),
)

PEARSON = Divergence(
    name="pearson", estimates="Pearson chi^2(P||Q) = int (p - q)^2 / q",
    f=lambda u: (u - 1.0) ** 2,
    f_prime=lambda u: 2.0 * (u - 1.0),
    conjugate=lambda t: 0.25 * t**2 + t,
    activation=lambda v: v,
    fake_score=lambda v: 0.25 * v**2 + v,
    f_prime_at_1=0.0,
    nonsaturating_descends="2 KL(P||Q)",
    roth_weight=lambda v: jnp.full_like(v, 0.5),
    gaussian_closed_form=gaussian_forms.pearson_gaussians, finite_if_moments=(2,), finite_variance_if_moments=(3, 4),
)

NEYMAN = Divergence(
    name="neyman", estimates="Neyman chi^2(P||Q) = int (p - q)^2 / p",
    f=lambda u: (1.0 - u) ** 2 / u,
    f_prime=lambda u: 1.0 - 1.0 / u**2,
    conjugate=lambda t: 2.0 - 2.0 * jnp.sqrt(1.0 - t),
    activation=lambda v: -jnp.expm1(-v),
    # 2 - 2 sqrt(exp(-v)) = 2 - 2 exp(-v/2).
    fake_score=lambda v: -2.0 * jnp.expm1(-0.5 * v),
    f_prime_at_1=0.0,
    nonsaturating_descends="2 D_alpha(P||Q), alpha = -2",
    roth_weight=lambda v: 0.5 * jnp.exp(-0.5 * v),
    gaussian_closed_form=gaussian_forms.neyman_gaussians, finite_if_moments=(-1,), finite_variance_if_moments=(-2, -3),
)

HELLINGER = Divergence(
    name="hellinger", estimates="squared Hellinger H^2(P,Q) = int (sqrt(p) - sqrt(q))^2",
    f=lambda u: (jnp.sqrt(u) - 1.0) ** 2,
    f_prime=lambda u: 1.0 - 1.0 / jnp.sqrt(u),
    conjugate=lambda t: t / (1.0 - t),
    activation=lambda v: -jnp.expm1(-v),
    # t / (1 - t) with 1 - t = exp(-v): (1 - exp(-v)) exp(v) = exp(v) - 1.
    fake_score=lambda v: jnp.expm1(v),
    f_prime_at_1=0.0,
    nonsaturating_descends="D_alpha(P||Q) / 2, alpha = -1/2",
    roth_weight=lambda v: 2.0 * jnp.exp(v),
    gaussian_closed_form=gaussian_forms.hellinger_gaussians, finite_if_moments=(), finite_variance_if_moments=(),
)

JS = Divergence(
    name="js", estimates="2 JSD(P||Q) (f-GAN's Jensen-Shannon f gives twice the JSD)",
    f=lambda u: -(u + 1.0) * jnp.log((1.0 + u) / 2.0) + _xlogx(u),
    f_prime=lambda u: jnp.log(2.0 * u / (1.0 + u)),
    conjugate=lambda t: -jnp.log(2.0 - jnp.exp(t)),
    # log 2 - log(1 + exp(-v)) = log 2 - softplus(-v): softplus avoids exp overflow.
    activation=lambda v: LOG2 - softplus(-v),
    # -log(2 - 2 sigmoid(v)) = -log 2 - log sigmoid(-v) = softplus(v) - log 2.
    fake_score=lambda v: softplus(v) - LOG2,
    f_prime_at_1=0.0,
    nonsaturating_descends="KL(Q||P) - 2 JSD(P||Q)",
    roth_weight=jax.nn.sigmoid,
    gaussian_closed_form=None, finite_if_moments=(), finite_variance_if_moments=(),
)

GAN = Divergence(
    name="gan", estimates="2 JSD(P||Q) - log 4 (the original GAN game)",
    f=lambda u: _xlogx(u) - (u + 1.0) * jnp.log(u + 1.0),
    f_prime=lambda u: jnp.log(u / (u + 1.0)),
    conjugate=lambda t: -jnp.log1p(-jnp.exp(t)),
    # -log(1 + exp(-v)) = log sigmoid(v) = log D(x), via softplus for stability.
    activation=lambda v: -softplus(-v),
    # -log(1 - sigmoid(v)) = softplus(v).
    fake_score=lambda v: softplus(v),
    f_prime_at_1=-LOG2,
    nonsaturating_descends="KL(Q||P) - 2 JSD(P||Q) (Arjovsky & Bottou 2017)",
    roth_weight=jax.nn.sigmoid,
    probability=jax.nn.sigmoid,
    gaussian_closed_form=None, finite_if_moments=(), finite_variance_if_moments=(),
)

TV = Divergence(
    name="tv", estimates="total variation TV(P,Q) = int |p - q| / 2",
    f=lambda u: 0.5 * jnp.abs(u - 1.0),
    f_prime=lambda u: 0.5 * jnp.sign(u - 1.0),
    conjugate=lambda t: t,
    activation=lambda v: 0.5 * jnp.tanh(v),
    fake_score=lambda v: 0.5 * jnp.tanh(v),
    f_prime_at_1=0.0,
    nonsaturating_descends=("nothing: the optimal critic sign(p - q) / 2 is flat almost everywhere, so it passes "
                            "G no gradient in either form"),
    roth_weight=None,
    gaussian_closed_form=None, finite_if_moments=(), finite_variance_if_moments=(),
)



@jax.custom_jvp
def log_softplus(x: Array) -> Array:
    """log(softplus(x)), finite for very negative x, where softplus(x) ~ e^x underflows."""
    return jnp.where(x < -30.0, x, jnp.log(softplus(jnp.maximum(x, -30.0))))


@log_softplus.defjvp
def _log_softplus_jvp(primals: tuple[Array], tangents: tuple[Array]) -> tuple[Array, Array]:
    # d/dx = sigmoid(x) / softplus(x), formed in log space: the two factors over- and underflow apart.
    (x,), (dx,) = primals, tangents
    value = log_softplus(x)
    return value, dx * jnp.exp(-softplus(-x) - value)


def alpha_divergence(alpha: float = 2.0) -> Divergence:
    """The alpha-divergence, f(u) = (u^a - 1 - a (u - 1)) / (a (a - 1)), a not in {0, 1}.

    f'(u) = (u^(a-1) - 1) / (a - 1) and f*(t) = ((1 + (a - 1) t)^(a/(a-1)) - 1) / a, on
    t > 1/(1 - a) for a > 1 and t < 1/(1 - a) for a < 1: the activation has a branch for each
    side (f-GAN, Table 2).
    """
    a = float(alpha)
    if a in (0.0, 1.0):
        raise GancliError(f"divergence.alpha is {a:g}; it must not be 0 or 1 (those limits are the "
                          "reverse_kl and kl divergences: use those instead)")
    edge = 1.0 / (1.0 - a)
    power = a / (a - 1.0)

    def conjugate(t: Array) -> Array:
        return ((1.0 + (a - 1.0) * t) ** power - 1.0) / a

    if a > 1.0:
        activation = lambda v: edge + softplus(v)  # noqa: E731
        # 1 + (a - 1) g(v) = (a - 1) softplus(v); raised to a power through exp(log) to stay finite.
        base = lambda v: math.log(a - 1.0) + log_softplus(v)  # noqa: E731
        log_slope = lambda v: -softplus(-v)  # noqa: E731  (log g'(v) = log sigmoid(v))
    else:
        activation = lambda v: edge - softplus(-v)  # noqa: E731
        base = lambda v: math.log(1.0 - a) + log_softplus(-v)  # noqa: E731
        log_slope = lambda v: -softplus(v)  # noqa: E731  (log sigmoid(-v))

    def roth_weight(v: Array) -> Array:
        # g'^2 / f''(u) with u^(a-1) = 1 + (a - 1) g = exp(base) and f''(u) = u^(a-2), all in log space.
        return jnp.exp(2.0 * log_slope(v) + (2.0 - a) / (a - 1.0) * base(v))

    return Divergence(
        name="alpha", estimates=f"the alpha-divergence D_alpha(P||Q), alpha = {a:g}",
        f=lambda u: (u**a - 1.0 - a * (u - 1.0)) / (a * (a - 1.0)),
        f_prime=lambda u: (u ** (a - 1.0) - 1.0) / (a - 1.0),
        conjugate=conjugate,
        activation=activation,
        fake_score=lambda v: (jnp.exp(power * base(v)) - 1.0) / a,
        f_prime_at_1=0.0,
        # f''(u) / u = u^(a-3), the alpha - 1 divergence's (alpha - 1 = 1 is KL, 0 is reverse KL).
        nonsaturating_descends=f"D_{a - 1.0:g}(P||Q), the alpha-divergence at alpha - 1",
        roth_weight=roth_weight,
        # D_alpha needs int p^a q^(1-a); its estimate's variance, int p^(2a-1) q^(2-2a) and int p^2a q^(1-2a).
        gaussian_closed_form=None, finite_if_moments=(a,), finite_variance_if_moments=(2 * a - 1, 2 * a),
        params={"alpha": a},
    )


@jax.custom_jvp
def lambert_w_of_exp(s: Array) -> Array:
    """W(e^s), the principal Lambert W at e^s, without forming e^s (which overflows).

    Solves w + log w = s by Newton's method, w <- w (1 + s - log w) / (1 + w), from
    w = s - log s (large s) or w = e^s (small s); 20 steps reach float precision. Below s = -20,
    the series x - x^2 + 3x^3/2 at x = e^s is exact to float precision, and Newton would meet
    log(0) once e^s underflows.
    """
    s = jnp.asarray(s)
    clamped = jnp.maximum(s, -20.0)
    w = jnp.where(clamped > 1.0, clamped - jnp.log(jnp.maximum(clamped, 1.0)), jnp.exp(jnp.minimum(clamped, 1.0)))
    for _ in range(20):
        w = w * (1.0 + clamped - jnp.log(w)) / (1.0 + w)
    x = jnp.exp(jnp.minimum(s, -20.0))
    return jnp.where(s < -20.0, x * (1.0 - x + 1.5 * x * x), w)  # the series W(x) = x - x^2 + 3x^3/2 - ...


@lambert_w_of_exp.defjvp
def _lambert_w_of_exp_jvp(primals: tuple[Array], tangents: tuple[Array]) -> tuple[Array, Array]:
    (s,), (ds,) = primals, tangents
    w = lambert_w_of_exp(s)
    return w, ds * w / (1.0 + w)  # d/ds W(e^s) = W / (1 + W), by implicit differentiation


@jax.custom_jvp
def _jeffrey_conjugate(t: Array) -> Array:
    w = lambert_w_of_exp(1.0 - t)
    return w + 1.0 / w + t - 2.0


@_jeffrey_conjugate.defjvp
def _jeffrey_conjugate_jvp(primals: tuple[Array], tangents: tuple[Array]) -> tuple[Array, Array]:
    # f*'(t) is the maximiser u* = (f')^-1(t) = 1 / W(e^(1-t)); the chain rule through W would
    # form 1/W^2, which overflows long before the value does.
    (t,), (dt,) = primals, tangents
    return _jeffrey_conjugate(t), dt / lambert_w_of_exp(1.0 - t)


def _jeffrey_roth_weight(v: Array) -> Array:
    # u = 1 / W(e^(1-v)) (the conjugate's maximiser), f''(u) = 1/u + 1/u^2 = W + W^2, g' = 1.
    w = lambert_w_of_exp(1.0 - v)
    return 1.0 / (w * (1.0 + w))


JEFFREY = Divergence(
    name="jeffrey", estimates="Jeffrey's divergence KL(P||Q) + KL(Q||P)",
    f=lambda u: (u - 1.0) * jnp.log(u),
    f_prime=lambda u: jnp.log(u) + 1.0 - 1.0 / u,
    # f*(t) = W(e^(1-t)) + 1/W(e^(1-t)) + t - 2 (f-GAN, Table 2).
    conjugate=_jeffrey_conjugate,
    activation=lambda v: v,
    fake_score=_jeffrey_conjugate,
    f_prime_at_1=0.0,
    nonsaturating_descends="KL(Q||P) + Neyman chi^2(P||Q) / 2",
    roth_weight=_jeffrey_roth_weight,
    gaussian_closed_form=gaussian_forms.jeffrey_gaussians, finite_if_moments=(), finite_variance_if_moments=(2, -1),
)


def js_weighted(pi: float = 0.5) -> Divergence:
    """pi-weighted Jensen-Shannon, f(u) = pi u log u - (1 - pi + pi u) log(1 - pi + pi u).

    f'(u) = pi log(u / (1 - pi + pi u)) < -pi log pi, and
    f*(t) = (1 - pi) log((1 - pi) / (1 - pi e^(t/pi))). At pi = 1/2, f is half of `js`'s f.
    """
    p = float(pi)
    if not 0.0 < p < 1.0:
        raise GancliError(f"divergence.pi is {p:g}; it must lie in (0, 1)")
    return Divergence(
        name="js_weighted", estimates=f"the pi-weighted Jensen-Shannon divergence, pi = {p:g}",
        f=lambda u: p * _xlogx(u) - (1.0 - p + p * u) * jnp.log(1.0 - p + p * u),
        f_prime=lambda u: p * jnp.log(u / (1.0 - p + p * u)),
        conjugate=lambda t: (1.0 - p) * jnp.log((1.0 - p) / (1.0 - p * jnp.exp(t / p))),
        # -pi log pi - pi softplus(-v): pi times the `js` activation, shifted to this domain's edge.
        activation=lambda v: -p * math.log(p) - p * softplus(-v),
        # With pi e^(t/pi) = sigmoid(v): (1 - pi) (log(1 - pi) - log sigmoid(-v)).
        fake_score=lambda v: (1.0 - p) * (math.log(1.0 - p) + softplus(v)),
        f_prime_at_1=0.0,
        nonsaturating_descends=f"pi KL(Q||P) - pi / (1 - pi) JS_pi(P||Q), pi = {p:g}",
        roth_weight=lambda v: (1.0 - p) * jax.nn.sigmoid(v),  # g' = pi sigmoid(-v), u = (1 - pi) D / (pi (1 - D))
        gaussian_closed_form=None, finite_if_moments=(), finite_variance_if_moments=(),
        params={"pi": p},
    )


@dataclass(frozen=True)
class Builder:
    """A registry entry: how to build the divergence, and the parameters it declares (the keys of
    its config file besides name and the training ones: divergence.alpha, divergence.pi)."""

    build: Callable[..., Divergence]
    parameters: tuple[str, ...] = ()

    @classmethod
    def fixed(cls, div: Divergence) -> Builder:
        return cls(lambda: div)


# The registry, keyed by the names in conf/divergence/.
BUILDERS: dict[str, Builder] = {
    "gan": Builder.fixed(GAN), "kl": Builder.fixed(KL), "reverse_kl": Builder.fixed(REVERSE_KL),
    "pearson": Builder.fixed(PEARSON), "neyman": Builder.fixed(NEYMAN), "hellinger": Builder.fixed(HELLINGER),
    "js": Builder.fixed(JS), "tv": Builder.fixed(TV), "alpha": Builder(alpha_divergence, ("alpha",)),
    "jeffrey": Builder.fixed(JEFFREY), "js_weighted": Builder(js_weighted, ("pi",)),
}


def get_divergence(name: str, **params: float) -> Divergence:
    """The divergence `name` with its parameters; GancliError naming the valid choices otherwise."""
    builder = lookup(BUILDERS, name, "divergence")
    extra = sorted(set(params) - set(builder.parameters))
    if extra:
        raise GancliError(f"divergence {name!r} takes no parameter(s) {', '.join(extra)}")
    return builder.build(**params)


# Every f-divergence at its default parameters (the tests iterate over these).
DIVERGENCES: dict[str, Divergence] = {name: get_divergence(name) for name in BUILDERS}
