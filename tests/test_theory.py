"""The theory's qualitative predictions, checked on real runs of the shipped presets."""

from __future__ import annotations

import numpy as np
import pytest

from gancli.errors import GancliError
from gancli.trainer import train_and_evaluate

from .conftest import compose_config
from .test_train import saved_state


def fitted_gaussian(run_dir, *overrides):
    """(mu, sigma) of the affine generator x = mu + sigma z after the mode_seeking preset."""
    cfg = compose_config("experiment=mode_seeking", "train.progress=false", "train.plots=false", *overrides)
    train_and_evaluate(cfg, run_dir)
    g = saved_state(cfg, run_dir)["g"]
    return float(np.asarray(g["mu"][...])[0]), float(np.exp(np.asarray(g["log_sigma"][...])[0]))


@pytest.mark.slow  # two 3,000-step runs: half a minute
def test_kl_covers_both_modes_and_reverse_kl_seeks_one(tmp_path):
    """THEORY.md section 5: KL(P||Q) punishes missing mass (one wide Gaussian over both modes at
    -2 and +2); KL(Q||P) punishes mass where P has none (a narrow Gaussian on one mode)."""
    mu_kl, sigma_kl = fitted_gaussian(tmp_path / "kl", "divergence=kl")
    mu_rev, sigma_rev = fitted_gaussian(tmp_path / "reverse_kl", "divergence=reverse_kl")
    assert abs(mu_kl) < 0.5 and sigma_kl > 1.5  # the moment-matching fit has sigma = sqrt(4.25) = 2.06
    assert abs(abs(mu_rev) - 2.0) < 0.2 and abs(sigma_rev - 0.5) < 0.1  # one mode: N(+-2, 0.5^2)
    assert sigma_kl > 2 * sigma_rev


def test_affine_generator_needs_a_latent_of_the_data_dimension(tmp_path):
    cfg = compose_config("experiment=mode_seeking", "prior.dim=2", "train.progress=false")
    with pytest.raises(GancliError, match="set prior.dim=1"):
        train_and_evaluate(cfg, tmp_path)
