"""`gancli sample <run_dir>`: the config its Hydra app parses from conf/sample.yaml, the one JSON
line it prints, and where the samples go by default: beside the run, or each job's own directory in
a sweep (drawing is stubbed: tests/end_to_end/ draws from trained runs)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from hydra import compose, initialize_config_module
from hydra.types import RunMode
from omegaconf import OmegaConf

from gancli.cli.apps import sample as sample_app
from gancli.errors import GancliError


def _composed(*overrides: str) -> dict:
    with initialize_config_module(config_module="gancli.conf", version_base="1.3"):
        return OmegaConf.to_container(compose(config_name="sample", overrides=list(overrides)), resolve=True)


def test_a_run_dir_alone_draws_ten_thousand_samples_beside_the_run():
    cfg = sample_app._parse(_composed("run_dir=runs/a"))
    assert (cfg.run_dir, cfg.n, cfg.out, cfg.step, cfg.seed) == ("runs/a", 10000, None, None, None)


@pytest.mark.parametrize(("override", "fragment"), [
    ("n=0", "config key 'n' is 0; it must lie in [1, inf]"),
    ("seed=-1", "config key 'seed' is -1"),
])
def test_a_bad_value_is_refused(override, fragment):
    with pytest.raises(GancliError) as err:
        sample_app._parse(_composed("run_dir=a", override))
    assert fragment in str(err.value)


@pytest.mark.parametrize(("mode", "job_dir"), [(RunMode.RUN, False), (RunMode.MULTIRUN, True)])
def test_it_prints_what_was_written_as_one_json_line(monkeypatch, capsys, tmp_path, mode, job_dir):
    monkeypatch.setattr(sample_app, "HydraConfig", SimpleNamespace(get=lambda: SimpleNamespace(mode=mode)))
    given = []
    written = {"out": "samples.npy", "n": 3, "dim": 2}
    monkeypatch.setattr("gancli.commands.sample.sample_run",
                        lambda cfg, default_dir: given.append(default_dir) or written)
    sample_app._sample(sample_app._parse(_composed("run_dir=runs/a")), tmp_path)
    # A sweep's jobs (n=100,1000, say) each write into their own directory, not over each other.
    assert given == [tmp_path if job_dir else None]
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line) == written
