"""Spectral normalisation of the MLP critic (model.spectral_norm=true): every layer's largest
singular value is 1, so the ReLU critic is 1-Lipschitz whatever its kernels' scale, and it trains."""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from gancli.config.compose import group_config
from gancli.objectives.penalties import input_gradients
from gancli.players.models import make_models
from gancli.players.shapes import Shapes
from gancli.training.chunk import make_train_chunk
from gancli.training.problem import build
from tests.helpers import compose_config

X = jax.random.normal(jax.random.key(1), (256, 4)) * 3.0


def critic_function(spectral_norm, heads=1, shared=True, kernel_scale=1.0):
    """x -> the MLP critic's outputs (n, heads), merged fresh inside every call as the trainer
    does, with every kernel multiplied by kernel_scale; and its (graph, state)."""
    cfg = group_config("model", "mlp", hidden=32, depth=3, pack=2, spectral_norm=spectral_norm)
    shapes = Shapes(latent_dim=2, data_dim=2, heads=heads, shared_critic=shared)
    _, d = make_models(cfg, shapes, jax.random.key(0))
    graph, state = nnx.split(d)
    state = jax.tree_util.tree_map_with_path(
        lambda path, leaf: leaf * kernel_scale if "kernel" in jax.tree_util.keystr(path) else leaf, state)
    return lambda x: nnx.merge(graph, state, copy=True)(x), (graph, state)


def used_kernels(graph, state, x):
    """The kernels the normalised layers used in a call (the wrapper writes them into its layer)."""
    used = nnx.merge(graph, state, copy=True)
    used(x)
    critics = used.critics if hasattr(used, "critics") else [used]
    return [np.asarray(layer.layer_instance.kernel[...]) for c in critics for layer in [*c.hidden, c.out]]


# The second case compiles anew: make test-slow.
@pytest.mark.parametrize("heads,shared", [(1, True), pytest.param(2, False, marks=pytest.mark.slow)])
def test_every_layer_has_unit_largest_singular_value(heads, shared):
    _, (graph, state) = critic_function(True, heads, shared)
    kernels = used_kernels(graph, state, X)
    assert len(kernels) == 4 * (1 if shared else heads)  # three hidden layers and the output of each critic
    for kernel in kernels:
        sigma = np.linalg.svd(kernel.astype(np.float64), compute_uv=False)[0]
        assert 1 - 1e-5 <= sigma <= 1.03, sigma  # power iteration approaches sigma from below: see POWER_STEPS


def test_the_critic_is_one_lipschitz_whatever_the_kernel_scale():
    """|grad_x v| <= 1 for ReLU layers of spectral norm 1 (up to the power iteration's shortfall);
    the same kernels unnormalised and scaled by 5 have gradients far above 1."""
    for scale in (1.0, 5.0):
        critic, _ = critic_function(True, kernel_scale=scale)
        norms = np.linalg.norm(np.asarray(input_gradients(lambda x, c=critic: c(x)[:, 0], X)), axis=1)
        assert norms.max() <= 1.03 ** 4, (scale, norms.max())
    plain, _ = critic_function(False, kernel_scale=5.0)
    assert np.linalg.norm(np.asarray(input_gradients(lambda x: plain(x)[:, 0], X)), axis=1).max() > 10


@pytest.mark.slow  # trains a run
def test_a_spectrally_normalised_critic_trains_on_the_ring():
    cfg = compose_config("model.spectral_norm=true", "model.hidden=32", "model.depth=2", "train.batch_size=64")
    cfg = replace(cfg, train=replace(cfg.train, chunk=100))
    problem, init = build(cfg)
    state, metrics = make_train_chunk(problem, 100)(init(), jnp.int32(100))
    assert int(state.step) == 100
    assert all(np.isfinite(np.asarray(metrics[name])).all() for name in problem.metric_names)
