"""The GAN problem: what the train step closes over, built from a run's config.

`build` gives the static problem (data, prior, the players' graphs, the critic's heads, the
optimisers) and an `init(seed)` that creates the initial train state from the seed alone. The
functions below it run the players: samples of the generator, the critic's outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax import Array

from gancli.config.train import IMAGE_DATA, AdamConfig, RunConfig
from gancli.data.densities import GaussianMixture
from gancli.data.images import ImageData
from gancli.data.toy import make_dataset
from gancli.errors import GancliError
from gancli.objectives.heads import Head, heads_from_config
from gancli.players.models import CONV_MODELS, EXPLICIT_MODELS, make_models
from gancli.players.priors import Sampler, make_prior
from gancli.players.shapes import Shapes
from gancli.training.keys import run_keys
from gancli.training.state import LATER_LEAVES, TrainState

MLE = "mle"  # the divergence name of maximum likelihood: KL(P_data || Q) with an explicit Q


@dataclass(frozen=True)
class GanProblem:
    """Everything the train step closes over: static structure, no arrays that change.

    An explicit model (model=gmm, divergence=mle) has no critic: d_graph is None and heads empty.
    """

    data: GaussianMixture | ImageData
    prior: Sampler
    heads: tuple[Head, ...]
    generator_loss: str
    g_graph: nnx.GraphDef
    d_graph: nnx.GraphDef | None
    g_opt: optax.GradientTransformation
    d_opt: optax.GradientTransformation
    batch_size: int
    d_steps: int
    unroll_steps: int
    pack: int
    ema_decay: float
    batch_sharding: Any = None  # a NamedSharding that splits each batch over devices (gancli.runner.devices), or None
    mode_samples: int = 0  # image data: generated samples whose classes evaluation counts (data.mode_samples)
    host_loop: bool = False  # a chunk's steps looped on the host, not in lax.scan: see make_train_chunk

    def split(self, batch: Array) -> Array:
        """A batch of the step, its rows spread over the devices of a data parallel run."""
        return batch if self.batch_sharding is None else jax.lax.with_sharding_constraint(batch, self.batch_sharding)

    @property
    def images(self) -> bool:
        return isinstance(self.data, ImageData)

    @property
    def explicit(self) -> bool:
        return self.d_graph is None

    @property
    def penalised(self) -> bool:
        """Whether the critic ascends a penalised objective (then `penalty` is logged on its own)."""
        return any(head.penalty != "none" for head in self.heads)

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The per-step metrics of train_step, in metrics.jsonl's order."""
        if self.explicit:
            return ("log_likelihood", "divergence_estimate")
        names = ("d_loss", "g_loss", "divergence_estimate")
        if self.penalised:
            names += ("penalty",)
        if len(self.heads) > 1:
            names += tuple(f"divergence_estimate/{head.name}" for head in self.heads)
        return names


def _adam(cfg: AdamConfig, eps_root: float = 0.0) -> optax.GradientTransformation:
    return optax.adam(cfg.lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps, eps_root=eps_root)


def _check_pairing(cfg: RunConfig) -> None:
    """Refuse models, divergences and data that do not go together, saying why."""
    explicit, mle = cfg.model.name in EXPLICIT_MODELS, cfg.divergence.name == MLE
    if cfg.data.name in IMAGE_DATA and (explicit or mle):
        raise GancliError(f"data={cfg.data.name} has no known density, and model=gmm / divergence=mle are the "
                          "toy data's maximum-likelihood baseline; train images with model=dcgan (or mlp) and an "
                          "adversarial divergence")
    if mle and not explicit:
        raise GancliError(f"divergence=mle maximises the model's log-likelihood, and model={cfg.model.name} is an "
                          "implicit generator with no density to evaluate; use model=gmm, or an adversarial divergence")
    if explicit and not mle:
        raise GancliError(f"model={cfg.model.name} has an exact log-likelihood: fit it with divergence=mle (an "
                          "adversarial divergence would pass no gradient to its mixture weights through the "
                          "discrete choice of component)")
    if mle and (cfg.train.unroll_steps or cfg.train.d_steps != 1):
        raise GancliError("divergence=mle has no critic to step or unroll: drop train.unroll_steps and train.d_steps")
    if cfg.train.batch_size % cfg.model.pack:
        raise GancliError(f"model.pack={cfg.model.pack} packs samples into groups: train.batch_size="
                          f"{cfg.train.batch_size} must be a multiple of it")


