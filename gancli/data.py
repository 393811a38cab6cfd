"""Toy data with known modes: 2-D mixtures of isotropic Gaussians, sampled on device."""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from gancli.config import DataConfig
from gancli.errors import GancliError


@dataclass(frozen=True)
class GaussianMixture:
    """Equal-weight mixture of isotropic Gaussians N(centre_i, std^2 I)."""

    centres: np.ndarray  # (modes, dim), float32
    std: float

    @property
    def dim(self) -> int:
        return int(self.centres.shape[1])

    def sample(self, key: Array, n: int) -> Array:
        """n samples, drawn on device from `key` alone (no host state)."""
        k_mode, k_noise = jax.random.split(key)
        idx = jax.random.randint(k_mode, (n,), 0, self.centres.shape[0])
        centres = jnp.asarray(self.centres)
        return centres[idx] + self.std * jax.random.normal(k_noise, (n, self.dim))

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """log p(x) under the mixture (NumPy, float64), for evaluation and plots."""
        x = np.asarray(x, dtype=np.float64)
        sq = ((x[:, None, :] - self.centres[None, :, :].astype(np.float64)) ** 2).sum(-1)
        log_comp = -0.5 * sq / self.std**2 - self.dim * math.log(self.std * math.sqrt(2 * math.pi))
        top = log_comp.max(axis=1, keepdims=True)
        return (top + np.log(np.exp(log_comp - top).mean(axis=1, keepdims=True)))[:, 0]


def ring(cfg: DataConfig) -> GaussianMixture:
    angles = 2 * np.pi * np.arange(cfg.modes) / cfg.modes
    centres = cfg.radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return GaussianMixture(centres.astype(np.float32), cfg.std)


def grid(cfg: DataConfig) -> GaussianMixture:
    axis = (np.arange(cfg.side) - (cfg.side - 1) / 2) * cfg.spacing
    xs, ys = np.meshgrid(axis, axis, indexing="ij")
    centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
    return GaussianMixture(centres.astype(np.float32), cfg.std)


DATASETS = {"ring": ring, "grid": grid}


def make_dataset(cfg: DataConfig) -> GaussianMixture:
    try:
        build = DATASETS[cfg.name]
    except KeyError:
        raise GancliError(f"unknown data {cfg.name!r}; choose one of: {', '.join(DATASETS)}") from None
    return build(cfg)
