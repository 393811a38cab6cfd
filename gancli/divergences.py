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
from dataclasses import dataclass

import jax.numpy as jnp
from jax import Array
from jax.nn import softplus

from gancli.errors import GancliError

LOG2 = math.log(2.0)
Elementwise = Callable[[Array], Array]


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

    def real_score(self, v: Array) -> Array:
        return self.activation(v)


def critic_objective(div: Divergence, v_real: Array, v_fake: Array) -> Array:
    """E_P[g_f(v)] - E_Q[f*(g_f(v))]: the critic maximises it; it lower-bounds D_f(P||Q)."""
    return jnp.mean(div.real_score(v_real)) - jnp.mean(div.fake_score(v_fake))


def generator_loss(div: Divergence, v_fake: Array, form: str) -> Array:
    """Element-wise generator loss on the critic's outputs for generated samples.

    minimax:       -f*(g_f(v))  (G minimises the critic objective; only this term depends on G)
    nonsaturating: -g_f(v)      (G maximises E_Q[g_f(v)]; f-GAN section 3.2)
    For `gan` these are log(1 - D) and -log D of Goodfellow et al. 2014.
    """
    if form == "minimax":
        return -div.fake_score(v_fake)
    if form == "nonsaturating":
        return -div.real_score(v_fake)
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
)

PEARSON = Divergence(
    name="pearson", estimates="Pearson chi^2(P||Q) = int (p - q)^2 / q",
    f=lambda u: (u - 1.0) ** 2,
    f_prime=lambda u: 2.0 * (u - 1.0),
    conjugate=lambda t: 0.25 * t**2 + t,
    activation=lambda v: v,
    fake_score=lambda v: 0.25 * v**2 + v,
    f_prime_at_1=0.0,
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
)

TV = Divergence(
    name="tv", estimates="total variation TV(P,Q) = int |p - q| / 2",
    f=lambda u: 0.5 * jnp.abs(u - 1.0),
    f_prime=lambda u: 0.5 * jnp.sign(u - 1.0),
    conjugate=lambda t: t,
    activation=lambda v: 0.5 * jnp.tanh(v),
    fake_score=lambda v: 0.5 * jnp.tanh(v),
    f_prime_at_1=0.0,
)

DIVERGENCES: dict[str, Divergence] = {
    d.name: d for d in (GAN, KL, REVERSE_KL, PEARSON, NEYMAN, HELLINGER, JS, TV)
}


def get_divergence(name: str) -> Divergence:
    try:
        return DIVERGENCES[name]
    except KeyError:
        raise GancliError(f"unknown divergence {name!r}; choose one of: {', '.join(DIVERGENCES)}") from None