def build(cfg: RunConfig) -> tuple[GanProblem, Callable[..., TrainState]]:
    """The problem, and `init(seed=cfg.seed)`, which creates the initial state from the seed alone.

    The initialiser is separate so `jax.eval_shape(init)` gives a checkpoint's restore target
    without allocating anything. The problem does not depend on the seed, and `init` takes it as
    an array too, so one compiled initialiser serves the runs of every seed.
    """
    _check_pairing(cfg)
    data = make_dataset(cfg.data)
    heads = () if cfg.divergence.name == MLE else heads_from_config(cfg.divergence)
    images = isinstance(data, ImageData)
    shapes = Shapes(latent_dim=cfg.prior.dim, data_dim=data.dim, heads=max(len(heads), 1),
                    shared_critic=cfg.divergence.shared_critic, data=None if images else data,
                    image_shape=data.shape if images else None)
    # Abstract modules: their graph structure without initialising any weights.
    g, d = nnx.eval_shape(lambda: make_models(cfg.model, shapes, jax.random.key(0)))
    problem = GanProblem(
        data=data, prior=make_prior(cfg.prior), heads=heads, generator_loss=cfg.divergence.generator_loss,
        g_graph=nnx.split(g)[0], d_graph=None if d is None else nnx.split(d)[0],
        g_opt=_adam(cfg.optim.g),
        # Unrolling differentiates through the critic's Adam updates: sqrt(nu) has an infinite
        # derivative at nu = 0 (zero gradients), so keep the square root's argument positive.
        d_opt=_adam(cfg.optim.d, eps_root=1e-12 if cfg.train.unroll_steps else 0.0), batch_size=cfg.train.batch_size,
        d_steps=cfg.train.d_steps, unroll_steps=cfg.train.unroll_steps, pack=cfg.model.pack,
        ema_decay=cfg.train.ema_decay, mode_samples=cfg.data.mode_samples if images else 0,
        host_loop=cfg.model.name in CONV_MODELS and jax.default_backend() == "cpu",
    )

    def init(seed: int | Array = cfg.seed) -> TrainState:
        init_key, train_key, _ = run_keys(seed)
        g, d = make_models(cfg.model, shapes, init_key)
        g_params = nnx.state(g)
        d_params = None if d is None else nnx.state(d)
        return TrainState(
            g=g_params, g_opt=problem.g_opt.init(g_params), step=jnp.zeros((), jnp.int32), key=train_key,
            **{name: make() for name, make in LATER_LEAVES.items()},  # full rates, no rollback yet
            d=d_params, d_opt=None if d is None else problem.d_opt.init(d_params),
            # a running sum and its total weight: see evaluated_generator
            g_ema=jax.tree.map(jnp.zeros_like, g_params) if problem.ema_decay else None,
            g_ema_weight=jnp.zeros(()) if problem.ema_decay else None)

    return problem, init




def model_of(graph: nnx.GraphDef, params: Any) -> nnx.Module:
    """The module of `graph` with `params`, made inside a traced function."""
    # copy=True: merging inside jax.grad must not reuse Variables from another trace.
    return nnx.merge(graph, params, copy=True)


def generate(problem: GanProblem, g_params: Any, key: Array, n: int) -> Array:
    """n samples of the model, drawn from `key`: G(z) with z ~ prior, or the explicit model's own."""
    model = model_of(problem.g_graph, g_params)
    return model.sample(key, n) if problem.explicit else model(problem.prior(key, n))


def pack(problem: GanProblem, x: Array) -> Array:
    """(n, dim) -> (n / pack, pack * dim): consecutive samples side by side, as the critic sees them."""
    return x.reshape(x.shape[0] // problem.pack, -1)


def critic(problem: GanProblem, d_params: Any, packed: Array) -> Array:
    """The critic's unconstrained outputs v, one column per head: shape (n / pack, heads)."""
    return model_of(problem.d_graph, d_params)(packed)
