"""The critic's heads: one per divergence the game is played with.

A single divergence is one head of weight 1. `divergence=ensemble` has one head per member
(on a shared critic body or on separate critics, as the model builds it): each head ascends its
own member's objective, and the generator descends the weighted sum of the members' generator
losses, the ensemble of f-divergences the lecture proposes against mode collapse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax.numpy as jnp
from jax import Array

from gancli.config.train import DivergenceConfig
from gancli.errors import GancliError
from gancli.objectives.critic_losses import OBJECTIVES, Objective, objective_from_config
from gancli.objectives.f_divergences import BUILDERS, critic_objective, generator_loss
from gancli.objectives.penalties import critic_penalty

ENSEMBLE = "ensemble"


@dataclass(frozen=True)
class Head:
    name: str
    objective: Objective
    weight: float
    penalty: str = "none"  # divergence.penalty, on this head's output (an ensemble's heads each get it)
    penalty_weight: float = 0.0


def heads_from_config(cfg: DivergenceConfig) -> tuple[Head, ...]:
    """The heads `cfg` asks for; GancliError if an ensemble's members or weights do not fit."""
    if cfg.name != ENSEMBLE:  # (members, weights, shared_critic: keys only the ensemble's config has)
        return (Head(cfg.name, objective_from_config(cfg), 1.0, *_penalty_of(cfg)),)
    members = cfg.members or []
    if not members:
        raise GancliError("divergence=ensemble needs members, e.g. divergence.members=[kl,reverse_kl]")
    unknown = [m for m in members if m not in OBJECTIVES]
    if unknown:
        raise GancliError(f"divergence.members has {unknown[0]!r}, which is not a member divergence; "
                          f"choose from: {', '.join(OBJECTIVES)}")
    if len(set(members)) != len(members):
        raise GancliError(f"divergence.members lists a divergence twice ({members}); list each once")
    weights = cfg.weights if cfg.weights is not None else [1.0 / len(members)] * len(members)
    if len(weights) != len(members):
        raise GancliError(f"divergence.weights has {len(weights)} numbers for {len(members)} members; "
                          "give one weight per member")
    takes = {m: set(BUILDERS[m].parameters) if m in BUILDERS else set() for m in members}
    for param in ("alpha", "pi"):
        if getattr(cfg, param) is not None and not any(param in t for t in takes.values()):
            raise GancliError(f"divergence.{param} is set but no member of the ensemble takes it; drop it")
    return tuple(
        Head(m, objective_from_config(cfg, m, {p: getattr(cfg, p) for p in ("alpha", "pi")
                                               if p in takes[m] and getattr(cfg, p) is not None}),
             float(w), *_penalty_of(cfg))
        for m, w in zip(members, weights, strict=True))


def _penalty_of(cfg: DivergenceConfig) -> tuple[str, float]:
    return cfg.penalty, cfg.penalty_weight if cfg.penalty != "none" else 0.0


def weighted_sum(heads: tuple[Head, ...], values: Array) -> Array:
    """sum_h weight_h values[h]: how the heads' numbers combine into the ensemble's."""
    return jnp.asarray([head.weight for head in heads]) @ values


def head_estimates(heads: tuple[Head, ...], v_real: Array, v_fake: Array) -> Array:
    """Each head's divergence estimate E_P[real_score] - E_Q[fake_score], shape (H,), from critic
    outputs of shape (n, H)."""
    return jnp.stack([critic_objective(head.objective, v_real[:, h], v_fake[:, h]) for h, head in enumerate(heads)])


def critic_objective_of_heads(heads: tuple[Head, ...], critic: Callable[[Array], Array], real: Array,
                              fake: Array, penalty_keys: Sequence[Array]) -> tuple[Array, Array, Array]:
    """(what the critic ascends: the weighted sum of each head's penalised objective, the
    heads' unpenalised estimates, shape (H,), and the heads' weighted penalty). critic(x) has
    shape (n, H); penalty_keys[h] draws head h's penalty (a gradient penalty's interpolates)."""
    estimates = head_estimates(heads, critic(real), critic(fake))
    penalties = jnp.stack([
        # The penalty's name and weight are static: each head's penalty is decided once, when the step is traced.
        head.penalty_weight * critic_penalty(head.penalty, lambda x, h=h: critic(x)[:, h], real, fake,
                                             penalty_keys[h], head.objective.roth_weight)
        if head.penalty != "none" else jnp.zeros(())
        for h, head in enumerate(heads)])
    return weighted_sum(heads, estimates - penalties), estimates, weighted_sum(heads, penalties)


def generator_loss_of_heads(heads: tuple[Head, ...], v_fake: Array, form: str) -> Array:
    """The weighted sum of the heads' mean generator losses; v_fake has shape (n, H)."""
    return weighted_sum(heads, jnp.stack([jnp.mean(generator_loss(head.objective, v_fake[:, h], form))
                                          for h, head in enumerate(heads)]))
