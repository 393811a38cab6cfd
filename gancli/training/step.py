"""One pure train step: `d_steps` critic ascent steps, then one generator descent step (for an
explicit model trained by maximum likelihood: one ascent step on its log-likelihood, and no
critic). Every random number comes from the step's key (gancli.training.keys), so the same step
draws the same samples whether or not the run was stopped and resumed in between.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax import Array

from gancli.objectives.heads import critic_objective_of_heads, generator_loss_of_heads, weighted_sum
from gancli.training.keys import (
    batch_keys,
    critic_update_key,
    generator_key,
    head_penalty_keys,
    step_key,
    unrolled_update_key,
)
from gancli.training.problem import GanProblem, critic, generate, model_of, pack
from gancli.training.state import TrainState


def _scaled(updates: Any, lr_scale: Array | float) -> Any:
    """Adam's updates are proportional to its learning rate: scaling them scales the rate."""
    return jax.tree.map(lambda u: u * lr_scale, updates)


def _critic_update(problem: GanProblem, d_params: Any, d_opt: Any, g_params: Any, key: Array,
                   lr_scale: Array | float = 1.0) -> tuple[Any, Any, Array, tuple[Array, Array]]:
    """One critic ascent step on fresh samples: (params, optimiser state, objective, (estimates, penalty))."""

    def d_objective(d_params: Any) -> tuple[Array, tuple[Array, Array]]:
        k_real, k_fake = batch_keys(key)
        real = problem.split(pack(problem, problem.data.sample(k_real, problem.batch_size)))
        fake = problem.split(pack(problem, generate(problem, g_params, k_fake, problem.batch_size)))
        objective, estimates, penalty = critic_objective_of_heads(
            problem.heads, lambda x: critic(problem, d_params, x), real, fake,
            head_penalty_keys(key, len(problem.heads)))
        return objective, (estimates, penalty)

    (objective, estimates), grads = jax.value_and_grad(d_objective, has_aux=True)(d_params)
    # The critic ascends: optax descends, so feed it the negated gradient.
    updates, d_opt = problem.d_opt.update(jax.tree.map(jnp.negative, grads), d_opt, d_params)
    return optax.apply_updates(d_params, _scaled(updates, lr_scale)), d_opt, objective, estimates


def _generator_objective(problem: GanProblem, g_params: Any, d_params: Any, d_opt: Any, key: Array,
                         lr_scale: Array | float = 1.0) -> Array:
    """G's loss against the critic, or, with unroll_steps=k, against the critic after k more
    ascent steps that G differentiates through (Unrolled GAN, Metz et al. 2017, eq. 9)."""
    if problem.unroll_steps:
        def unrolled(carry: tuple[Any, Any], i: Array) -> tuple[tuple[Any, Any], None]:
            params, opt = carry
            params, opt, _, _ = _critic_update(problem, params, opt, g_params, unrolled_update_key(key, i), lr_scale)
            return (params, opt), None

        (d_params, _), _ = jax.lax.scan(unrolled, (d_params, d_opt), jnp.arange(problem.unroll_steps))
    fake = problem.split(pack(problem, generate(problem, g_params, key, problem.batch_size)))
    return generator_loss_of_heads(problem.heads, critic(problem, d_params, fake), problem.generator_loss)


def _gan_step(problem: GanProblem, state: TrainState) -> tuple[TrainState, dict[str, Array]]:
    """d_steps critic ascent steps on E_P[T] - E_Q[f*(T)], then one G step."""
    key = step_key(state.key, state.step)
    d_params, d_opt = state.d, state.d_opt
    objective, estimates = jnp.zeros(()), (jnp.zeros((len(problem.heads),)), jnp.zeros(()))
    for i in range(problem.d_steps):  # unrolled: d_steps is small and static
        d_params, d_opt, objective, estimates = _critic_update(problem, d_params, d_opt, state.g,
                                                              critic_update_key(key, i), state.lr_scale)

    g_key = generator_key(key, problem.d_steps)
    g_loss, grads = jax.value_and_grad(_generator_objective, argnums=1)(problem, state.g, d_params, d_opt, g_key,
                                                                        state.lr_scale)
    updates, g_opt = problem.g_opt.update(grads, state.g_opt, state.g)
    g_params = optax.apply_updates(state.g, _scaled(updates, state.lr_scale))

    new_state = state.replace(g=g_params, d=d_params, g_opt=g_opt, d_opt=d_opt, step=state.step + 1)
    estimates, penalty = estimates
    metrics = {"d_loss": -objective, "g_loss": g_loss, "divergence_estimate": weighted_sum(problem.heads, estimates)}
    if problem.penalised:
        metrics["penalty"] = penalty
    if len(problem.heads) > 1:
        metrics.update({f"divergence_estimate/{head.name}": estimates[h] for h, head in enumerate(problem.heads)})
    return new_state, metrics


def _mle_step(problem: GanProblem, state: TrainState) -> tuple[TrainState, dict[str, Array]]:
    """One gradient ascent step on the model's mean log-likelihood of a fresh data batch:
    maximum likelihood, which minimises KL(P_data || Q) (THEORY.md section 1)."""
    real = problem.split(problem.data.sample(step_key(state.key, state.step), problem.batch_size))

    def mean_log_likelihood(g_params: Any) -> Array:
        return jnp.mean(model_of(problem.g_graph, g_params).log_prob(real))

    log_likelihood, grads = jax.value_and_grad(mean_log_likelihood)(state.g)
    updates, g_opt = problem.g_opt.update(jax.tree.map(jnp.negative, grads), state.g_opt, state.g)
    new_state = state.replace(g=optax.apply_updates(state.g, _scaled(updates, state.lr_scale)), g_opt=g_opt,
                              step=state.step + 1)
    # KL(P || Q) = E_P[log p - log q], estimated on the same batch with the data's known density.
    kl = jnp.mean(problem.data.log_density_jax(real)) - log_likelihood
    return new_state, {"log_likelihood": log_likelihood, "divergence_estimate": kl}


def _update_ema(problem: GanProblem, state: TrainState) -> TrainState:
    """The exponential moving average of G's weights, which evaluation samples from: averaging
    damps the oscillation of the players' game (Yazici et al. 2019)."""
    if not problem.ema_decay:
        return state
    decay = problem.ema_decay
    return state.replace(
        g_ema=jax.tree.map(lambda avg, new: decay * avg + (1.0 - decay) * new, state.g_ema, state.g),
        g_ema_weight=decay * state.g_ema_weight + (1.0 - decay))


def train_step(problem: GanProblem, state: TrainState) -> tuple[TrainState, dict[str, Array]]:
    """One step of the run: a GAN step, or a maximum-likelihood step for an explicit model."""
    state, metrics = _mle_step(problem, state) if problem.explicit else _gan_step(problem, state)
    return _update_ema(problem, state), metrics
