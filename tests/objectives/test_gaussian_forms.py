"""gancli.objectives.gaussian_forms, and the facts each divergence's record states with them: the
closed forms between two diagonal Gaussians against E_Q[f(p/q)] integrated here with NumPy, and
the moments each divergence and its estimate need."""

from __future__ import annotations

import numpy as np
import pytest

from gancli.data.densities import GaussianMixture
from gancli.objectives import gaussian_forms
from gancli.objectives.f_divergences import DIVERGENCES, alpha_divergence

CLOSED = sorted(name for name, div in DIVERGENCES.items() if div.gaussian_closed_form is not None)


def gaussian(mean, std):
    return GaussianMixture(np.ones(1), np.array([mean], float), np.array([std], float))


def integral_of_f(div, p, q):
    """E_Q[f(p/q)] in 1-D by the trapezoid rule, with the record's own f: on [-12, 12], where p/q
    stays within float32 for these P and Q and the mass left out is below e^-50."""
    x = np.linspace(-12.0, 12.0, 240001)
    dp, dq = np.exp(p.log_density(x[:, None])), np.exp(q.log_density(x[:, None]))
    return np.trapezoid(dq * np.asarray(div.f(dp / dq), np.float64), x)


def test_the_divergences_with_a_closed_form_are_the_five_of_theory_md_and_jeffrey():
    assert CLOSED == ["hellinger", "jeffrey", "kl", "neyman", "pearson", "reverse_kl"]


@pytest.mark.parametrize("name", CLOSED)
def test_each_closed_form_is_the_integral_of_its_f(name):
    div = DIVERGENCES[name]
    p, q = gaussian([0.3], [1.0]), gaussian([-0.4], [1.2])
    assert div.gaussian_closed_form(p, q) == pytest.approx(integral_of_f(div, p, q), rel=1e-5)  # f in float32


def test_the_reversed_forms_swap_p_and_q():
    p, q = gaussian([0.3, 1.0], [1.0, 0.8]), gaussian([-0.4, 0.0], [1.2, 1.1])
    assert gaussian_forms.reverse_kl_gaussians(p, q) == gaussian_forms.kl_gaussians(q, p)
    assert gaussian_forms.neyman_gaussians(p, q) == gaussian_forms.pearson_gaussians(q, p)
    assert gaussian_forms.jeffrey_gaussians(p, q) == pytest.approx(
        gaussian_forms.kl_gaussians(p, q) + gaussian_forms.kl_gaussians(q, p))


def test_a_divergence_of_a_gaussian_from_itself_is_zero():
    p = gaussian([0.5, -1.0], [0.7, 2.0])
    assert all(DIVERGENCES[name].gaussian_closed_form(p, p) == pytest.approx(0.0, abs=1e-12) for name in CLOSED)


def test_the_moments_follow_the_divergence_and_alphas_parameter():
    assert DIVERGENCES["pearson"].finite_if_moments == (2,) and DIVERGENCES["neyman"].finite_if_moments == (-1,)
    assert DIVERGENCES["kl"].finite_if_moments == () and DIVERGENCES["kl"].finite_variance_if_moments == (2,)
    three = alpha_divergence(3.0)
    assert three.finite_if_moments == (3.0,) and three.finite_variance_if_moments == (5.0, 6.0)
