"""gancli.players.priors: each latent prior draws (n, dim) samples of its documented law, from the key
alone. (An unknown prior's one-line error is checked in tests/test_errors.py.)"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from gancli.config.train import PriorConfig
from gancli.players.priors import PRIORS, make_prior


def test_priors_have_their_documented_law():
    z = np.asarray(make_prior(PriorConfig(name="gaussian", dim=4))(jax.random.key(0), 50000))
    assert z.shape == (50000, 4)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=0.02)
    np.testing.assert_allclose(z.std(0), 1.0, atol=0.02)
    u = np.asarray(make_prior(PriorConfig(name="uniform", dim=3))(jax.random.key(0), 50000))
    assert u.min() >= -1.0 and u.max() <= 1.0
    np.testing.assert_allclose(u.std(0), np.sqrt(1 / 3), atol=0.01)  # the std of U[-1, 1]


@pytest.mark.parametrize("name", sorted(PRIORS))
@pytest.mark.parametrize("dim", [1, 5])
def test_every_prior_draws_n_rows_of_its_configured_dimension(name, dim):
    z = make_prior(PriorConfig(name=name, dim=dim))(jax.random.key(0), 7)
    assert z.shape == (7, dim) and z.dtype == np.float32


@pytest.mark.parametrize("name", sorted(PRIORS))
def test_every_prior_follows_its_key_alone(name):
    prior = make_prior(PriorConfig(name=name, dim=2))
    a, b, c = (np.asarray(prior(jax.random.key(k), 100)) for k in (3, 3, 4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_the_axes_of_a_gaussian_prior_are_uncorrelated():
    # N(0, I): the identity covariance, not merely unit variances.
    z = np.asarray(make_prior(PriorConfig(name="gaussian", dim=3))(jax.random.key(1), 50000))
    np.testing.assert_allclose(np.cov(z.T), np.eye(3), atol=0.03)


def test_the_uniform_prior_fills_its_cube_evenly():
    u = np.asarray(make_prior(PriorConfig(name="uniform", dim=2))(jax.random.key(2), 40000))
    counts, _ = np.histogramdd(u, bins=4, range=[(-1, 1), (-1, 1)])
    np.testing.assert_allclose(counts / len(u), 1 / 16, atol=0.006)  # 16 cells of equal area
