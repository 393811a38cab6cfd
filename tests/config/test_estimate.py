"""gancli.config.estimate: `gancli estimate`'s config reads P and Q as Gaussians or mixtures, and
refuses an inconsistent one with one line naming the keys to fix."""

from __future__ import annotations

import numpy as np
import pytest

from gancli.config.compose import compose_raw
from gancli.config.estimate import DistributionConfig, parse_estimate_config, to_mixture
from gancli.errors import GancliError

GAUSSIAN = {"weights": None, "means": None, "stds": None}
MIXTURE = {"mean": None, "std": None}


def raw_config(p=None, q=None, **rest):
    """`gancli estimate`'s config as conf/ composes it, P = N(0, 1) and Q = N(1, 1.5), with the keys
    given in place of its own (a distribution given replaces the whole distribution)."""
    raw = compose_raw("estimate")
    for name, given in (("p", p), ("q", q)):
        if given:
            raw[name] = {**GAUSSIAN, **MIXTURE, **given}
    for section, given in rest.items():
        raw[section] = {**raw[section], **given} if section in raw else given
    return raw


def distribution(**given):
    """A DistributionConfig with only the keys given set (the others None, as conf/ leaves them)."""
    return DistributionConfig(**{**GAUSSIAN, **MIXTURE, **given})


@pytest.mark.parametrize(
    ("p", "fragment"),
    [
        (distribution(), "either p.mean and p.std"),
        (distribution(mean=[0.0], std=[1.0], weights=[1.0]), "not both"),
        (distribution(mean=[0.0, 1.0], std=[1.0]), "one number per axis"),
        (distribution(weights=[0.5, 0.5], means=[[0.0]], stds=[[1.0]]), "one entry per component"),
        (distribution(weights=[1.0, 1.0], means=[[0.0], [1.0, 2.0]], stds=[[1.0], [1.0]]), "same number"),
    ],
)
def test_bad_distributions_get_one_line(p, fragment):
    with pytest.raises(GancliError, match=fragment):
        to_mixture(p, "p")


def test_p_and_q_must_share_dimensions():
    raw = raw_config(q={"mean": [0.0, 1.0], "std": [1.0, 1.0]})
    with pytest.raises(GancliError, match="p has 1 dimensions and q has 2"):
        parse_estimate_config(raw)


def test_estimate_reads_a_divergence_file_that_sets_training_keys():
    """gancli estimate trains a critic of its own: wgan_gp's train.d_steps is no key of its config."""
    raw = compose_raw("estimate", "divergence=wgan_gp")
    assert raw["train"]["d_steps"] == 5
    assert parse_estimate_config(raw).divergence.penalty_weight == 10.0


def test_a_gaussian_is_one_component_of_weight_one():
    mixture = to_mixture(distribution(mean=[0.5, -1.0], std=[2.0, 0.25]), "p")
    np.testing.assert_array_equal(mixture.weights, [1.0])
    np.testing.assert_array_equal(mixture.means, [[0.5, -1.0]])
    np.testing.assert_array_equal(mixture.stds, [[2.0, 0.25]])
    assert mixture.dim == 2


def test_mixture_weights_are_normalised_to_sum_to_one():
    # The user may give weights in any units: 1 and 3 are a quarter and three quarters.
    mixture = to_mixture(distribution(weights=[1.0, 3.0], means=[[-2.0], [2.0]], stds=[[0.5], [1.0]]), "q")
    np.testing.assert_allclose(mixture.weights, [0.25, 0.75])
    np.testing.assert_array_equal(mixture.means, [[-2.0], [2.0]])
    np.testing.assert_array_equal(mixture.stds, [[0.5], [1.0]])


@pytest.mark.parametrize(
    ("q", "fragment"),
    [
        (distribution(mean=[0.0]), "q.mean and q.std must both be given"),
        (distribution(mean=[], std=[]), "one number per axis"),
        (distribution(weights=[1.0], means=[[0.0]]), "a mixture needs q.weights, q.means and q.stds"),
        (distribution(weights=[], means=[], stds=[]), "one entry per component"),
    ],
)
def test_incomplete_distributions_name_the_keys_of_the_distribution_at_fault(q, fragment):
    with pytest.raises(GancliError) as err:
        to_mixture(q, "q")
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_the_shipped_estimate_config_parses_to_its_documented_defaults():
    cfg = parse_estimate_config(compose_raw("estimate"))
    assert cfg.divergence.name == "kl" and cfg.seed == 0
    assert (cfg.p.mean, cfg.p.std, cfg.q.mean, cfg.q.std) == ([0.0], [1.0], [1.0], [1.5])
    assert (cfg.estimate.steps, cfg.estimate.batch_size, cfg.estimate.hidden, cfg.estimate.depth) == (3000, 4096, 64, 2)


def test_gan_training_keys_are_dropped_but_an_unknown_key_is_refused():
    cfg = parse_estimate_config(raw_config(train={"d_steps": 5}, optim={"name": "adam"}, model={"hidden": 3}))
    assert cfg.estimate.steps == 3000  # the critic's own training, untouched by train.*
    with pytest.raises(GancliError, match="unknown config key 'trian'"):
        parse_estimate_config(raw_config(trian={"d_steps": 5}))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (raw_config(p={"mean": [0.0], "std": [0.0]}), "'p.std[0]' is 0.0; it must lie in (0, inf]"),
        (raw_config(estimate={"grid_points": 100}), "'estimate.grid_points' is 100; it must lie in [101, inf]"),
        (raw_config(estimate={"mc_samples": 999}), "'estimate.mc_samples' is 999; it must lie in [1000, inf]"),
        (raw_config(estimate={"activation": "swish"}), "'estimate.activation' is 'swish'; allowed values: relu"),
        (raw_config(q={"weights": [1.0, -1.0], "means": [[0.0], [1.0]], "stds": [[1.0], [1.0]]}),
         "'q.weights[1]' is -1.0; it must lie in (0, inf]"),
    ],
)
def test_values_out_of_range_name_the_key(raw, expected):
    with pytest.raises(GancliError) as err:
        parse_estimate_config(raw)
    assert expected in str(err.value) and "\n" not in str(err.value)
