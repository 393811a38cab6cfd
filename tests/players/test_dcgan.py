"""The DCGAN players of gancli.players.dcgan: shapes, packing, the shape errors, batch norm,
spectral norm, and gradients through the trainer's merge-inside-grad pattern."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from gancli.config.compose import group_config
from gancli.errors import GancliError
from gancli.players.dcgan import BatchNorm, packed_images
from gancli.players.models import make_models
from gancli.players.shapes import Shapes

LATENT = 16
IMAGES = [(8, 8, 1), (28, 28, 1), (28, 28, 3), (32, 32, 3), (64, 64, 1)]
HEADS = [(1, True), (3, True), (3, False)]  # (heads, shared_critic)


def players(image_shape, *, width=8, pack=1, heads=1, shared=True, spectral_norm=False, batch_norm=True, seed=0,
            abstract=False):
    """(G, D) through gancli.players.models.make_models; abstract: shapes only (nnx.eval_shape), which
    keeps the tests that need no values free of eager initialisation, the slow part on CPU."""
    h, w, c = image_shape
    cfg = group_config("model", "dcgan", width=width, pack=pack, spectral_norm=spectral_norm, batch_norm=batch_norm)
    shapes = Shapes(latent_dim=LATENT, data_dim=h * w * c, heads=heads, shared_critic=shared, image_shape=image_shape)
    build = lambda: make_models(cfg, shapes, jax.random.key(seed))  # noqa: E731
    return nnx.eval_shape(build) if abstract else build()


def forward(module):
    """(f, state): f(state, x) is module(x) as the trainer computes it, a fresh copy merged inside
    jit. Compiled whole, which on CPU is much faster than eager dispatch of spectral norm's many
    small operations."""
    graph, state = nnx.split(module)
    return jax.jit(lambda state, x: nnx.merge(graph, state, copy=True)(x)), state


def call(module, x):
    f, state = forward(module)
    return f(state, x)


def output_shape(module, x_shape):
    """The shape of module(x) for x of x_shape, traced as the trainer calls it (merge, copy=True)."""
    graph, state = nnx.split(module)
    x = jax.ShapeDtypeStruct(x_shape, jnp.float32)
    return jax.eval_shape(lambda state, x: nnx.merge(graph, state, copy=True)(x), state, x).shape


def z_batch(n, seed=1):
    return jax.random.normal(jax.random.key(seed), (n, LATENT))


@pytest.mark.parametrize("pack", [1, 2])
@pytest.mark.parametrize("image_shape", IMAGES + [(28, 20, 1), (32, 48, 3)])  # rectangles that halve equally
def test_output_shapes(image_shape, pack):
    """G's last layer must land exactly on H x W: Generator asserts it at trace time too."""
    n, dim = 4, int(np.prod(image_shape))
    for heads, shared in HEADS:
        g, d = players(image_shape, pack=pack, heads=heads, shared=shared, abstract=True)
        assert output_shape(g, (n, LATENT)) == (n, dim)
        assert output_shape(d, (n // pack, pack * dim)) == (n // pack, heads)


# The tests below that draw real weights share these few layer shapes: on CPU, initialising a
# kernel of a new shape compiles its initialiser (about a second each), which dominates this file.
REAL = (28, 28, 1)


@pytest.mark.slow
def test_generated_images_lie_in_the_tanh_range_and_separate_critics_differ():
    g, d = players(REAL, pack=2, heads=3, shared=False)
    x = call(g, 3.0 * z_batch(8))  # a wide z, to push some pixels towards +-1
    assert x.shape == (8, 784) and float(jnp.max(jnp.abs(x))) <= 1.0
    assert float(jnp.max(jnp.abs(x))) > 0.5  # not a collapsed output
    v = call(d, x.reshape(4, -1))
    assert v.shape == (4, 3) and len(d.critics) == 3 and not np.allclose(v[:, 0], v[:, 1])


@pytest.mark.parametrize("image_shape", [(7, 7, 1), (6, 6, 1), (28, 32, 1), (28, 56, 1), (4, 4, 3)])
def test_unsupported_image_shape_is_a_one_line_error(image_shape):
    with pytest.raises(GancliError) as err:
        players(image_shape)
    message = str(err.value)
    assert str(image_shape) in message and "data.image_size=32" in message and "model=mlp" in message
    assert "\n" not in message


def test_dcgan_needs_images():
    with pytest.raises(GancliError, match="model=dcgan is convolutional"):
        make_models(group_config("model", "dcgan"), Shapes(latent_dim=2, data_dim=2), jax.random.key(0))


def test_packing_puts_a_packs_images_in_channels():
    pack, (h, w, c) = 3, (4, 6, 2)
    images = np.random.default_rng(0).normal(size=(2 * pack, h, w, c)).astype(np.float32)
    out = np.asarray(packed_images(jnp.asarray(images.reshape(2, -1)), pack, (h, w, c)))
    assert out.shape == (2, h, w, pack * c)
    for m in range(2):
        for p in range(pack):
            np.testing.assert_array_equal(out[m, :, :, p * c:(p + 1) * c], images[m * pack + p])


def _count(module):
    return sum(leaf.size for leaf in jax.tree.leaves(nnx.state(module, nnx.Param)))


@pytest.mark.parametrize("width", [4, 8])
def test_parameter_count_follows_width(width):
    """Closed form for 28x28x1 (L = 2: 7x7 base), batch norm on (no bias before a norm)."""
    ch = 2 * width  # channels at the 7x7 base
    expected_g = (LATENT * 49 * ch + 2 * ch                 # Linear without bias, then its norm
                  + 16 * ch * width + 2 * width               # ConvTranspose ch -> width, its norm
                  + 16 * width * 1 + 1)                       # last ConvTranspose to 1 channel, with bias
    expected_d = (16 * 1 * width + width + 16 * width * ch + ch  # two strided convs
                  + 49 * ch * 3 + 3)                          # Linear to 3 heads
    g, d = players((28, 28, 1), width=width, heads=3, abstract=True)
    assert (_count(g), _count(d)) == (expected_g, expected_d)
    g_no_bn, _ = players((28, 28, 1), width=width, batch_norm=False, abstract=True)
    # No norms, and the Linear and the inner ConvTranspose get back their biases.
    assert _count(g_no_bn) == expected_g - 2 * ch - 2 * width + 49 * ch + width


def test_batch_norm_is_off_without_batch_norm():
    g, _ = players((28, 28, 1), batch_norm=False, abstract=True)
    assert len(g.norms) == 0
    assert not [p for p, _ in nnx.to_flat_state(nnx.state(g)) if "norms" in p]
    g, _ = players((28, 28, 1), abstract=True)
    assert len(g.norms) == 2


def test_batch_norm_uses_the_batch_statistics():
    """Per channel, over batch and space: a spatial trend inside a channel survives (a per-pixel
    norm would remove it), and there are no running averages."""
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 5.0, size=(6, 5, 5, 4)) * np.arange(1, 5) + np.arange(5)[None, :, None, None]
    x = x.astype(np.float32)
    norm = BatchNorm(4)
    norm.scale[...], norm.bias[...] = jnp.asarray([1.0, 2.0, 0.5, 1.0]), jnp.asarray([0.0, -1.0, 3.0, 0.0])
    mean, var = x.astype(np.float64).mean(axis=(0, 1, 2)), x.astype(np.float64).var(axis=(0, 1, 2))
    expected = (x - mean) / np.sqrt(var + 1e-5) * [1.0, 2.0, 0.5, 1.0] + [0.0, -1.0, 3.0, 0.0]
    np.testing.assert_allclose(np.asarray(norm(jnp.asarray(x))), expected, rtol=1e-4, atol=1e-5)
    assert set(dict(nnx.to_flat_state(nnx.state(norm)))) == {("scale",), ("bias",)}


@pytest.mark.slow  # builds the full-size 28x28 players eagerly
def test_generator_pre_activations_are_normalised_at_init():
    g, _ = players(REAL)
    z = z_batch(32)
    pre = np.asarray(g.norms[0](g.project(z).reshape(32, *g.base)))
    np.testing.assert_allclose(pre.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(pre.var(axis=(0, 1, 2)), 1.0, atol=1e-3)


@pytest.mark.slow  # full-size players, eagerly
def test_a_sample_depends_on_its_batch_only_with_batch_norm():
    z = z_batch(8)
    for batch_norm in (True, False):
        g, _ = players(REAL, batch_norm=batch_norm)
        alone, in_batch = call(g, z[:1]), call(g, z)[:1]
        assert np.allclose(alone, in_batch, atol=1e-6) is (not batch_norm)


def _sn_kernels(d, x):
    """The kernels each spectrally normalised layer of each critic used in a call: the wrapper
    writes them into the wrapped layer of the (merged, throw-away) module."""
    graph, state = nnx.split(d)

    def kernels(state, x):
        used = nnx.merge(graph, state, copy=True)
        used(x)
        critics = used.critics if hasattr(used, "critics") else [used]
        return [layer.layer_instance.kernel[...] for c in critics for layer in [*c.convs, c.out]]

    return [np.asarray(k) for k in jax.jit(kernels)(state, x)]


@pytest.mark.slow  # full-size critics, eagerly: tests/players/test_spectral_norm.py checks the MLP's in the fast suite
@pytest.mark.parametrize("pack,shared", [(1, True), (2, False)])
def test_spectral_norm_gives_unit_largest_singular_value(pack, shared):
    _, d = players(REAL, pack=pack, heads=3, shared=shared, spectral_norm=True)
    kernels = _sn_kernels(d, jnp.zeros((2, 784 * pack)))
    assert len(kernels) == 3 * (1 if shared else 3)  # two convs and the Linear of each critic
    for kernel in kernels:
        sigma = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]).astype(np.float64), compute_uv=False)[0]
        # Power iteration estimates sigma from below (v^T W u <= sigma for unit u, v), so the
        # normalised kernel's is >= 1 up to float32 rounding. Above: 1.03 is the 99th percentile
        # of 30 steps from random starts at initialisation (gancli.players.spectral_norm.POWER_STEPS);
        # these fixed keys give at most 1.002, while 10 steps would give 1.06 and 5 steps 1.10.
        assert 1 - 1e-5 <= sigma <= 1.03, sigma


