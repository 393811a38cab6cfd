"""gancli.data.densities: a Gaussian mixture samples with its weights, means and per-axis stds, and its
log-density (NumPy and JAX) is the mixture's, checked against densities written out by hand here."""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest

from gancli.config.compose import group_config
from gancli.data.densities import GaussianMixture
from gancli.data.toy import make_dataset

# Two 2-D components with unequal weights and a different std on each axis.
MIXTURE = GaussianMixture(np.array([0.3, 0.7]), np.array([[-4.0, 1.0], [8.0, -2.0]]),
                          np.array([[0.5, 2.0], [1.5, 0.25]]))


def normal_pdf(x, mean, std):
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def mixture_pdf(x):
    """MIXTURE's density: the weighted sum over components of the product over axes of 1-D normals."""
    return sum(w * normal_pdf(x[:, 0], m[0], s[0]) * normal_pdf(x[:, 1], m[1], s[1])
               for w, m, s in zip(MIXTURE.weights, MIXTURE.means, MIXTURE.stds, strict=True))


def test_sampling_a_weighted_mixture_follows_its_weights():
    m = GaussianMixture(np.array([0.8, 0.2]), np.array([[-5.0], [5.0]]), np.array([[0.1], [0.1]]))
    x = np.asarray(m.sample(jax.random.key(0), 50000))
    assert (x[:, 0] < 0).mean() == pytest.approx(0.8, abs=0.01)


def test_log_density_matches_a_direct_mixture_sum():
    data = make_dataset(group_config("data", "ring", std=0.3))
    x = np.array([[0.0, 0.0], [1.0, 0.0], [0.3, -0.8]])
    direct = np.mean([np.exp(-((x - c) ** 2).sum(1) / (2 * 0.09)) / (2 * np.pi * 0.09) for c in data.means], axis=0)
    np.testing.assert_allclose(data.log_density(x), np.log(direct), rtol=1e-6)


def test_isotropic_has_equal_weights_and_the_same_std_everywhere():
    centres = np.array([[1.0, -3.0], [2.0, 0.5], [0.0, 0.0]])
    m = GaussianMixture.isotropic(centres, 0.2)
    np.testing.assert_allclose(m.weights, [1 / 3] * 3)
    np.testing.assert_allclose(m.stds, np.full((3, 2), 0.2), rtol=1e-6)
    np.testing.assert_array_equal(m.means, centres)
    assert m.dim == 2
    assert m.extent == 3.0  # the largest |coordinate| of a mean, here a negative one


def test_log_density_of_weighted_anisotropic_components():
    x = np.array([[-4.0, 1.0], [8.0, -2.0], [2.0, -0.5], [-3.2, 3.1], [6.5, -1.9]])
    np.testing.assert_allclose(MIXTURE.log_density(x), np.log(mixture_pdf(x)), rtol=1e-10)


def test_log_density_stays_finite_far_from_every_mode():
    """50 stds from the nearest mode each component's density underflows to 0; the log-density
    is still the nearest component's, the other being e^-102 times smaller."""
    m = GaussianMixture(np.array([0.5, 0.5]), np.array([[0.0], [2.0]]), np.array([[1.0], [1.0]]))
    x = np.array([[52.0]])
    nearest = math.log(0.5) - 0.5 * 50.0**2 - 0.5 * math.log(2 * math.pi)
    assert normal_pdf(52.0, 2.0, 1.0) == 0.0  # the naive sum would give log 0
    np.testing.assert_allclose(m.log_density(x), [nearest], rtol=1e-12)


def test_the_density_integrates_to_one():
    m = GaussianMixture(np.array([0.25, 0.75]), np.array([[-1.0], [3.0]]), np.array([[0.3], [2.0]]))
    grid = np.linspace(-20.0, 25.0, 200001)
    assert np.trapezoid(np.exp(m.log_density(grid[:, None])), grid) == pytest.approx(1.0, abs=1e-8)


def test_log_density_jax_agrees_with_the_float64_one():
    x = np.array([[-4.0, 1.0], [8.0, -2.0], [2.0, -0.5], [10.0, 10.0]], dtype=np.float32)
    jitted = jax.jit(MIXTURE.log_density_jax)  # as a training step uses it (and one compile, not one per op)
    np.testing.assert_allclose(np.asarray(jitted(x)), MIXTURE.log_density(x), rtol=1e-5)


def test_samples_have_each_components_mean_and_per_axis_std():
    x = np.asarray(jax.jit(MIXTURE.sample, static_argnums=1)(jax.random.key(1), 40000))  # one compile, not one per op
    assert x.shape == (40000, 2)
    first = x[:, 0] < 0.0  # 8 and 5.3 stds from the components at x = -4 and x = 8: no sample crosses
    assert first.mean() == pytest.approx(0.3, abs=0.01)
    for rows, k in ((x[first], 0), (x[~first], 1)):
        np.testing.assert_allclose(rows.mean(0), MIXTURE.means[k], atol=0.05)
        np.testing.assert_allclose(rows.std(0), MIXTURE.stds[k], rtol=0.03)
