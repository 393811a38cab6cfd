"""GAN objectives beyond f-divergences (hinge, least squares, WGAN-GP), and the one registry of
every objective that `divergence=<name>` can pick.

Each loss has the shape of an f-divergence entry as the train step sees it: element-wise
real_score(v) and fake_score(v) (the critic maximises E_P[real_score] - E_Q[fake_score]), a
non-saturating generator loss, and a gradient-penalty weight (0 but for WGAN-GP). So the train
step and `gancli estimate` treat every entry alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax import Array

from gancli.config import DivergenceConfig
from gancli.divergences import (
    BUILDERS,
    CriticLossLike,
    Divergence,
    Elementwise,
    critic_objective,
    generator_loss,
    get_divergence,
)
from gancli.errors import GancliError

Objective = Divergence | CriticLossLike


@dataclass(frozen=True)
class CriticLoss:
    """A critic objective with no conjugate f*: its optimum is given pointwise (or, for WGAN,
    as the Wasserstein-1 distance) so `gancli estimate` can compare against it."""

    name: str
    estimates: str
    real_score: Elementwise
    fake_score: Elementwise
    nonsaturating: Elementwise
    # sup over v of p real_score(v) - q fake_score(v), pointwise in the densities; None for WGAN.
    pointwise_optimum: Callable[[Array, Array], Array] | None
    optimal_critic: Callable[[Array, Array], Array] | None  # v*(x) from p(x), q(x), where it is pointwise
    zero_sum: bool  # False where G's loss is not the critic's objective negated: no minimax form
    gradient_penalty: float = 0.0

    def nonsaturating_loss(self, v: Array) -> Array:
        return self.nonsaturating(v)


def _relu(x: Array) -> Array:
    return jnp.maximum(x, 0.0)


# Lim & Ye 2017, Miyato et al. 2018: D maximises -E_P[relu(1 - v)] - E_Q[relu(1 + v)]; G minimises
# -E_Q[v]. Pointwise the optimum is v = sign(p - q): -(p + q) + |p - q|, so the sup is 2 TV - 2.
HINGE = CriticLoss(
    name="hinge", estimates="the hinge critic objective, whose optimum is 2 TV(P,Q) - 2",
    real_score=lambda v: -_relu(1.0 - v), fake_score=lambda v: _relu(1.0 + v), nonsaturating=lambda v: -v,
    pointwise_optimum=lambda p, q: jnp.abs(p - q) - (p + q),
    optimal_critic=lambda p, q: jnp.sign(p - q), zero_sum=False,
)

# Mao et al. 2017 (LSGAN, targets a = 0, b = 1, c = 1): D maximises -E_P[(v - 1)^2]/2 - E_Q[v^2]/2;
# G minimises E_Q[(v - 1)^2]/2. Pointwise the optimum is v = p / (p + q), worth -pq / (2 (p + q)).
LEAST_SQUARES = CriticLoss(
    name="least_squares", estimates="the least-squares critic objective, optimum -int pq / (2 (p + q))",
    real_score=lambda v: -0.5 * (v - 1.0) ** 2, fake_score=lambda v: 0.5 * v**2,
    nonsaturating=lambda v: 0.5 * (v - 1.0) ** 2,
    pointwise_optimum=lambda p, q: -0.5 * p * q / jnp.where(p + q > 0, p + q, 1.0),
    optimal_critic=lambda p, q: p / (p + q), zero_sum=False,
)

# Arjovsky et al. 2017 with the gradient penalty of Gulrajani et al. 2017 (lambda = 10): the critic
# maximises E_P[v] - E_Q[v] - lambda E[(|grad v(x_hat)| - 1)^2] on random interpolates x_hat; the
# unpenalised difference estimates the Wasserstein-1 distance.
WGAN_GP = CriticLoss(
    name="wgan_gp", estimates="the Wasserstein-1 distance W1(P,Q) (Kantorovich-Rubinstein dual)",
    real_score=lambda v: v, fake_score=lambda v: v, nonsaturating=lambda v: -v,
    pointwise_optimum=None, optimal_critic=None, zero_sum=True, gradient_penalty=10.0,
)

CRITIC_LOSSES: dict[str, CriticLoss] = {loss.name: loss for loss in (HINGE, LEAST_SQUARES, WGAN_GP)}

# Every name `divergence=<name>` accepts: the f-divergences, then the other losses.
OBJECTIVES: tuple[str, ...] = (*BUILDERS, *CRITIC_LOSSES)


# Names `gancli train` takes that are not one critic objective (see gancli.heads and the MLE step).
NOT_ONE_OBJECTIVE = {
    "ensemble": "divergence=ensemble combines several critic heads; pick one of its members here",
    "mle": "divergence=mle fits an explicit density by maximum likelihood with no critic; pick a divergence "
           "with a critic here",
}


def get_objective(name: str, **params: float) -> Objective:
    if name in NOT_ONE_OBJECTIVE:
        raise GancliError(NOT_ONE_OBJECTIVE[name])
    if name in CRITIC_LOSSES:
        if params:
            raise GancliError(f"divergence {name!r} takes no parameter(s) {', '.join(sorted(params))}")
        return CRITIC_LOSSES[name]
    if name not in BUILDERS:
        raise GancliError(f"unknown divergence {name!r}; choose one of: {', '.join(OBJECTIVES)}")
    return get_divergence(name, **params)


def objective_from_config(cfg: DivergenceConfig) -> Objective:
    """The configured objective; GancliError if its parameters or generator loss do not fit it."""
    params = {key: value for key, value in (("alpha", cfg.alpha), ("pi", cfg.pi)) if value is not None}
    objective = get_objective(cfg.name, **params)
    generator_loss(objective, jnp.zeros((1,)), cfg.generator_loss)  # refuses a form the objective lacks
    return objective


def gradient_penalty(critic: Callable[[Array], Array], real: Array, fake: Array, key: Array) -> Array:
    """E[(|grad critic(x_hat)| - 1)^2] on random interpolates x_hat of real and fake (Gulrajani et
    al. 2017); critic(x) has shape (n,)."""
    mix = jax.random.uniform(key, (real.shape[0], 1))
    x_hat = mix * real + (1.0 - mix) * fake
    grads = jax.grad(lambda x: jnp.sum(critic(x)))(x_hat)  # rows are independent: per-sample gradients
    norms = jnp.sqrt(jnp.sum(grads**2, axis=1) + 1e-12)
    return jnp.mean((norms - 1.0) ** 2)


def penalised_critic_objective(obj: Objective, critic: Callable[[Array], Array], real: Array, fake: Array,
                               key: Array) -> tuple[Array, Array]:
    """(what the critic ascends, the divergence estimate): the objective minus its gradient
    penalty, if it has one, and the objective alone."""
    estimate = critic_objective(obj, critic(real), critic(fake))
    if not obj.gradient_penalty:  # a static float: decided once, when the step is traced
        return estimate, estimate
    return estimate - obj.gradient_penalty * gradient_penalty(critic, real, fake, key), estimate
