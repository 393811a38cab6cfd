"""`gancli train`'s Hydra app around the trainer: the value a run returns to sweepers, a finished
job of a sweep run again skipped, the processes of a run told to stop however it ends, and the
record each seed of a group gets (the trainer itself is stubbed: it runs in tests/runner/ and
tests/end_to_end/)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import yaml
from hydra.types import RunMode

from gancli.cli.apps import train as train_app
from gancli.cli.apps.resume import train_arguments
from gancli.config.train import parse_config
from gancli.errors import GancliError, TrainingError
from gancli.runner.seeds import seed_runs


def _in_mode(monkeypatch, mode=RunMode.RUN, **hydra):
    monkeypatch.setattr(train_app, "HydraConfig", SimpleNamespace(get=lambda: SimpleNamespace(mode=mode, **hydra)))


def _cfg(objective="high_quality_fraction", num_seeds=1, steps=40):
    return SimpleNamespace(train=SimpleNamespace(objective=objective, num_seeds=num_seeds, steps=steps))


class Calls(list):
    """The calls of the stubbed trainer; `summary` is what it returns."""

    summary = {"step": 40, "high_quality_fraction": 0.75, "mode_kl": None}


@pytest.fixture
def trainer(monkeypatch):
    """train_and_evaluate recorded instead of run: returns its calls."""
    calls = Calls()

    def train_and_evaluate(cfg, run_dir, same_run_only=False, on_start=None):
        calls.append({"run_dir": run_dir, "same_run_only": same_run_only, "on_start": on_start})
        return calls.summary

    monkeypatch.setattr("gancli.runner.trainer.train_and_evaluate", train_and_evaluate)
    return calls


def test_a_run_returns_its_objective_to_the_sweeper(monkeypatch, trainer, tmp_path):
    _in_mode(monkeypatch)
    assert train_app._train_here(_cfg(), tmp_path) == 0.75
    # Outside a sweep a run dir may hold another config's run: the trainer says what differs.
    assert trainer == [{"run_dir": tmp_path, "same_run_only": False, "on_start": None}]


def test_an_objective_the_run_could_not_compute_is_nan(monkeypatch, trainer, tmp_path):
    _in_mode(monkeypatch)
    value = train_app._train_here(_cfg(objective="mode_kl"), tmp_path)  # no high-quality sample: no KL
    assert math.isnan(value)


def test_a_finished_job_of_a_sweep_run_again_is_skipped(monkeypatch, trainer, tmp_path, caplog):
    _in_mode(monkeypatch, RunMode.MULTIRUN)
    monkeypatch.setattr(train_app, "_finished", lambda cfg, run_dir: {"high_quality_fraction": 0.5})
    with caplog.at_level("INFO", logger=train_app.__name__):
        assert train_app._train_here(_cfg(), tmp_path) == 0.5  # its own summary, not retrained
    assert trainer == []
    assert f"{tmp_path} already finished at step 40 with this config: skipped" in caplog.text


def test_an_unfinished_job_of_a_sweep_resumes_only_its_own_config(monkeypatch, trainer, tmp_path):
    _in_mode(monkeypatch, RunMode.MULTIRUN)
    monkeypatch.setattr(train_app, "_finished", lambda cfg, run_dir: None)
    train_app._train_here(_cfg(num_seeds=3), tmp_path)
    # Same job number, other values: another config's run, refused rather than mixed in.
    assert trainer[0]["same_run_only"] is True
    assert trainer[0]["on_start"] is train_app._record_seed_runs  # a group's seeds each get a record


@pytest.fixture
def processes(monkeypatch):
    """The run's processes stubbed: returns the orders this one gave (end(status)) and what it did."""
    done = []
    monkeypatch.setattr("gancli.runner.distributed.initialize", lambda cfg: done.append("joined"))
    monkeypatch.setattr("gancli.runner.distributed.end", lambda status: done.append(("end", status)))
    monkeypatch.setattr("gancli.runner.follower.follow_run", lambda cfg, run_dir: done.append("followed"))
    return done


def _primary(monkeypatch, primary: bool) -> None:
    monkeypatch.setattr("gancli.runner.distributed.is_primary", lambda: primary)


def test_the_primary_trains_then_tells_the_others_to_stop(monkeypatch, processes, tmp_path):
    _primary(monkeypatch, True)
    monkeypatch.setattr(train_app, "_train_here", lambda cfg, run_dir: processes.append("trained") or 0.5)
    assert train_app._train(SimpleNamespace(distributed=None), tmp_path) == 0.5
    assert processes == ["joined", "trained", ("end", 0)]


