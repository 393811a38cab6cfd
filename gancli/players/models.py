"""Generator and discriminator networks (Flax NNX), built from the model config."""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx
from jax import Array

from gancli.config.train import ModelConfig
from gancli.errors import GancliError, lookup
from gancli.players.shapes import Shapes
from gancli.players.spectral_norm import spectrally_normalised

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": jax.nn.relu,
    "leaky_relu": lambda x: jax.nn.leaky_relu(x, 0.2),
    "elu": jax.nn.elu,
    "tanh": jax.nn.tanh,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
}


class MLP(nnx.Module):
    """`depth` hidden layers of width `hidden`, then a linear output layer; with `spectral_norm`
    every layer is spectrally normalised (a critic's option: gancli.players.spectral_norm).

    `input_scale` divides the input and `output_scale` multiplies the output: constants, not
    weights. With model.rescale a generator's outputs and a critic's inputs are in units of the
    data's extent, as images are in [-1, 1]: at its default initialisation the generator's
    output is of order 1, so on the 25-Gaussian grid (extent 4) the generator no longer has to
    grow its weights four-fold before it reaches the outer modes. Both functions are still of x
    itself, so penalties on grad_x and every divergence mean what they did.
    """

    def __init__(self, d_in: int, d_out: int, hidden: int, depth: int, activation: str,
                 *, rngs: nnx.Rngs, spectral_norm: bool = False, input_scale: float = 1.0,
                 output_scale: float = 1.0):
        widths = [d_in] + [hidden] * depth
        self.hidden = nnx.List([spectrally_normalised(nnx.Linear(a, b, rngs=rngs), spectral_norm, rngs)
                                for a, b in zip(widths[:-1], widths[1:], strict=True)])
        self.out = spectrally_normalised(nnx.Linear(widths[-1], d_out, rngs=rngs), spectral_norm, rngs)
        self.activation = activation
        self.input_scale, self.output_scale = input_scale, output_scale

    def __call__(self, x: Array) -> Array:
        act = ACTIVATIONS[self.activation]
        if self.input_scale != 1.0:
            x = x / self.input_scale
        for layer in self.hidden:
            x = act(layer(x))
        out = self.out(x)
        return out if self.output_scale == 1.0 else out * self.output_scale


class SeparateCritics(nnx.Module):
    """One MLP critic per head, outputs side by side: (n, heads)."""

    def __init__(self, d_in: int, heads: int, hidden: int, depth: int, activation: str, *, rngs: nnx.Rngs,
                 spectral_norm: bool = False, input_scale: float = 1.0):
        self.critics = nnx.List([MLP(d_in, 1, hidden, depth, activation, rngs=rngs, spectral_norm=spectral_norm,
                                     input_scale=input_scale) for _ in range(heads)])

    def __call__(self, x: Array) -> Array:
        return jnp.concatenate([critic(x) for critic in self.critics], axis=1)


def _data_scale(cfg: ModelConfig, shapes: Shapes) -> float:
    """The data's extent under model.rescale (see MLP), else 1."""
    return shapes.data.extent if cfg.rescale and shapes.data is not None else 1.0


def _critic(cfg: ModelConfig, shapes: Shapes, key: Array) -> nnx.Module:
    """The discriminator: it sees `pack` samples concatenated (PacGAN, Lin et al. 2018)."""
    hidden, depth = cfg.player("discriminator")
    d_in, rngs = shapes.data_dim * cfg.pack, nnx.Rngs(key)
    common = dict(rngs=rngs, spectral_norm=cfg.spectral_norm, input_scale=_data_scale(cfg, shapes))
    if shapes.shared_critic or shapes.heads == 1:
        return MLP(d_in, shapes.heads, hidden, depth, cfg.activation, **common)
    return SeparateCritics(d_in, shapes.heads, hidden, depth, cfg.activation, **common)


def mlp(cfg: ModelConfig, shapes: Shapes, key: Array) -> tuple[nnx.Module, nnx.Module]:
    k_g, k_d = jax.random.split(key)
    g_hidden, g_depth = cfg.player("generator")
    generator = MLP(shapes.latent_dim, shapes.data_dim, g_hidden, g_depth, cfg.activation, rngs=nnx.Rngs(k_g),
                    output_scale=_data_scale(cfg, shapes))
    return generator, _critic(cfg, shapes, k_d)


class Affine(nnx.Module):
    """x = mu + sigma * z: a generator whose distribution is a single Gaussian (for a Gaussian prior)."""

    def __init__(self, dim: int, *, rngs: nnx.Rngs):
        # A random mean: mu = 0 would sit on the symmetric saddle between two mirrored modes.
        self.mu = nnx.Param(jax.random.normal(rngs.params(), (dim,)))
        self.log_sigma = nnx.Param(jnp.zeros((dim,)))  # sigma = exp(log_sigma) stays positive

    def __call__(self, z: Array) -> Array:
        return self.mu[...] + jnp.exp(self.log_sigma[...]) * z


