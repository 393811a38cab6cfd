"""The theory's qualitative predictions, checked on real runs of the shipped presets."""

from __future__ import annotations

import numpy as np
import pytest

from gancli.errors import GancliError
from gancli.runner.trainer import train_and_evaluate
from tests.helpers import compose_config, saved_state


def fitted_gaussian(run_dir, *overrides):
    """(mu, sigma) of the affine generator x = mu + sigma z after the mode_seeking preset."""
    cfg = compose_config("experiment=mode_seeking", "train.progress=false", "train.plots=false", *overrides)
    train_and_evaluate(cfg, run_dir)
    g = saved_state(cfg, run_dir).g
    return float(np.asarray(g["mu"][...])[0]), float(np.exp(np.asarray(g["log_sigma"][...])[0]))


@pytest.mark.slow  # two 3,000-step runs: half a minute
def test_kl_fit_is_the_exact_kl_optimum_and_reverse_kl_is_narrower(tmp_path):
    """THEORY.md section 5, with the minimax form the preset sets (it descends the divergence named):
    KL(P||Q) over one Gaussian is minimised by matching moments, mu = 0 and sigma = sqrt(4.25) = 2.06;
    KL(Q||P) punishes mass where P has none, so its fit is narrower, at one of its own stationary
    points: the symmetric one (mu = 0, sigma = 1.736, by numerical integration) or one mode (N(+-2, 0.5^2))."""
    mu_kl, sigma_kl = fitted_gaussian(tmp_path / "kl", "divergence=kl")
    mu_rev, sigma_rev = fitted_gaussian(tmp_path / "reverse_kl", "divergence=reverse_kl")
    assert abs(mu_kl) < 0.1 and sigma_kl == pytest.approx(4.25**0.5, rel=0.03)
    if abs(mu_rev) < 0.3:
        assert sigma_rev == pytest.approx(1.736, rel=0.06)
    else:
        assert abs(abs(mu_rev) - 2.0) < 0.2 and abs(sigma_rev - 0.5) < 0.1
    assert sigma_rev < sigma_kl - 0.15


def test_affine_generator_needs_a_latent_of_the_data_dimension(tmp_path):
    cfg = compose_config("experiment=mode_seeking", "prior.dim=2", "train.progress=false")
    with pytest.raises(GancliError, match="set prior.dim=1"):
        train_and_evaluate(cfg, tmp_path)
