"""`gancli estimate`: the config its Hydra app parses from conf/estimate.yaml, and the one JSON
line it prints and the value it returns to sweepers (the critic's training is stubbed: it runs
for real in tests/commands/test_estimate.py and tests/end_to_end/)."""

from __future__ import annotations

import json
import logging

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from gancli.cli.apps import estimate as estimate_app
from gancli.errors import GancliError


def _composed(*overrides: str) -> dict:
    with initialize_config_module(config_module="gancli.conf", version_base="1.3"):
        return OmegaConf.to_container(compose(config_name="estimate", overrides=list(overrides)), resolve=True)


def test_the_default_command_line_is_kl_between_two_gaussians():
    cfg = estimate_app._parse(_composed())
    assert cfg.divergence.name == "kl"
    assert (cfg.p.mean, cfg.p.std, cfg.q.mean, cfg.q.std) == ([0.0], [1.0], [1.0], [1.5])


def test_how_a_divergence_file_trains_a_gan_is_not_the_estimators():
    raw = _composed("divergence=wgan_gp", "estimate.steps=7")
    assert "train" in raw  # wgan_gp's own train.d_steps=5: the estimator has estimate.* instead
    cfg = estimate_app._parse(raw)
    assert cfg.divergence.penalty == "gp" and cfg.estimate.steps == 7


def test_distributions_of_different_dimensions_are_refused():
    with pytest.raises(GancliError, match="p has 1 dimensions and q has 2; give both the same number of axes"):
        estimate_app._parse(_composed("q.mean=[0,0]", "q.std=[1,1]"))


def test_it_prints_one_json_line_and_returns_the_estimate(monkeypatch, tmp_path, capsys, caplog):
    result = {"divergence": "kl", "estimate": 0.34, "exact": 0.35, "method": "closed form"}
    calls = []
    monkeypatch.setattr("gancli.commands.estimate.estimate_divergence",
                        lambda cfg, run_dir: calls.append((cfg, run_dir)) or result)
    with caplog.at_level(logging.INFO, logger=estimate_app.__name__):
        value = estimate_app._estimate("the config", tmp_path)
    assert calls == [("the config", tmp_path)]
    assert value == 0.34 and type(value) is float  # what a sweeper optimises
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line) == result
    assert f"wrote {tmp_path / 'estimate.json'}" in caplog.text
