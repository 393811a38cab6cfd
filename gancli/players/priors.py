"""Latent priors p(z) for the generator, sampled on device."""

from __future__ import annotations

from collections.abc import Callable

import jax
from jax import Array

from gancli.config.train import PriorConfig
from gancli.errors import lookup

Sampler = Callable[[Array, int], Array]


def gaussian(dim: int) -> Sampler:
    """z ~ N(0, I_dim)."""
    return lambda key, n: jax.random.normal(key, (n, dim))


def uniform(dim: int) -> Sampler:
    """z ~ U[-1, 1]^dim."""
    return lambda key, n: jax.random.uniform(key, (n, dim), minval=-1.0, maxval=1.0)


PRIORS: dict[str, Callable[[int], Sampler]] = {"gaussian": gaussian, "uniform": uniform}


def make_prior(cfg: PriorConfig) -> Sampler:
    return lookup(PRIORS, cfg.name, "prior")(cfg.dim)
