"""model.rescale: the MLP generator's outputs and the critic's inputs in units of the data's extent."""

from __future__ import annotations

from dataclasses import replace

import jax
import numpy as np

from gancli.config.train import parse_config, saved_config, saved_settings
from gancli.data.toy import make_dataset
from gancli.players.models import make_models
from gancli.players.shapes import Shapes
from tests.helpers import compose_config, compose_raw

Z = jax.random.normal(jax.random.key(1), (64, 2))


def players(data: str, rescale: bool, **shape_args):
    """(G, D, data) of the default MLP for `data`, from one key whatever `rescale`."""
    cfg = compose_config(f"data={data}")
    dataset = make_dataset(cfg.data)
    shapes = Shapes(latent_dim=cfg.prior.dim, data_dim=dataset.dim, data=dataset, **shape_args)
    g, d = make_models(replace(cfg.model, rescale=rescale), shapes, jax.random.key(0))
    return g, d, dataset


def test_the_data_extent_is_its_largest_mode_coordinate():
    assert make_dataset(compose_config("data=ring").data).extent == 1.0
    assert make_dataset(compose_config("data=grid").data).extent == 4.0
    assert make_dataset(compose_config("data=bimodal").data).extent == 2.0


def test_on_the_grid_g_is_scaled_up_and_d_sees_x_scaled_down_by_the_extent():
    g, d, grid = players("grid", rescale=True)
    g0, d0, _ = players("grid", rescale=False)
    x = np.asarray(grid.sample(jax.random.key(2), 64)).reshape(32, 4)  # pack 2: two samples a row
    np.testing.assert_allclose(g(Z), 4.0 * g0(Z), rtol=1e-6)
    np.testing.assert_allclose(d(x), d0(x / 4.0), rtol=1e-6)


def test_separate_critic_heads_are_rescaled_too():
    _, d, _ = players("grid", rescale=True, heads=2, shared_critic=False)
    _, d0, _ = players("grid", rescale=False, heads=2, shared_critic=False)
    x = jax.random.normal(jax.random.key(3), (16, 4)) * 4.0
    np.testing.assert_allclose(d(x), d0(x / 4.0), rtol=1e-6)


def test_on_the_ring_rescale_changes_nothing():
    """The ring's extent is 1: its runs, and every number measured on them, are unchanged."""
    g, d, _ = players("ring", rescale=True)
    g0, d0, _ = players("ring", rescale=False)
    x = jax.random.normal(jax.random.key(4), (16, 4))
    np.testing.assert_array_equal(g(Z), g0(Z))
    np.testing.assert_array_equal(d(x), d0(x))


def test_rescale_is_on_for_mlp_and_a_run_saved_before_it_existed_reads_as_off():
    raw = compose_raw("data=grid")
    assert parse_config(raw).model.rescale is True
    old = {**raw, "model": {k: v for k, v in raw["model"].items() if k != "rescale"}}
    assert saved_config(old).model.rescale is False  # it trained without: eval and sample rebuild it so
    assert saved_settings(old)["model.rescale"] is False  # a sweep run again sees a changed setting
    assert compose_config("model=affine").model.rescale is False  # its G is mu + sigma z already
