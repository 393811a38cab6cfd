"""Generator and discriminator networks (Flax NNX), built from the model config."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx
from jax import Array

from gancli.config import ModelConfig
from gancli.errors import GancliError

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": jax.nn.relu,
    "leaky_relu": lambda x: jax.nn.leaky_relu(x, 0.2),
    "elu": jax.nn.elu,
    "tanh": jax.nn.tanh,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
}


class MLP(nnx.Module):
    """`depth` hidden layers of width `hidden`, then a linear output layer."""

    def __init__(self, d_in: int, d_out: int, hidden: int, depth: int, activation: str,
                 *, rngs: nnx.Rngs):
        widths = [d_in] + [hidden] * depth
        self.hidden = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(widths[:-1], widths[1:], strict=True)])
        self.out = nnx.Linear(widths[-1], d_out, rngs=rngs)
        self.activation = activation

    def __call__(self, x: Array) -> Array:
        act = ACTIVATIONS[self.activation]
        for layer in self.hidden:
            x = act(layer(x))
        return self.out(x)


def mlp(cfg: ModelConfig, latent_dim: int, data_dim: int, key: Array) -> tuple[nnx.Module, nnx.Module]:
    k_g, k_d = jax.random.split(key)
    g_hidden, g_depth = cfg.player("generator")
    d_hidden, d_depth = cfg.player("discriminator")
    generator = MLP(latent_dim, data_dim, g_hidden, g_depth, cfg.activation, rngs=nnx.Rngs(k_g))
    discriminator = MLP(data_dim, 1, d_hidden, d_depth, cfg.activation, rngs=nnx.Rngs(k_d))
    return generator, discriminator


class Affine(nnx.Module):
    """x = mu + sigma * z: a generator whose distribution is a single Gaussian (for a Gaussian prior)."""

    def __init__(self, dim: int, *, rngs: nnx.Rngs):
        # A random mean: mu = 0 would sit on the symmetric saddle between two mirrored modes.
        self.mu = nnx.Param(jax.random.normal(rngs.params(), (dim,)))
        self.log_sigma = nnx.Param(jnp.zeros((dim,)))  # sigma = exp(log_sigma) stays positive

    def __call__(self, z: Array) -> Array:
        return self.mu[...] + jnp.exp(self.log_sigma[...]) * z


def affine(cfg: ModelConfig, latent_dim: int, data_dim: int, key: Array) -> tuple[nnx.Module, nnx.Module]:
    if latent_dim != data_dim:
        raise GancliError(f"model=affine maps z to x one axis each: set prior.dim={data_dim} (the data's "
                          f"dimension), not {latent_dim}")
    k_g, k_d = jax.random.split(key)
    d_hidden, d_depth = cfg.player("discriminator")
    discriminator = MLP(data_dim, 1, d_hidden, d_depth, cfg.activation, rngs=nnx.Rngs(k_d))
    return Affine(data_dim, rngs=nnx.Rngs(k_g)), discriminator


MODELS = {"mlp": mlp, "affine": affine}


def make_models(cfg: ModelConfig, latent_dim: int, data_dim: int, key: Array) -> tuple[nnx.Module, nnx.Module]:
    """(generator, discriminator): G maps R^latent_dim -> R^data_dim, D maps R^data_dim -> R."""
    try:
        build = MODELS[cfg.name]
    except KeyError:
        raise GancliError(f"unknown model {cfg.name!r}; choose one of: {', '.join(MODELS)}") from None
    return build(cfg, latent_dim, data_dim, key)
