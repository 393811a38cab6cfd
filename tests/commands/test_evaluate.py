"""gancli.commands.evaluate: `gancli eval`'s config, where its result goes, its table, its refusals,
and a samples file scored against the run's data. (Reproducing a run's logged numbers is checked
end to end in tests/end_to_end/test_run_commands.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gancli.commands.evaluate import MAX_SAMPLES, EvalConfig, eval_file, eval_run, format_table, parse_eval_config
from gancli.config.compose import compose_raw
from gancli.errors import GancliError
from gancli.runner.trainer import train_and_evaluate
from tests.helpers import SMOKE, command_config, compose_config

EVAL_SAMPLES = 256  # the smoke preset's; the samples files have as many rows, so every evaluation here has one shape
RING = np.array([[np.cos(a), np.sin(a)] for a in 2 * np.pi * np.arange(8) / 8], np.float32)  # the ring's 8 modes

MISSING = object()  # a key left out of the composed config


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A 4-step smoke run on the ring, with checkpoints at steps 2 and 4 (the smoke preset's programs
    otherwise, which the test session's compilation cache may hold already)."""
    path = tmp_path_factory.mktemp("run")
    train_and_evaluate(compose_config(*SMOKE, "train.steps=4", "train.log_every=2", "train.eval_every=2",
                                      "train.ckpt_every=2"), path)
    return path


def test_parsing_fills_the_unset_keys_with_none_meaning_the_runs_own():
    assert command_config("eval", run_dir="r") == EvalConfig(run_dir="r", n=None, step=None, seed=None, samples=None)


@pytest.mark.parametrize(("raw", "fragment"), [
    ({"run_dir": MISSING}, "config key 'run_dir' is missing"),
    ({"run_dir": "r", "seed": 2**31}, "'seed' is 2147483648; it must lie in [0, 2147483647]"),
    ({"run_dir": "r", "step": -1}, "'step' is -1; it must lie in [0, inf]"),
    ({"run_dir": "r", "nn": 10}, "unknown config key 'nn'"),
])
def test_bad_eval_configs_are_refused_with_one_line(raw, fragment):
    with pytest.raises(GancliError) as err:
        parse_eval_config({k: v for k, v in {**compose_raw("eval"), **raw}.items() if v is not MISSING})
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_the_result_goes_beside_the_run_beside_a_samples_file_or_into_out_dir(tmp_path):
    assert eval_file(command_config("eval", run_dir="runs/a")) == Path("runs/a/eval.json")
    # A samples file's score is about that file, not the run's generator: x.npy -> x.eval.json.
    assert eval_file(command_config("eval", run_dir="runs/a", samples="mine/x.npy")) == Path("mine/x.eval.json")
    assert eval_file(command_config("eval", run_dir="runs/a", samples="mine/x.npy"), tmp_path) == tmp_path / "eval.json"
    assert eval_file(command_config("eval", run_dir="runs/a"), tmp_path) == tmp_path / "eval.json"


def test_too_many_samples_are_refused_before_the_run_is_read(tmp_path):
    with pytest.raises(GancliError, match=f"n={MAX_SAMPLES + 1} is too many.*use n={MAX_SAMPLES} or fewer"):
        eval_run(command_config("eval", run_dir=str(tmp_path / "no-such-run"), n=MAX_SAMPLES + 1))


def test_the_table_aligns_values_after_the_longest_name_and_rounds_floats_to_4_digits():
    table = format_table({"n": 5000, "precision": 1234567.0, "ok": 0.5, "label": "gan", "x": None})
    assert table.splitlines() == ["n          5000", "precision  1.235e+06", "ok         0.5", "label      gan",
                                  "x          n/a"]
    assert format_table({"fid": np.float32(1 / 3), "kl": np.float64(2 / 3)}).splitlines() == ["fid  0.3333",
                                                                                              "kl   0.6667"]


def test_eval_defaults_to_the_newest_checkpoint_and_the_runs_sample_count(run_dir, tmp_path):
    result = eval_run(command_config("eval", run_dir=str(run_dir)), out_dir=tmp_path)
    assert (result["step"], result["n"], result["seed"]) == (4, EVAL_SAMPLES, 0)
    assert json.loads((tmp_path / "eval.json").read_text()) == result
    assert not (run_dir / "eval.json").exists()  # out_dir given: nothing written beside the run


def test_samples_on_the_modes_score_as_perfect_and_are_written_beside_their_file(run_dir, tmp_path):
    path = tmp_path / "modes.npy"
    np.save(path, np.tile(RING, (EVAL_SAMPLES // 8, 1)))  # every sample exactly on a mode, each as often
    result = eval_run(command_config("eval", run_dir=str(run_dir), samples=str(path)))
    assert (result["samples"], result["step"], result["n"]) == (str(path), 4, EVAL_SAMPLES)
    assert result["high_quality_fraction"] == 1.0 and result["modes_captured"] == 8
    assert result["mode_kl"] == pytest.approx(0.0, abs=1e-12)  # an even histogram over the modes
    assert json.loads((tmp_path / "modes.eval.json").read_text()) == result


def test_samples_far_from_every_mode_score_zero_and_n_takes_the_first_rows(run_dir, tmp_path):
    path = tmp_path / "far.npy"
    rows = np.arange(EVAL_SAMPLES + 6, dtype=np.float32)[:, None]
    np.save(path, np.full((EVAL_SAMPLES + 6, 2), 5.0, np.float32) + rows)
    result = eval_run(command_config("eval", run_dir=str(run_dir), samples=str(path), n=EVAL_SAMPLES, step=2))
    assert (result["n"], result["step"]) == (EVAL_SAMPLES, 2)
    assert result["high_quality_fraction"] == 0.0 and result["modes_captured"] == 0 and result["mode_kl"] is None


def test_a_samples_file_of_the_wrong_dimension_is_refused_naming_it(run_dir, tmp_path):
    path = tmp_path / "three.npy"
    np.save(path, np.zeros((10, 3)))
    with pytest.raises(GancliError, match=r"samples=.*three.npy has shape \(10, 3\); the run's data is 2-D"):
        eval_run(command_config("eval", run_dir=str(run_dir), samples=str(path)))
    assert not (tmp_path / "three.eval.json").exists()
