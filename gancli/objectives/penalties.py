"""Critic regularisers: penalties on the critic's input gradient, subtracted from what it ascends.

They shape the critic only: the logged `divergence_estimate` stays the pure bound
E_P[T] - E_Q[f*(T)], and the penalty is logged on its own (`penalty`). THEORY.md section 6.

  r1    (gamma/2) E_P[|grad_x v(x)|^2]                 Mescheder, Geiger & Nowozin, ICML 2018, eq. 9
  r2    (gamma/2) E_Q[|grad_x v(x)|^2]                 the same on generated samples (their eq. 10)
  r1r2  r1 + r2
  roth  (gamma/2) E_Q[f*''(T(x)) |grad_x T(x)|^2]      Roth, Lucchi, Nowozin & Hofmann, NeurIPS 2017
  gp    gamma E[(|grad_x v(x_hat)| - 1)^2]             Gulrajani et al. 2017, on random interpolates

v is the critic's unconstrained output and T = g_f(v). Roth et al. derive their regulariser on T,
the variational function itself; by the chain rule f*''(T) |grad T|^2 = w(v) |grad v|^2 with
w(v) = f*''(g_f(v)) g_f'(v)^2 = g_f'(v)^2 / f''(u), u the density ratio the critic implies. Each
divergence gives w(v) in closed form (`Divergence.roth_weight`): the two factors apart overflow
for the exponential activations (reverse KL, Neyman, Hellinger) where their product stays finite.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array

from gancli.errors import GancliError

# Every divergence.penalty option. `gp` is the Lipschitz constraint of the Wasserstein loss.
PENALTIES = ("none", "r1", "r2", "r1r2", "roth", "gp")
GRADIENT_PENALTY = "gp"
Critic = Callable[[Array], Array]  # x (n, d) -> v (n,)


def input_gradients(critic: Critic, x: Array) -> Array:
    """grad_x v(x) for every row of x, shape (n, d): the rows are independent, so the gradient of
    the sum is the per-sample gradient."""
    return jax.grad(lambda points: jnp.sum(critic(points)))(x)


def squared_gradient_norm(critic: Critic, x: Array) -> Array:
    """|grad_x v(x)|^2 per sample, shape (n,)."""
    return jnp.sum(input_gradients(critic, x) ** 2, axis=1)


def r1(critic: Critic, real: Array) -> Array:
    """E_P[|grad_x v|^2] / 2, zero-centred on the data (Mescheder et al. 2018, eq. 9, without gamma)."""
    return 0.5 * jnp.mean(squared_gradient_norm(critic, real))


def roth(critic: Critic, weight_of_output: Callable[[Array], Array], fake: Array) -> Array:
    """E_Q[w(v) |grad_x v|^2] / 2 = E_Q[f*''(T) |grad_x T|^2] / 2, Roth et al. 2017 without gamma.

    For the GAN they write it as E_P[(1 - D)^2 |grad v|^2] + E_Q[D^2 |grad v|^2], which equals
    E_Q[D |grad v|^2] at the optimal critic (p (1 - D) = q D); this is the form for every f.
    """
    v, pullback = jax.vjp(critic, fake)
    (grads,) = pullback(jnp.ones_like(v))  # rows are independent: the per-sample input gradients
    return 0.5 * jnp.mean(weight_of_output(v) * jnp.sum(grads**2, axis=1))


def interpolate_gradient_penalty(critic: Critic, real: Array, fake: Array, key: Array) -> Array:
    """E[(|grad v(x_hat)| - 1)^2] on x_hat uniform on the segments between real and fake samples."""
    mix = jax.random.uniform(key, (real.shape[0], 1))
    x_hat = mix * real + (1.0 - mix) * fake
    norms = jnp.sqrt(squared_gradient_norm(critic, x_hat) + 1e-12)  # the epsilon keeps sqrt's gradient finite at 0
    return jnp.mean((norms - 1.0) ** 2)


def critic_penalty(name: str, critic: Critic, real: Array, fake: Array, key: Array,
                   roth_weight: Callable[[Array], Array] | None = None) -> Array:
    """The unweighted penalty `name` of the critic (n,)-valued on packed samples; 0 for none."""
    if name == "none":
        return jnp.zeros(())
    if name == "r1":
        return r1(critic, real)
    if name == "r2":
        return r1(critic, fake)
    if name == "r1r2":
        return r1(critic, real) + r1(critic, fake)
    if name == "roth":
        if roth_weight is None:
            raise GancliError("divergence.penalty=roth is derived for f-divergences; this objective has none")
        return roth(critic, roth_weight, fake)
    if name == GRADIENT_PENALTY:
        return interpolate_gradient_penalty(critic, real, fake, key)
    raise GancliError(f"divergence.penalty is {name!r}; allowed values: {', '.join(PENALTIES)}")
