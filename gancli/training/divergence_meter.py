"""The discriminator as a divergence meter: train only the critic between two known distributions.

The critic V maximises E_P[g_f(V)] - E_Q[f*(g_f(V))] over fresh samples of P and Q (f-GAN,
Nowozin et al. 2016, eq. 6); the trained bound, averaged over a large fresh sample, is the
estimate of D_f(P||Q). Every random number follows from the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax import Array

from gancli.config.estimate import EstimatorConfig
from gancli.data.densities import GaussianMixture
from gancli.objectives.critic_losses import Objective
from gancli.objectives.f_divergences import critic_objective
from gancli.objectives.penalties import critic_penalty
from gancli.players.models import MLP


@dataclass(frozen=True)
class TrainedCritic:
    graph: nnx.GraphDef
    params: Any

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The critic's raw output v(x), shape (n,)."""
        return np.asarray(_critic(self.graph, self.params, jnp.asarray(x, jnp.float32)))


@partial(jax.jit, static_argnums=0)
def _critic(graph: nnx.GraphDef, params: Any, x: Array) -> Array:
    return nnx.merge(graph, params, copy=True)(x)[:, 0]


def train_critic(div: Objective, p: GaussianMixture, q: GaussianMixture, cfg: EstimatorConfig,
                 seed: int, penalty: str = "none", penalty_weight: float = 0.0) -> TrainedCritic:
    """Adam on the negated bound, with a cosine-decayed learning rate so the last steps settle;
    minus `penalty` (gancli.objectives.penalties) where the objective needs one (WGAN-GP's gp)."""
    init_key, train_key = jax.random.split(jax.random.key(seed))
    model = MLP(p.dim, 1, cfg.hidden, cfg.depth, cfg.activation, rngs=nnx.Rngs(init_key))
    graph, params = nnx.split(model)
    opt = optax.adam(optax.cosine_decay_schedule(cfg.lr, cfg.steps, alpha=0.01))
    n = cfg.batch_size

    def loss(params: Any, key: Array) -> Array:
        k_p, k_q, k_penalty = jax.random.split(key, 3)
        critic = lambda x: _critic(graph, params, x)  # noqa: E731
        real, fake = p.sample(k_p, n), q.sample(k_q, n)
        objective = critic_objective(div, critic(real), critic(fake))
        if penalty != "none":  # static: decided when the step is traced
            objective -= penalty_weight * critic_penalty(penalty, critic, real, fake, k_penalty, div.roth_weight)
        return -objective

    def step(carry: tuple[Any, Any], i: Array) -> tuple[tuple[Any, Any], None]:
        params, opt_state = carry
        grads = jax.grad(loss)(params, jax.random.fold_in(train_key, i))
        updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), None

    @jax.jit
    def chunk(carry: tuple[Any, Any], start: Array) -> tuple[Any, Any]:
        steps = start + jnp.arange(cfg.chunk)
        return jax.lax.scan(lambda c, i: jax.lax.cond(i < cfg.steps, step, lambda c, _: (c, None), c, i),
                            carry, steps)[0]

    carry = (params, opt.init(params))
    for start in range(0, cfg.steps, cfg.chunk):
        carry = chunk(carry, jnp.int32(start))
    return TrainedCritic(graph, carry[0])


def variational_estimate(div: Objective, critic: TrainedCritic, p: GaussianMixture, q: GaussianMixture,
                         n: int, seed: int, batch: int = 100_000) -> float:
    """E_P[g_f(V)] - E_Q[f*(g_f(V))] over n fresh samples of each, drawn apart from training's."""
    eval_key = jax.random.fold_in(jax.random.key(seed), 2**31 - 1)

    @partial(jax.jit, static_argnums=1)
    def batch_sums(key: Array, m: int) -> tuple[Array, Array]:  # sampled and reduced on device
        k_p, k_q = jax.random.split(key)
        v_p = _critic(critic.graph, critic.params, p.sample(k_p, m))
        v_q = _critic(critic.graph, critic.params, q.sample(k_q, m))
        return jnp.sum(div.real_score(v_p)), jnp.sum(div.fake_score(v_q))

    real_sum = fake_sum = 0.0
    for i, start in enumerate(range(0, n, batch)):
        real, fake = batch_sums(jax.random.fold_in(eval_key, i), min(batch, n - start))
        real_sum, fake_sum = real_sum + float(real), fake_sum + float(fake)
    return (real_sum - fake_sum) / n