@pytest.mark.slow  # two full-size critics
def test_spectral_norm_makes_the_critic_blind_to_kernel_scale():
    """D_SN(c W) = D_SN(W): W / sigma(W) does not change when every kernel is scaled; without
    spectral norm the critic changes."""
    x = jax.random.uniform(jax.random.key(3), (4, 784), minval=-1, maxval=1)
    outputs = {}
    for sn in (True, False):
        _, d = players(REAL, heads=3, spectral_norm=sn)
        f, state = forward(d)
        scaled = jax.tree_util.tree_map_with_path(
            lambda path, leaf: leaf * 3.0 if "kernel" in jax.tree_util.keystr(path) else leaf, state)
        v, v_scaled = f(state, x), f(scaled, x)
        outputs[sn] = v
        assert np.allclose(v, v_scaled, rtol=1e-4, atol=1e-6) is sn
    assert not np.allclose(outputs[True], outputs[False])


@pytest.mark.slow  # full-size players through jit(grad): tests/training/test_step.py steps the MLP's in the fast suite
@pytest.mark.parametrize("spectral_norm,batch_norm,shared", [(False, True, False), (True, False, True)])
def test_gradients_and_adam_through_merge_inside_grad(spectral_norm, batch_norm, shared):
    """The trainer's pattern (gancli.training.problem.model_of): jit(grad(loss of merge(graph, state,
    copy=True))) over the whole state; Adam updates every leaf, so the non-Param leaves
    (spectral norm's u and sigma) must get zero gradient and stay as they are."""
    g, d = players(REAL, pack=2, heads=3, shared=shared, spectral_norm=spectral_norm, batch_norm=batch_norm)
    (g_graph, g_state), (d_graph, d_state) = nnx.split(g), nnx.split(d)
    z = z_batch(8)

    def d_loss(d_state, g_state):
        fake = nnx.merge(g_graph, g_state, copy=True)(z).reshape(4, -1)  # packs of two
        return jnp.mean(nnx.merge(d_graph, d_state, copy=True)(fake) ** 2)

    @jax.jit
    def step(g_state, d_state):
        d_grads, g_grads = jax.grad(d_loss, argnums=(0, 1))(d_state, g_state)
        out = []
        for state, grads in ((g_state, g_grads), (d_state, d_grads)):
            opt = optax.adam(1e-2)
            updates, _ = opt.update(grads, opt.init(state), state)
            out += [grads, optax.apply_updates(state, updates)]
        return out

    g_grads, g_new, d_grads, d_new = step(g_state, d_state)
    for state, grads, new in ((g_state, g_grads, g_new), (d_state, d_grads, d_new)):
        params = nnx.to_flat_state(nnx.state(state, nnx.Param))
        others = nnx.to_flat_state(nnx.state(state, nnx.Not(nnx.Param)))
        flat_grads, flat_new = dict(nnx.to_flat_state(grads)), dict(nnx.to_flat_state(new))
        assert all(np.all(np.isfinite(flat_grads[p][...])) for p, _ in params)
        assert all(np.any(flat_grads[p][...] != 0) for p, _ in params if p[-1] == "kernel")
        assert all(not np.allclose(flat_new[p][...], v[...]) for p, v in params if p[-1] == "kernel")
        for p, v in others:
            assert np.all(flat_grads[p][...] == 0), p
            np.testing.assert_array_equal(flat_new[p][...], v[...])
        # u and sigma of each normalised layer: two convs and the Linear.
        assert len(others) == (3 * 2 if spectral_norm and state is d_state else 0)


