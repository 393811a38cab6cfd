"""`gancli report <dir> [<dir> ...]`: the config its Hydra app parses from conf/report.yaml, and
what it prints: the markdown report, then where its three files went (the report itself is
stubbed: tests/commands/test_report.py builds real ones)."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from gancli.cli.apps import report as report_app
from gancli.errors import GancliError


def _composed(*overrides: str) -> dict:
    with initialize_config_module(config_module="gancli.conf", version_base="1.3"):
        return OmegaConf.to_container(compose(config_name="report", overrides=list(overrides)), resolve=True)


def test_the_directories_are_a_list_and_the_rest_defaults_to_none():
    cfg = report_app._parse(_composed("dirs=['a','b c']"))
    assert (cfg.dirs, cfg.out, cfg.metrics) == (["a", "b c"], None, None)


@pytest.mark.parametrize(("override", "fragment"), [
    ("dirs=a", "config key 'dirs' must be a list, e.g. dirs=[a,b], got 'a'"),
    ("metrics=recall", "config key 'metrics' must be a list"),
])
def test_a_single_value_where_a_list_goes_is_refused_with_an_example(override, fragment):
    raw = _composed("dirs=[a]", override)
    with pytest.raises(GancliError) as err:
        report_app._parse(raw)
    assert fragment in str(err.value)


def test_it_prints_the_report_then_where_its_files_went(monkeypatch, capsys, tmp_path):
    given = []
    written = {"markdown": "| run | recall |\n|---|---|\n| a | 0.5 |", "report": "r/report.md", "csv": "r/report.csv",
               "png": "r/report.png"}
    monkeypatch.setattr("gancli.commands.report.write_report", lambda cfg: given.append(cfg) or written)
    cfg = report_app._parse(_composed("dirs=[a]", "out=r"))
    report_app._report(cfg, tmp_path)
    assert given == [cfg]
    assert capsys.readouterr().out == ("| run | recall |\n|---|---|\n| a | 0.5 |\n"
                                       "(written to r/report.md, r/report.csv and r/report.png)\n")
