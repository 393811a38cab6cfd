"""`gancli eval <run_dir>`: the config its Hydra app parses from conf/eval.yaml, the table it
prints, and where the result goes: beside the run, or each job's own directory in a sweep (the
evaluation itself is stubbed: tests/end_to_end/ runs it)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from hydra import compose, initialize_config_module
from hydra.types import RunMode
from omegaconf import OmegaConf

from gancli.cli.apps import eval as eval_app
from gancli.errors import GancliError


def _composed(*overrides: str) -> dict:
    with initialize_config_module(config_module="gancli.conf", version_base="1.3"):
        return OmegaConf.to_container(compose(config_name="eval", overrides=list(overrides)), resolve=True)


def test_a_run_dir_alone_evaluates_as_the_run_did():
    cfg = eval_app._parse(_composed("run_dir='runs/a b'"))
    # None: the run's own sample count, newest checkpoint and evaluation noise.
    assert (cfg.run_dir, cfg.n, cfg.step, cfg.seed, cfg.samples) == ("runs/a b", None, None, None, None)


def test_too_few_samples_are_refused():
    with pytest.raises(GancliError, match="config key 'n' is 1; it must lie in"):
        eval_app._parse(_composed("run_dir=a", "n=1"))


@pytest.fixture
def stubbed_eval(monkeypatch):
    """eval_run recorded instead of run: a function mode -> the out_dirs it was given."""
    out_dirs: list[Path | None] = []
    result = {"step": 40, "n": 100, "recall": 0.25}

    def in_mode(mode):
        monkeypatch.setattr(eval_app, "HydraConfig", SimpleNamespace(get=lambda: SimpleNamespace(mode=mode)))
        monkeypatch.setattr("gancli.commands.evaluate.eval_run",
                            lambda cfg, out_dir: out_dirs.append(out_dir) or result)
        return out_dirs

    return in_mode


def test_it_prints_the_metrics_as_a_table_and_where_they_went(stubbed_eval, capsys, tmp_path):
    out_dirs = stubbed_eval(RunMode.RUN)
    eval_app._eval(eval_app._parse(_composed(f"run_dir={tmp_path / 'run'}")), tmp_path / "cwd")
    assert out_dirs == [None]  # beside the run
    assert capsys.readouterr().out == ("step    40\n"
                                       "n       100\n"
                                       "recall  0.25\n"
                                       f"(written to {tmp_path / 'run' / 'eval.json'})\n")


def test_each_job_of_a_sweep_writes_into_its_own_directory(stubbed_eval, capsys, tmp_path):
    out_dirs = stubbed_eval(RunMode.MULTIRUN)
    eval_app._eval(eval_app._parse(_composed(f"run_dir={tmp_path / 'run'}")), tmp_path / "sweep" / "0")
    assert out_dirs == [tmp_path / "sweep" / "0"]  # jobs evaluating one run do not overwrite each other
    assert capsys.readouterr().out.endswith(f"(written to {tmp_path / 'sweep' / '0' / 'eval.json'})\n")
