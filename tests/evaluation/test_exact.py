"""gancli.evaluation.exact: exact divergences and critic optima between known Gaussian mixtures,
held to integrals written here in numpy and to closed forms (the normal CDF, f(1), mass moved),
the method each input gets, and the refusals of infinite divergences with what would fix them.
The agreement of its own methods with one another is checked in tests/commands/test_estimate.py."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from gancli.data.densities import GaussianMixture
from gancli.errors import GancliError
from gancli.evaluation.exact import check_finite, estimator_variance_warning, exact_value
from gancli.objectives.critic_losses import CRITIC_LOSSES
from gancli.objectives.f_divergences import DIVERGENCES, get_divergence


def gaussian(mean, std):
    """A single Gaussian with a diagonal covariance."""
    return GaussianMixture(np.array([1.0]), np.asarray([mean], float), np.asarray([std], float))


def mixture(weights, means, stds):
    """One-dimensional components: means and stds one number each."""
    column = lambda values: np.asarray(values, float)[:, None]  # noqa: E731
    return GaussianMixture(np.asarray(weights, float), column(means), column(stds))


def _density(m, x):
    """m's density on the points x (n, dim), summed by hand over its components."""
    z = (x[:, None, :] - m.means[None]) / m.stds[None]
    per_axis = np.exp(-0.5 * z**2) / (np.sqrt(2 * np.pi) * m.stds[None])
    return (m.weights * per_axis.prod(axis=2)).sum(axis=1)


