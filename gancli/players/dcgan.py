"""DCGAN players for image data (Radford et al. 2016): a transposed-convolution generator and a
strided-convolution critic, both reading and writing images flat, as the trainer moves them.

A sample travels as (n, H*W*C); the modules reshape to NHWC inside. DCGAN fixes its
activations, so `model.activation` is not used here: ReLU in G, leaky ReLU (slope 0.2) in D.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import Array

from gancli.errors import GancliError
from gancli.players.shapes import Shapes
from gancli.players.spectral_norm import spectrally_normalised

if TYPE_CHECKING:
    from gancli.config.train import ModelConfig

KERNEL = (4, 4)  # DCGAN's 4x4 kernels with stride 2: each layer doubles or halves the resolution
LEAK = 0.2  # the critic's leaky ReLU slope (Radford et al. 2016, section 3)


def halvings(image_shape: tuple[int, int, int]) -> int:
    """How many stride-2 layers the players have: H and W are halved while even and the half is at
    least 4 (8 -> 4: 1; 28 -> 7: 2; 32 -> 4: 3; 64 -> 4: 4), and both must halve equally often."""

    def count(size: int) -> int:
        n = 0
        while size % 2 == 0 and size // 2 >= 4:
            size, n = size // 2, n + 1
        return n

    h, w, _ = image_shape
    if count(h) != count(w) or count(h) < 1:
        raise GancliError(
            f"model=dcgan cannot take images of shape {tuple(image_shape)} (height, width, channels): its layers "
            f"halve height and width together while they are even and stay at least 4 pixels, so both must halve "
            f"equally often, at least once (8, 28, 32 and 64 square work); set data.image_size=32, or use model=mlp")
    return count(h)


class BatchNorm(nnx.Module):
    """Per-channel batch normalisation with the current batch's statistics, always, and no running
    averages (Ioffe & Szegedy 2015; the DCGAN reference code samples in training mode too).

    A generated sample therefore depends on the other samples of its batch, as in that code. With
    no running statistics the generator's state is its parameters alone: the trainer is a pure
    function of them, and the exponential average of G's weights it keeps is then a plain average
    of parameters (an average of running statistics would not describe the averaged network).
    """

    def __init__(self, channels: int, epsilon: float = 1e-5):
        self.scale = nnx.Param(jnp.ones((channels,)))
        self.bias = nnx.Param(jnp.zeros((channels,)))
        self.epsilon = epsilon

    def __call__(self, x: Array) -> Array:
        # Over the batch and spatial axes, so one sample alone (n = 1) still has h*w values per channel.
        axes = tuple(range(x.ndim - 1))
        mean = jnp.mean(x, axis=axes)
        var = jnp.var(x, axis=axes)
        return (x - mean) * jax.lax.rsqrt(var + self.epsilon) * self.scale[...] + self.bias[...]


# Which tap of a 4-tap kernel, stride 2, 'SAME' transposed convolution reaches output phase p
# (even p=0, odd p=1) from input offset o in (-1, 0, +1): y[2i] = k0 x[i-1] + k2 x[i] and
# y[2i+1] = k1 x[i] + k3 x[i+1] (lax.conv_transpose's padding of 2 on each side). -1: none.
_TAPS = ((0, 2, -1), (-1, 1, 3))  # _TAPS[p][o + 1]
_PHASE_TAPS = np.array([[[float(_TAPS[p][o] == t) for t in range(4)] for p in range(2)] for o in range(3)])


class UpConv(nnx.Module):
    """A transposed convolution, kernel 4x4, stride 2, 'SAME' (output 2H x 2W), as DCGAN upsamples.

    Computed as a 3x3 convolution into the 2x2 output phases, then the phases interleaved
    (sub-pixel convolution, Shi et al. 2016): the same function of the same 4x4 kernel as
    nnx.ConvTranspose (a test checks it), but XLA's CPU backend differentiates a transposed
    convolution some 5 to 10 times slower per operation than a plain one (measured: 159 ms against
    34 ms for 7x7x128 -> 14x14x64 at batch 64), and G's gradient dominated a train step.
    """

    def __init__(self, channels_in: int, channels_out: int, use_bias: bool, *, rngs: nnx.Rngs):
        self.kernel = nnx.Param(nnx.initializers.lecun_normal()(rngs.params(), (4, 4, channels_in, channels_out)))
        self.bias = nnx.Param(jnp.zeros((channels_out,))) if use_bias else None

    def __call__(self, x: Array) -> Array:
        kernel = self.kernel[...]
        n, h, w, _ = x.shape
        c_out = kernel.shape[-1]
        taps = jnp.asarray(_PHASE_TAPS, kernel.dtype)  # (offset, phase, tap), the same for rows and columns
        # (3, 3, in, 2, 2, out): the kernel each output phase (p, q) applies to the 3x3 neighbourhood.
        phased = jnp.einsum("apt,bqs,tsio->abipqo", taps, taps, kernel).reshape(3, 3, kernel.shape[2], 4 * c_out)
        y = jax.lax.conv_general_dilated(x, phased, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        y = y.reshape(n, h, w, 2, 2, c_out).transpose(0, 1, 3, 2, 4, 5).reshape(n, 2 * h, 2 * w, c_out)
        return y if self.bias is None else y + self.bias[...]


class Generator(nnx.Module):
    """z (n, latent) -> Linear -> (h0, w0, width * 2^(L-1)) -> L-1 transposed convolutions that
    halve the channels -> a last one to C channels -> tanh: images in [-1, 1], flat (n, H*W*C).
    Each hidden layer is followed by batch norm (optional) and ReLU.

    Weights start from Flax's default (variance scaling), not DCGAN's N(0, 0.02): that scale
    keeps the activations alive when batch norm is off, and batch norm makes the scale moot.
    """

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], width: int, batch_norm: bool,
                 *, rngs: nnx.Rngs):
        h, w, c = image_shape
        n = halvings(image_shape)
        self.image_shape, self.base = tuple(image_shape), (h >> n, w >> n, width << (n - 1))
        h0, w0, ch = self.base
        # A bias before batch normalisation is cancelled by its mean: leave it out.
        self.project = nnx.Linear(latent_dim, h0 * w0 * ch, use_bias=not batch_norm, rngs=rngs)
        self.norms = nnx.List([BatchNorm(ch >> i) for i in range(n)] if batch_norm else [])
        self.ups = nnx.List([UpConv(ch >> i, ch >> (i + 1), use_bias=not batch_norm, rngs=rngs) for i in range(n - 1)])
        self.out = UpConv(width, c, use_bias=True, rngs=rngs)

    def _norm_relu(self, i: int, x: Array) -> Array:
        return jax.nn.relu(self.norms[i](x) if len(self.norms) else x)

    def __call__(self, z: Array) -> Array:
        # Normalised per channel after the reshape, like the 1x1 -> 4x4 transposed convolution
        # that opens the reference generator.
        x = self._norm_relu(0, self.project(z).reshape(z.shape[0], *self.base))
        for i, up in enumerate(self.ups):
            x = self._norm_relu(i + 1, up(x))
        x = jnp.tanh(self.out(x))
        assert x.shape[1:] == self.image_shape, (x.shape, self.image_shape)  # trace time: sizes are static
        return x.reshape(z.shape[0], -1)


def packed_images(packed: Array, pack: int, image_shape: tuple[int, int, int]) -> Array:
    """(m, pack*H*W*C) -> (m, H, W, pack*C): the pack's images side by side in channels, so the
    first convolution sees the same pixel of every image of the pack at once."""
    h, w, c = image_shape
    return packed.reshape(-1, pack, h, w, c).transpose(0, 2, 3, 1, 4).reshape(-1, h, w, pack * c)


class Critic(nnx.Module):
    """`pack` images (flat, side by side) -> their pixels stacked in channels (PacGAN, Lin et al.
    2018) -> L strided convolutions, doubling channels from `width` -> Linear -> `heads` outputs.

    No batch normalisation: it would couple the samples of a batch, which packing and gradient
    penalties assume independent.
    """

    def __init__(self, image_shape: tuple[int, int, int], pack: int, width: int, heads: int, spectral_norm: bool,
                 *, rngs: nnx.Rngs):
        h, w, c = image_shape
        n = halvings(image_shape)
        self.image_shape, self.pack = tuple(image_shape), pack
        channels = [c * pack] + [width << i for i in range(n)]
        self.convs = nnx.List([
            spectrally_normalised(nnx.Conv(a, b, KERNEL, strides=2, padding="SAME", rngs=rngs), spectral_norm, rngs)
            for a, b in zip(channels[:-1], channels[1:], strict=True)])
        self.out = spectrally_normalised(nnx.Linear((h >> n) * (w >> n) * channels[-1], heads, rngs=rngs),
                                         spectral_norm, rngs)

    def __call__(self, packed: Array) -> Array:
        x = packed_images(packed, self.pack, self.image_shape)
        for conv in self.convs:
            x = jax.nn.leaky_relu(conv(x), LEAK)
        return self.out(x.reshape(x.shape[0], -1))


class SeparateCritics(nnx.Module):
    """One convolutional critic per head, outputs side by side: (m, heads)."""

    def __init__(self, heads: int, **critic: object):
        self.critics = nnx.List([Critic(heads=1, **critic) for _ in range(heads)])

    def __call__(self, packed: Array) -> Array:
        return jnp.concatenate([critic(packed) for critic in self.critics], axis=1)


def dcgan_players(cfg: ModelConfig, shapes: Shapes, key: Array) -> tuple[nnx.Module, nnx.Module]:
    """(generator, critic) for images of `shapes.image_shape`: G maps z (n, latent_dim) to (n, H*W*C)
    in [-1, 1]; the critic maps (n / pack, pack*H*W*C) to (n / pack, heads).

    Uses cfg.width, batch_norm, spectral_norm and pack; not cfg.activation (DCGAN fixes ReLU in G
    and leaky ReLU 0.2 in D), nor hidden and depth (the image size sets the depth).
    """
    assert shapes.image_shape is not None  # gancli.players.models.dcgan says so to the user
    image_shape = tuple(shapes.image_shape)
    k_g, k_d = jax.random.split(key)
    generator = Generator(shapes.latent_dim, image_shape, cfg.width, cfg.batch_norm, rngs=nnx.Rngs(k_g))
    critic = dict(image_shape=image_shape, pack=cfg.pack, width=cfg.width, spectral_norm=cfg.spectral_norm,
                  rngs=nnx.Rngs(k_d))
    if shapes.shared_critic or shapes.heads == 1:
        return generator, Critic(heads=shapes.heads, **critic)
    return generator, SeparateCritics(shapes.heads, **critic)
