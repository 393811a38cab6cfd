"""GAN objectives beyond f-divergences (hinge, least squares, WGAN-GP), and the one registry of
every objective that `divergence=<name>` can pick.

Each loss has the shape of an f-divergence entry as the train step sees it: element-wise
real_score(v) and fake_score(v) (the critic maximises E_P[real_score] - E_Q[fake_score]), a
non-saturating generator loss, and the penalty it needs, if any (WGAN-GP's gp, gancli.objectives.penalties).
So the train step and `gancli estimate` treat every entry alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax.numpy as jnp
from jax import Array

from gancli.config.train import DivergenceConfig
from gancli.errors import GancliError, unknown
from gancli.objectives.f_divergences import (
    BUILDERS,
    CriticLossLike,
    Divergence,
    Elementwise,
    generator_loss,
    get_divergence,
)

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
    nonsaturating_descends: str  # at the optimal critic (README: What each generator loss descends)
    minimax_descends: str = "-"  # zero_sum only
    required_penalty: str | None = None  # WGAN's critic must be kept 1-Lipschitz: divergence.penalty=gp
    roth_weight: None = None  # Roth et al. derive their regulariser for f-divergences only
    probability: None = None  # no classifier's probability: these critics score, they do not classify
    gaussian_closed_form: None = None  # their optima are integrated (gancli.evaluation.exact)

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
    nonsaturating_descends="nothing: the optimal critic sign(p - q) is flat almost everywhere",
)

# Mao et al. 2017 (LSGAN, targets a = 0, b = 1, c = 1): D maximises -E_P[(v - 1)^2]/2 - E_Q[v^2]/2;
# G minimises E_Q[(v - 1)^2]/2. Pointwise the optimum is v = p / (p + q), worth -pq / (2 (p + q)).
LEAST_SQUARES = CriticLoss(
    name="least_squares", estimates="the least-squares critic objective, optimum -int pq / (2 (p + q))",
    real_score=lambda v: -0.5 * (v - 1.0) ** 2, fake_score=lambda v: 0.5 * v**2,
    nonsaturating=lambda v: 0.5 * (v - 1.0) ** 2,
    pointwise_optimum=lambda p, q: -0.5 * p * q / jnp.where(p + q > 0, p + q, 1.0),
    optimal_critic=lambda p, q: p / (p + q), zero_sum=False,
    # G's (D* - 1)^2 / 2 = 1 / (2 (1 + u)^2) at u = p/q: the f-divergence with f''(u) = 1 / (u (1 + u)^3).
    nonsaturating_descends="the f-divergence with f''(u) = 1 / (u (1 + u)^3)",
)

# Arjovsky et al. 2017 with the gradient penalty of Gulrajani et al. 2017: the critic maximises
# E_P[v] - E_Q[v] minus divergence.penalty=gp (weight 10 in conf/divergence/wgan_gp.yaml) on random
# interpolates; the unpenalised difference estimates the Wasserstein-1 distance.
WGAN_GP = CriticLoss(
    name="wgan_gp", estimates="the Wasserstein-1 distance W1(P,Q) (Kantorovich-Rubinstein dual)",
    real_score=lambda v: v, fake_score=lambda v: v, nonsaturating=lambda v: -v,
    pointwise_optimum=None, optimal_critic=None, zero_sum=True, required_penalty="gp",
    nonsaturating_descends="W1(P,Q) (the two forms are both -v)", minimax_descends="W1(P,Q)",
)

CRITIC_LOSSES: dict[str, CriticLoss] = {loss.name: loss for loss in (HINGE, LEAST_SQUARES, WGAN_GP)}

# Every name `divergence=<name>` accepts: the f-divergences, then the other losses.
OBJECTIVES: tuple[str, ...] = (*BUILDERS, *CRITIC_LOSSES)


# Names `gancli train` takes that are not one critic objective (see gancli.objectives.heads and the MLE step).
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
        raise unknown("divergence", name, OBJECTIVES)
    return get_divergence(name, **params)


def objective_from_config(cfg: DivergenceConfig, name: str | None = None,
                          params: dict[str, float] | None = None) -> Objective:
    """The configured objective (or an ensemble's member `name` with its `params`, under the
    ensemble's generator loss and penalty); GancliError if its parameters, generator loss or
    penalty do not fit it."""
    if name is None:
        name = cfg.name
        params = {key: value for key, value in (("alpha", cfg.alpha), ("pi", cfg.pi)) if value is not None}
    objective = get_objective(name, **(params or {}))
    check_generator_form(objective, cfg.generator_loss)
    check_penalty(objective, cfg)
    return objective


def check_penalty(objective: Objective, cfg: DivergenceConfig) -> None:
    """Refuse a penalty the objective cannot take, saying what to use instead."""
    if objective.required_penalty and cfg.penalty != objective.required_penalty:
        raise GancliError(f"divergence {objective.name} keeps its critic 1-Lipschitz with divergence.penalty="
                          f"{objective.required_penalty}, and divergence.penalty={cfg.penalty} would "
                          f"{'drop' if cfg.penalty == 'none' else 'replace it, dropping'} that constraint; "
                          f"keep divergence.penalty={objective.required_penalty}")
    if cfg.penalty == "roth" and objective.roth_weight is None:
        raise GancliError(f"divergence.penalty=roth is Roth et al.'s regulariser for f-divergences, and "
                          f"{objective.name} {'is none' if not isinstance(objective, Divergence) else 'has a flat f'}"
                          "; use divergence.penalty=r1, r2 or r1r2")
    if cfg.penalty != "none" and not cfg.penalty_weight:
        raise GancliError(f"divergence.penalty={cfg.penalty} needs a weight: set divergence.penalty_weight "
                          "above 0 (or divergence.penalty=none)")


def check_generator_form(objective: Objective, form: str) -> None:
    generator_loss(objective, jnp.zeros((1,)), form)  # refuses a form the objective lacks