def test_players_trace_under_eval_shape():
    """The trainer builds abstract players first (nnx.eval_shape): no weights are drawn."""
    g, d = players((32, 32, 3), spectral_norm=True, abstract=True)
    leaves = jax.tree.leaves(nnx.state(g)) + jax.tree.leaves(nnx.state(d))
    assert leaves and all(isinstance(leaf, jax.ShapeDtypeStruct) for leaf in leaves)


@pytest.mark.slow  # compiles convolutions for each shape: seconds each
@pytest.mark.parametrize("h, w, c_in, c_out", [(4, 6, 2, 4), (7, 7, 5, 3), (14, 14, 3, 1)])
def test_upconv_is_the_transposed_convolution(h, w, c_in, c_out):
    """UpConv computes nnx.ConvTranspose(kernel 4, stride 2, 'SAME') of the same kernel, by a faster route."""
    from gancli.players.dcgan import UpConv

    up = UpConv(c_in, c_out, use_bias=True, rngs=nnx.Rngs(0))
    up.bias[...] = jax.random.normal(jax.random.key(3), (c_out,))
    reference = nnx.ConvTranspose(c_in, c_out, (4, 4), strides=2, padding="SAME", rngs=nnx.Rngs(1))
    reference.kernel[...] = up.kernel[...]
    reference.bias[...] = up.bias[...]
    x = jax.random.normal(jax.random.key(2), (2, h, w, c_in))
    np.testing.assert_allclose(up(x), reference(x), atol=2e-6)
    assert up(x).shape == (2, 2 * h, 2 * w, c_out)