@pytest.mark.parametrize(("err", "status"), [(TrainingError("non-finite loss"), 1), (GancliError("refused"), 2),
                                             (SystemExit(130), 130), (KeyboardInterrupt(), 1)])
def test_a_run_that_fails_tells_the_others_its_exit_status_and_fails_too(monkeypatch, processes, tmp_path, err, status):
    _primary(monkeypatch, True)

    def fails(cfg, run_dir):
        raise err

    monkeypatch.setattr(train_app, "_train_here", fails)
    with pytest.raises(type(err)):
        train_app._train(SimpleNamespace(distributed=None), tmp_path)
    assert processes == ["joined", ("end", status)]  # the followers exit as this process does


def test_another_process_of_the_run_follows_and_returns_no_value(monkeypatch, processes, tmp_path):
    _primary(monkeypatch, False)
    monkeypatch.setattr(train_app, "_train_here", lambda cfg, run_dir: pytest.fail("a follower trained"))
    assert math.isnan(train_app._train(SimpleNamespace(distributed=None), tmp_path))
    assert processes == ["joined", "followed"]  # the primary gives the orders, END included


@pytest.fixture
def group(smoke_config, tmp_path):
    """A group of two seeds (2 and 3) of the smoke preset: (its config, the seeds' runs)."""
    cfg = smoke_config("seed=2", "train.num_seeds=2")
    runs = [SimpleNamespace(cfg=seed_cfg, run_dir=seed_dir) for seed_cfg, seed_dir in seed_runs(cfg, tmp_path)]
    return cfg, runs


def test_a_group_has_finished_when_every_seed_has_and_returns_their_mean(monkeypatch, group, tmp_path):
    cfg, _ = group
    summaries = {2: {"step": 40, "recall": 0.25}, 3: {"step": 40, "recall": 0.75}}
    seen = []
    monkeypatch.setattr("gancli.run_dir.reader.finished_summary",
                        lambda seed_cfg, run_dir: seen.append(run_dir) or summaries.get(seed_cfg.seed))
    assert train_app._finished(cfg, tmp_path) == {"num_seeds": 2, "step": 40, "recall": 0.5}
    assert seen == [tmp_path / "seed_2", tmp_path / "seed_3"]
    del summaries[3]
    assert train_app._finished(cfg, tmp_path) is None  # seed 3 is left to train


def test_each_seed_of_a_group_gets_the_record_of_a_run_trained_alone(monkeypatch, group, tmp_path):
    cfg, runs = group
    task = ["experiment=smoke", "seed=2", "train.num_seeds=2", "train.progress=false"]
    _in_mode(monkeypatch, overrides=SimpleNamespace(task=task), output_subdir=".hydra",
             runtime=SimpleNamespace(output_dir=str(tmp_path)))
    train_app._record_seed_runs(runs)  # no group record: each seed's config is the whole config
    for seed, run in zip((2, 3), runs, strict=True):
        overrides = yaml.safe_load((run.run_dir / ".hydra" / "overrides.yaml").read_text())
        assert overrides == ["experiment=smoke", "train.progress=false", f"seed={seed}", "train.num_seeds=1"]
        config = yaml.safe_load((run.run_dir / ".hydra" / "config.yaml").read_text())
        assert parse_config(config) == run.cfg  # reads back as the seed's own run
    # `gancli resume <group>/seed_3` continues seed 3 alone.
    assert train_arguments([str(runs[1].run_dir)])[:-1] == ["experiment=smoke", "train.progress=false", "seed=3",
                                                           "train.num_seeds=1"]


def test_a_seeds_config_is_the_groups_hydra_record_with_its_own_seed(monkeypatch, group, tmp_path):
    _, runs = group
    (tmp_path / ".hydra").mkdir()
    recorded = {"model": {"name": "mlp"}, "seed": 2, "train": {"steps": 40, "num_seeds": 2}}
    (tmp_path / ".hydra" / "config.yaml").write_text(yaml.safe_dump(recorded, sort_keys=False))
    _in_mode(monkeypatch, overrides=SimpleNamespace(task=[]), output_subdir=".hydra",
             runtime=SimpleNamespace(output_dir=str(tmp_path)))
    train_app._record_seed_runs(runs)
    text = (runs[1].run_dir / ".hydra" / "config.yaml").read_text()
    assert yaml.safe_load(text) == {"model": {"name": "mlp"}, "seed": 3, "train": {"steps": 40, "num_seeds": 1}}
    assert text.index("model") < text.index("seed") < text.index("train")  # in the record's order