def _normal_cdf(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


# f of each closed form, typed again from the definitions D_f(P||Q) = int q f(p/q)
F = {
    "pearson": lambda u: (u - 1) ** 2,
    "neyman": lambda u: (1 - u) ** 2 / u,
    "hellinger": lambda u: (np.sqrt(u) - 1) ** 2,
    "jeffrey": lambda u: (u - 1) * np.log(u),
    "kl": lambda u: u * np.log(u),
    "reverse_kl": lambda u: -np.log(u),
}


@pytest.mark.parametrize("name", sorted(F))
def test_closed_forms_of_diagonal_gaussians_equal_the_integral_over_the_plane(name):
    p, q = gaussian([0.3, -0.2], [1.0, 0.8]), gaussian([-0.2, 0.1], [1.1, 0.9])
    axis = np.linspace(-12, 12, 1201)
    x = np.stack([a.ravel() for a in np.meshgrid(axis, axis, indexing="ij")], axis=1)
    dp, dq = _density(p, x), _density(q, x)
    integral = np.trapezoid(np.trapezoid((dq * F[name](dp / dq)).reshape(1201, 1201), axis), axis)
    value = exact_value(DIVERGENCES[name], p, q)
    assert value.method == "closed form" and value.value == pytest.approx(integral, rel=1e-5)


def test_total_variation_of_shifted_gaussians_is_the_normal_cdf_closed_form():
    # equal spread, means d apart: TV = 2 Phi(d / (2 sigma)) - 1, with no closed form in the module
    value = exact_value(DIVERGENCES["tv"], gaussian([0.0], [1.0]), gaussian([1.2], [1.0]))
    assert value.method == "numerical integration"
    assert value.value == pytest.approx(2 * _normal_cdf(0.6) - 1, abs=1e-7)


@pytest.mark.slow  # a million samples; tests/commands/test_estimate.py checks the 3-D case against its closed form
def test_above_two_dimensions_the_value_is_a_monte_carlo_average():
    # a million samples: the sampler the `gancli estimate` tests compile for 3-D Gaussians, reused
    # three axes, the means sqrt(0.36 + 0.64 + 0) = 1 apart in units of the common std 1
    p, q = gaussian([0.0, 0.0, 0.0], [1.0, 1.0, 1.0]), gaussian([0.6, 0.8, 0.0], [1.0, 1.0, 1.0])
    value = exact_value(DIVERGENCES["tv"], p, q, mc_samples=1_000_000, seed=3)
    assert value.method == "monte carlo"
    assert value.value == pytest.approx(2 * _normal_cdf(0.5) - 1, abs=0.005)
    again = exact_value(DIVERGENCES["tv"], p, q, mc_samples=1_000_000, seed=3)
    other = exact_value(DIVERGENCES["tv"], p, q, mc_samples=1_000_000, seed=4)
    assert again == value and other.value != value.value  # the seed alone decides the samples


SAME = mixture([0.3, 0.7], [-1.0, 2.0], [0.5, 1.0])  # a mixture: no closed form applies


@pytest.mark.parametrize("name", sorted(DIVERGENCES))
def test_every_f_divergence_of_a_distribution_from_itself_is_f_of_1(name):
    # p/q = 1 everywhere: D_f(P||P) = f(1), 0 for every f but the GAN's, whose f(1) = -2 log 2
    expected = -math.log(4) if name == "gan" else 0.0
    assert exact_value(DIVERGENCES[name], SAME, SAME).value == pytest.approx(expected, abs=1e-7)


@pytest.mark.parametrize(("name", "expected"), [("hinge", -2.0), ("least_squares", -0.25), ("wgan_gp", 0.0)])
def test_every_critic_loss_of_a_distribution_from_itself_is_its_optimum_at_p_equal_q(name, expected):
    # hinge: 2 TV - 2 with TV = 0; least squares: -int p^2 / (2 * 2p) = -1/4; nothing to move for W1
    assert exact_value(CRITIC_LOSSES[name], SAME, SAME).value == pytest.approx(expected, abs=1e-7)


def test_the_least_squares_optimum_is_minus_half_the_integral_of_pq_over_p_plus_q():
    p, q = mixture([0.5, 0.5], [-1.0, 1.0], [0.4, 0.4]), gaussian([0.5], [1.0])
    x = np.linspace(-15, 15, 300001)[:, None]
    dp, dq = _density(p, x), _density(q, x)
    expected = -0.5 * np.trapezoid(dp * dq / (dp + dq), x[:, 0])
    assert exact_value(CRITIC_LOSSES["least_squares"], p, q).value == pytest.approx(expected, rel=1e-6)


def test_the_wasserstein_distance_of_mixtures_is_the_mass_moved_times_the_distance():
    # the same two bumps with their weights swapped: 0.4 of the mass moves from +1 to -1
    p, q = mixture([0.3, 0.7], [-1.0, 1.0], [0.1, 0.1]), mixture([0.7, 0.3], [-1.0, 1.0], [0.1, 0.1])
    assert exact_value(CRITIC_LOSSES["wgan_gp"], p, q).value == pytest.approx(0.4 * 2.0, rel=1e-6)


# int p^c q^(1-c) for Gaussians is finite iff c / s_p^2 + (1 - c) / s_q^2 > 0: (std_p, std_q) just
# past that edge, then just inside it
@pytest.mark.parametrize(("divergence", "infinite", "finite", "need"), [
    (get_divergence("pearson"), (1.0, 0.70), (1.0, 0.72), "2 std_q^2 > 1 std_p^2"),  # c = 2: 2 * 0.49 < 1
    (get_divergence("neyman"), (0.70, 1.0), (0.72, 1.0), "2 std_p^2 > 1 std_q^2"),  # c = -1
    (get_divergence("alpha", alpha=3.0), (1.0, 0.81), (1.0, 0.82), "3 std_q^2 > 2 std_p^2"),  # 3 * 0.6561 < 2
    (get_divergence("alpha", alpha=-1.0), (0.70, 1.0), (0.72, 1.0), "2 std_p^2 > 1 std_q^2"),
])
def test_an_infinite_divergence_is_refused_with_the_condition_that_would_make_it_finite(divergence, infinite, finite,
                                                                                         need):
    (p_std, q_std), (p_ok, q_ok) = infinite, finite
    message = f"is infinite for these P and Q: it needs {need} on every axis"
    with pytest.raises(GancliError, match=re.escape(message)) as err:
        exact_value(divergence, gaussian([0.0], [p_std]), gaussian([0.3], [q_std]))
    assert str(err.value).startswith(divergence.estimates)  # names the divergence it refuses
    check_finite(divergence, gaussian([0.0], [p_ok]), gaussian([0.3], [q_ok]))


def test_a_mixture_is_finite_only_if_each_of_its_components_is_covered():
    pearson = DIVERGENCES["pearson"]  # each component of P needs one of Q with 2 std_q^2 > std_p^2
    p = mixture([0.5, 0.5], [0.0, 1.0], [0.5, 1.0])
    with pytest.raises(GancliError, match="is infinite"):
        check_finite(pearson, p, mixture([1.0], [0.0], [0.6]))  # covers the narrow component, not the wide one
    check_finite(pearson, p, mixture([0.5, 0.5], [0.0, 3.0], [0.6, 1.0]))  # a wide component covers it
    # on every axis of one component: wide on one axis only is not enough
    p2 = GaussianMixture(np.array([1.0]), np.zeros((1, 2)), np.ones((1, 2)))
    with pytest.raises(GancliError, match="is infinite"):
        check_finite(pearson, p2, GaussianMixture(np.array([1.0]), np.zeros((1, 2)), np.array([[1.0, 0.6]])))


def test_kl_is_never_refused_but_its_estimate_is_warned_about_when_its_variance_is_infinite():
    kl, p = DIVERGENCES["kl"], gaussian([0.0], [1.0])
    narrow = gaussian([0.0], [0.6])  # E_P[(p/q)^2 ...] needs int p^2 / q finite: 2 * 0.36 < 1, it is not
    assert exact_value(kl, p, narrow).value == pytest.approx(math.log(0.6) + 1 / (2 * 0.36) - 0.5)
    warning = estimator_variance_warning(kl, p, narrow)
    assert "KL(P||Q)" in warning and "c = 2" in warning and "infinite variance" in warning
    assert estimator_variance_warning(kl, p, gaussian([0.0], [0.75])) is None  # 2 * 0.5625 > 1
    assert "c = -1" in estimator_variance_warning(DIVERGENCES["reverse_kl"], narrow, p)  # the mirror case


def test_densities_that_barely_overlap_are_refused_not_integrated():
    p, q = mixture([0.5, 0.5], [0.0, 0.5], [0.1, 0.1]), mixture([0.5, 0.5], [30.0, 30.5], [0.1, 0.1])
    with pytest.raises(GancliError, match="P and Q barely overlap"):
        exact_value(DIVERGENCES["kl"], p, q)