def affine(cfg: ModelConfig, shapes: Shapes, key: Array) -> tuple[nnx.Module, nnx.Module]:
    if shapes.latent_dim != shapes.data_dim:
        raise GancliError(f"model=affine maps z to x one axis each: set prior.dim={shapes.data_dim} (the data's "
                          f"dimension), not {shapes.latent_dim}")
    k_g, k_d = jax.random.split(key)
    return Affine(shapes.data_dim, rngs=nnx.Rngs(k_g)), _critic(cfg, shapes, k_d)


class GaussianMixtureModel(nnx.Module):
    """An explicit density: sum_k softmax(logits)_k N(mu_k, L_k L_k^T), with L_k lower triangular
    (diagonal for covariance=diag). It draws its own noise, so it needs no prior."""

    def __init__(self, means: Array, scale: Array, covariance: str):
        components, dim = means.shape
        self.logits = nnx.Param(jnp.zeros((components,)))
        self.means = nnx.Param(means)
        self.log_scales = nnx.Param(jnp.full((components, dim), jnp.log(scale)))  # L's diagonal, as logs
        self.full = covariance == "full"
        if self.full:
            self.lower = nnx.Param(jnp.zeros((components, dim, dim)))  # L below its diagonal

    def cholesky(self) -> Array:
        """L_k for every component, shape (K, dim, dim)."""
        scale = jnp.exp(self.log_scales[...])
        diag = jax.vmap(jnp.diag)(scale)
        return diag + jnp.tril(self.lower[...], -1) if self.full else diag

    def log_prob(self, x: Array) -> Array:
        """log q(x) for x of shape (n, dim)."""
        chol = self.cholesky()
        diff = x[:, None, :] - self.means[...][None]  # (n, K, dim)
        # Whitened offsets y = L^-1 (x - mu): one triangular solve per component.
        y = jax.vmap(lambda lk, dk: jax.scipy.linalg.solve_triangular(lk, dk.T, lower=True).T,
                     in_axes=(0, 1), out_axes=1)(chol, diff)
        dim = x.shape[1]
        log_comp = (-0.5 * jnp.sum(y**2, axis=-1) - jnp.sum(self.log_scales[...], axis=-1)
                    - 0.5 * dim * math.log(2 * math.pi) + jax.nn.log_softmax(self.logits[...]))
        return jax.nn.logsumexp(log_comp, axis=1)

    def sample(self, key: Array, n: int) -> Array:
        k_comp, k_noise = jax.random.split(key)
        idx = jax.random.categorical(k_comp, self.logits[...], shape=(n,))
        z = jax.random.normal(k_noise, (n, self.means.shape[1]))
        return self.means[...][idx] + jnp.einsum("nij,nj->ni", self.cholesky()[idx], z)


def kmeans_pp_seeds(key: Array, points: Array, k: int) -> Array:
    """k of `points`, chosen by k-means++ seeding (Arthur & Vassilvitskii 2007): each next seed is
    drawn with probability proportional to its squared distance from the nearest seed so far."""
    keys = jax.random.split(key, k)
    seeds = [points[jax.random.randint(keys[0], (), 0, len(points))]]
    nearest = jnp.sum((points - seeds[0]) ** 2, axis=1)
    for i in range(1, k):
        seeds.append(points[jax.random.categorical(keys[i], jnp.log(nearest + 1e-30))])
        nearest = jnp.minimum(nearest, jnp.sum((points - seeds[-1]) ** 2, axis=1))
    return jnp.stack(seeds)


def gmm(cfg: ModelConfig, shapes: Shapes, key: Array) -> tuple[nnx.Module, None]:
    """A Gaussian mixture of `components` and no critic, fitted by maximum likelihood.

    Its means start at k-means++ seeds among data samples, the usual start for fitting a mixture
    (gradient ascent, like EM, only finds a local optimum); every component starts as wide as
    the data, so each is pulled by all the data near it before it narrows.
    """
    if shapes.data is None:
        raise ValueError("model=gmm is seeded from data samples: pass Shapes.data")
    k_data, k_seed = jax.random.split(key)
    points = shapes.data.sample(k_data, 64 * cfg.components)
    return GaussianMixtureModel(kmeans_pp_seeds(k_seed, points, cfg.components), jnp.std(points), cfg.covariance), None


def dcgan(cfg: ModelConfig, shapes: Shapes, key: Array) -> tuple[nnx.Module, nnx.Module]:
    from gancli.players.dcgan import dcgan_players  # convolutions: only image runs need them

    if shapes.image_shape is None:
        raise GancliError("model=dcgan is convolutional: train it on images (data=digits, mnist, stacked_mnist or "
                          "images), or use model=mlp on this data")
    return dcgan_players(cfg, shapes, key)


MODELS = {"mlp": mlp, "affine": affine, "gmm": gmm, "dcgan": dcgan}
EXPLICIT_MODELS = ("gmm",)  # models with a density of their own: trained by divergence=mle
CONV_MODELS = ("dcgan",)  # convolutional: see GanProblem.host_loop


def make_models(cfg: ModelConfig, shapes: Shapes, key: Array) -> tuple[nnx.Module, nnx.Module | None]:
    """(generator, discriminator): G maps R^latent_dim -> R^data_dim, D maps `pack` samples to one
    score per head; an explicit model has no discriminator (None)."""
    return lookup(MODELS, cfg.name, "model")(cfg, shapes, key)
