"""What the critic says, read at evaluation: its divergence estimate and D(x) on an evaluation
batch, and its surface over single points, with the name of what that surface shows.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from jax import Array

from gancli.objectives.f_divergences import Divergence
from gancli.objectives.heads import Head, head_estimates, weighted_sum
from gancli.training.problem import GanProblem, critic, pack


def critic_evaluation(problem: GanProblem, d_params: Any, real: Array, fake: Array) -> dict[str, Array]:
    """What the critic makes of an evaluation batch: its divergence estimate (the heads' weighted
    sum) and, for a head whose objective defines a probability D(x) (the `gan` head: sigmoid(v)),
    its mean on real and on generated samples, which the theory says ends at 1/2 on both."""
    v_real, v_fake = critic(problem, d_params, pack(problem, real)), critic(problem, d_params, pack(problem, fake))
    out = {"critic_estimate": weighted_sum(problem.heads, head_estimates(problem.heads, v_real, v_fake))}
    for h, head in enumerate(problem.heads):
        probability = head.objective.probability
        if probability is not None:
            out.update(d_real=jnp.mean(probability(v_real[:, h])), d_fake=jnp.mean(probability(v_fake[:, h])))
    return out


def critic_surface(problem: GanProblem, d_params: Any, points: Array) -> Array:
    """What each head makes of single points x, shape (n, heads): D(x) where the objective defines a
    probability (sigmoid(v) for `gan`), T(x) = g_f(v) for an f-divergence, and the raw output v
    for the other critic losses.

    A packed critic judges `pack` samples at once; here it is shown a pack of copies of x.
    """
    v = critic(problem, d_params, jnp.tile(points, (1, problem.pack)))
    return jnp.stack([surface_of_head(head, v[:, h]) for h, head in enumerate(problem.heads)], axis=1)


def surface_of_head(head: Head, v: Array) -> Array:
    if head.objective.probability is not None:
        return head.objective.probability(v)
    return head.objective.activation(v) if isinstance(head.objective, Divergence) else v


def surface_label(head: Head) -> str:
    """The name of what critic_surface shows for `head`."""
    if head.objective.probability is not None:
        return "D(x)"
    return "T(x)" if isinstance(head.objective, Divergence) else "critic output v(x)"
