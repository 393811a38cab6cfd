"""Toy datasets: the documented modes, and samples that follow (seed, key) alone."""

from __future__ import annotations

import itertools

import jax
import numpy as np

from gancli.config.compose import group_config
from gancli.data.toy import make_dataset


def test_ring_has_8_modes_on_the_unit_circle():
    data = make_dataset(group_config("data", "ring", modes=8, radius=1.0, std=0.01))
    assert data.means.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(data.means, axis=1), 1.0, rtol=1e-6)
    angles = np.sort(np.mod(np.arctan2(data.means[:, 1], data.means[:, 0]), 2 * np.pi))
    np.testing.assert_allclose(np.diff(angles), np.pi / 4, rtol=1e-5)


def test_grid_is_the_lattice_minus4_to_4_step_2():
    data = make_dataset(group_config("data", "grid", side=5, spacing=2.0, std=0.05))
    expected = {(float(x), float(y)) for x, y in itertools.product([-4, -2, 0, 2, 4], repeat=2)}
    assert {tuple(map(float, c)) for c in data.means} == expected


def test_samples_sit_on_their_modes_with_the_configured_std():
    data = make_dataset(group_config("data", "ring", std=0.05))
    x = np.asarray(data.sample(jax.random.key(0), 20000))
    nearest = np.linalg.norm(x[:, None] - data.means[None], axis=-1).argmin(1)
    residual = x - data.means[nearest]
    np.testing.assert_allclose(residual.std(axis=0), 0.05, rtol=0.05)
    counts = np.bincount(nearest, minlength=8)
    assert counts.min() > 20000 / 8 * 0.9  # equal weights


def test_sampling_depends_on_the_key_alone():
    data = make_dataset(group_config("data", "grid"))
    a = np.asarray(data.sample(jax.random.key(3), 100))
    b = np.asarray(data.sample(jax.random.key(3), 100))
    c = np.asarray(data.sample(jax.random.key(4), 100))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_bimodal_is_two_1d_modes_spacing_apart():
    data = make_dataset(group_config("data", "bimodal", spacing=4.0, std=0.5))
    np.testing.assert_array_equal(data.means, [[-2.0], [2.0]])
    np.testing.assert_array_equal(data.stds, [[0.5], [0.5]])
