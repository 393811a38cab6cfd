"""The GAN problem and its pure, jit-compiled train chunk.

The train state is one pytree: both players' parameters and Adam states, the step counter and
the base key. A chunk is `lax.scan` over K steps; each step does `d_steps` critic ascent steps,
then one generator descent step. Every random number comes from fold_in(base key, step), so the
same step draws the same samples whether or not the run was stopped and resumed in between.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax import Array

from gancli.config import AdamConfig, RunConfig
from gancli.critic_losses import Objective, objective_from_config, penalised_critic_objective
from gancli.data import make_dataset
from gancli.densities import GaussianMixture
from gancli.divergences import generator_loss
from gancli.models import make_models
from gancli.priors import Sampler, make_prior

State = dict[str, Any]
METRIC_NAMES = ("d_loss", "g_loss", "divergence_estimate")


@dataclass(frozen=True)
class GanProblem:
    """Everything the train step closes over: static structure, no arrays that change."""

    data: GaussianMixture
    prior: Sampler
    divergence: Objective
    generator_loss: str
    g_graph: nnx.GraphDef
    d_graph: nnx.GraphDef
    g_opt: optax.GradientTransformation
    d_opt: optax.GradientTransformation
    batch_size: int
    d_steps: int


def run_keys(seed: int) -> tuple[Array, Array, Array]:
    """(init, train, eval) keys: the three independent streams every random number comes from."""
    init_key, train_key, eval_key = jax.random.split(jax.random.key(seed), 3)
    return init_key, train_key, eval_key


def _adam(cfg: AdamConfig) -> optax.GradientTransformation:
    return optax.adam(cfg.lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps)


def build(cfg: RunConfig) -> tuple[GanProblem, Callable[[], State]]:
    """The problem, and a function that creates the initial state from the seed alone.

    The initialiser is separate so `jax.eval_shape(init)` gives a checkpoint's restore target
    without allocating anything.
    """
    data = make_dataset(cfg.data)
    divergence = objective_from_config(cfg.divergence)
    # Abstract modules: their graph structure without initialising any weights.
    g, d = nnx.eval_shape(lambda: make_models(cfg.model, cfg.prior.dim, data.dim, jax.random.key(0)))
    g_graph, _ = nnx.split(g)
    d_graph, _ = nnx.split(d)
    problem = GanProblem(
        data=data, prior=make_prior(cfg.prior), divergence=divergence,
        generator_loss=cfg.divergence.generator_loss, g_graph=g_graph, d_graph=d_graph,
        g_opt=_adam(cfg.optim.g), d_opt=_adam(cfg.optim.d),
        batch_size=cfg.train.batch_size, d_steps=cfg.train.d_steps,
    )

    def init() -> State:
        init_key, train_key, _ = run_keys(cfg.seed)
        g, d = make_models(cfg.model, cfg.prior.dim, data.dim, init_key)
        g_params, d_params = nnx.state(g), nnx.state(d)
        return {
            "g": g_params, "d": d_params,
            "g_opt": problem.g_opt.init(g_params), "d_opt": problem.d_opt.init(d_params),
            "step": jnp.zeros((), jnp.int32), "key": train_key,
        }

    return problem, init


def _apply(graph: nnx.GraphDef, params: Any, x: Array) -> Array:
    # copy=True: merging inside jax.grad must not reuse Variables from another trace.
    return nnx.merge(graph, params, copy=True)(x)


def generate(problem: GanProblem, g_params: Any, key: Array, n: int) -> Array:
    """n generator samples G(z), z ~ prior, drawn from `key`."""
    return _apply(problem.g_graph, g_params, problem.prior(key, n))


def critic(problem: GanProblem, d_params: Any, x: Array) -> Array:
    """The critic's unconstrained output v(x), shape (n,)."""
    return _apply(problem.d_graph, d_params, x)[:, 0]


def train_step(problem: GanProblem, state: State) -> tuple[State, dict[str, Array]]:
    """One GAN step: d_steps critic ascent steps on E_P[T] - E_Q[f*(T)], then one G step."""
    step_key = jax.random.fold_in(state["key"], state["step"])
    n = problem.batch_size

    def d_objective(d_params: Any, g_params: Any, key: Array) -> tuple[Array, Array]:
        k_real, k_z = jax.random.split(key)
        k_penalty = jax.random.fold_in(key, 2)  # the gradient penalty's interpolates: a stream of their own
        real = problem.data.sample(k_real, n)
        fake = generate(problem, g_params, k_z, n)
        return penalised_critic_objective(problem.divergence, lambda x: critic(problem, d_params, x),
                                          real, fake, k_penalty)

    def g_objective(g_params: Any, d_params: Any, key: Array) -> Array:
        v_fake = critic(problem, d_params, generate(problem, g_params, key, n))
        return jnp.mean(generator_loss(problem.divergence, v_fake, problem.generator_loss))

    d_params, d_opt = state["d"], state["d_opt"]
    objective = estimate = jnp.zeros(())
    for i in range(problem.d_steps):  # unrolled: d_steps is small and static
        (objective, estimate), grads = jax.value_and_grad(d_objective, has_aux=True)(
            d_params, state["g"], jax.random.fold_in(step_key, i))
        # The critic ascends: optax descends, so feed it the negated gradient.
        updates, d_opt = problem.d_opt.update(jax.tree.map(jnp.negative, grads), d_opt, d_params)
        d_params = optax.apply_updates(d_params, updates)

    g_key = jax.random.fold_in(step_key, problem.d_steps)
    g_loss, grads = jax.value_and_grad(g_objective)(state["g"], d_params, g_key)
    updates, g_opt = problem.g_opt.update(grads, state["g_opt"], state["g"])
    g_params = optax.apply_updates(state["g"], updates)

    new_state = {"g": g_params, "d": d_params, "g_opt": g_opt, "d_opt": d_opt,
                 "step": state["step"] + 1, "key": state["key"]}
    metrics = {"d_loss": -objective, "g_loss": g_loss, "divergence_estimate": estimate}
    return new_state, metrics


def make_train_chunk(problem: GanProblem, length: int) -> Callable[[State, Array], tuple[State, dict[str, Array]]]:
    """A jitted `(state, stop) -> (state, metrics)` that runs up to `length` steps.

    Steps at or past `stop` leave the state unchanged, so one compiled program serves every
    chunk, including a short last one: nothing recompiles when cadences do not divide evenly.
    metrics[name] has shape (length,); metrics["step"] is the step count after each step,
    or 0 where the step was skipped.
    """

    def body(state: State, stop: Array) -> tuple[State, dict[str, Array]]:
        def run(s: State) -> tuple[State, dict[str, Array]]:
            s, m = train_step(problem, s)
            return s, {**m, "step": s["step"]}

        def skip(s: State) -> tuple[State, dict[str, Array]]:
            return s, {**{k: jnp.zeros(()) for k in METRIC_NAMES}, "step": jnp.zeros((), jnp.int32)}

        return jax.lax.cond(state["step"] < stop, run, skip, state)

    @partial(jax.jit, donate_argnums=0)
    def chunk(state: State, stop: Array) -> tuple[State, dict[str, Array]]:
        return jax.lax.scan(lambda s, _: body(s, stop), state, None, length=length)

    return chunk
