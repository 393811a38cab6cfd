"""Known distributions: mixtures of Gaussians with diagonal covariances.

They are sampled on device (JAX, from a key alone) and evaluated on the host (NumPy, float64),
so the same object serves as training data and as ground truth for exact divergences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array


@dataclass(frozen=True, eq=False)
class GaussianMixture:
    """sum_k weights[k] N(means[k], diag(stds[k]^2))."""

    weights: np.ndarray  # (K,), positive, sums to 1
    means: np.ndarray  # (K, dim)
    stds: np.ndarray  # (K, dim), positive

    @classmethod
    def isotropic(cls, centres: np.ndarray, std: float) -> GaussianMixture:
        """Equal weights, the same std on every axis of every component."""
        centres = np.asarray(centres, dtype=np.float32)
        k = len(centres)
        return cls(np.full(k, 1.0 / k), centres, np.full(centres.shape, std, dtype=np.float32))

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])

    @property
    def extent(self) -> float:
        """The largest |coordinate| of a component's mean: the ring's radius 1, the grid's 4."""
        return float(np.abs(self.means).max())

    def sample(self, key: Array, n: int) -> Array:
        """n samples, drawn on device from `key` alone (no host state)."""
        k_mode, k_noise = jax.random.split(key)
        idx = jax.random.categorical(k_mode, jnp.log(jnp.asarray(self.weights, jnp.float32)), shape=(n,))
        means, stds = jnp.asarray(self.means, jnp.float32), jnp.asarray(self.stds, jnp.float32)
        return means[idx] + stds[idx] * jax.random.normal(k_noise, (n, self.dim))

    def log_density_jax(self, x: Array) -> Array:
        """log p(x) in JAX (float32), for use inside a jitted step."""
        means, stds = jnp.asarray(self.means, jnp.float32), jnp.asarray(self.stds, jnp.float32)
        z = (x[:, None, :] - means) / stds
        log_comp = (-0.5 * jnp.sum(z**2, axis=-1) - jnp.sum(jnp.log(stds), axis=-1)
                    - 0.5 * self.dim * math.log(2 * math.pi) + jnp.log(jnp.asarray(self.weights, jnp.float32)))
        return jax.nn.logsumexp(log_comp, axis=1)

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """log p(x) for x of shape (n, dim), in float64."""
        x = np.asarray(x, dtype=np.float64)[:, None, :]
        means, stds = self.means.astype(np.float64), self.stds.astype(np.float64)
        log_comp = (-0.5 * (((x - means) / stds) ** 2).sum(-1) - np.log(stds).sum(-1)
                    - 0.5 * self.dim * math.log(2 * math.pi) + np.log(self.weights))
        top = log_comp.max(axis=1, keepdims=True)
        return (top + np.log(np.exp(log_comp - top).sum(axis=1, keepdims=True)))[:, 0]
