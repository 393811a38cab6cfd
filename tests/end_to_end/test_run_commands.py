"""`gancli sample` and `gancli eval`: they read a run's checkpoints, reproduce its numbers, and
leave the run as it was."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from PIL import Image

from gancli.commands.evaluate import MAX_SAMPLES, eval_run, format_table
from gancli.commands.sample import sample_run
from gancli.errors import GancliError
from gancli.evaluation.train_state_eval import SAMPLE_BATCH, Evaluator
from gancli.run_dir.files import MetricsLog
from gancli.run_dir.reader import load_run
from gancli.runner.trainer import train_and_evaluate
from gancli.training.keys import evaluation_keys
from tests.helpers import PLOTS, SMOKE, assert_one_line_error, command_config, compose_config, gancli


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A finished smoke run (checkpoints and evaluations at steps 20 and 40)."""
    path = tmp_path_factory.mktemp("run")
    train_and_evaluate(compose_config(*SMOKE, PLOTS), path)
    return path


def test_eval_with_the_run_defaults_reproduces_its_final_evaluation(run_dir):
    result = eval_run(command_config("eval", run_dir=str(run_dir)))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert result["step"] == 40 and result["n"] == 256 and result["seed"] == 0
    for name, value in result.items():
        if name not in ("n", "seed"):
            assert summary[name] == value, name
    assert json.loads((run_dir / "eval.json").read_text()) == result


def test_eval_of_an_older_checkpoint_reproduces_what_was_logged_then(run_dir):
    result = eval_run(command_config("eval", run_dir=str(run_dir), step=20))
    (logged,) = [r for r in MetricsLog(run_dir / "metrics.jsonl").read() if r["step"] == 20]
    assert result["step"] == 20
    assert result["high_quality_fraction"] == logged["high_quality_fraction"]
    assert result["recall"] == logged["recall"] and result["critic_estimate"] == logged["critic_estimate"]


@pytest.mark.slow
def test_eval_with_another_seed_and_size_draws_other_samples(run_dir):
    result = eval_run(command_config("eval", run_dir=str(run_dir), n=300, seed=7))
    default = eval_run(command_config("eval", run_dir=str(run_dir)))
    assert result["n"] == 300 and result["seed"] == 7
    assert result["recall"] != default["recall"]


def test_eval_table_has_a_line_per_metric():
    table = format_table({"step": 40, "high_quality_fraction": 0.123456, "mode_kl": None})
    assert table.splitlines() == ["step                   40", "high_quality_fraction  0.1235",
                                  "mode_kl                n/a"]


def test_samples_are_the_ones_the_evaluation_scored(run_dir):
    out = run_dir.parent / "drawn.npy"
    written = sample_run(command_config("sample", run_dir=str(run_dir), n=256, out=str(out)))
    samples = np.load(out)
    assert samples.shape == (256, 2) and samples.dtype == np.float32
    assert written == {"out": str(out), "png": str(out.with_suffix(".png")), "n": 256, "shape": [256, 2],
                       "step": 40, "seed": 0}
    run = load_run(run_dir)
    _, scored, _ = Evaluator(run.problem, 256).evaluate(run.state, 40, evaluation_keys(0))
    np.testing.assert_array_equal(samples, scored)
    assert Image.open(out.with_suffix(".png")).size[0] >= 400


@pytest.mark.slow
def test_eval_of_a_samples_file_scores_it_as_the_run_scored_its_own(run_dir):
    """The samples `gancli sample` draws with the run's defaults, scored from their file, give
    the run's final numbers: same metrics, same real samples, same critic."""
    out = run_dir.parent / "scored.npy"
    sample_run(command_config("sample", run_dir=str(run_dir), n=256, out=str(out)))
    result = eval_run(command_config("eval", run_dir=str(run_dir), samples=str(out)))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert result["samples"] == str(out) and result["n"] == 256
    for name in ("high_quality_fraction", "precision", "recall", "density", "coverage", "critic_estimate"):
        assert result[name] == summary[name], name
    assert json.loads(out.with_suffix(".eval.json").read_text()) == result  # beside the file, not the run
    assert eval_run(command_config("eval", run_dir=str(run_dir), samples=str(out), n=100))["n"] == 100  # the first n


@pytest.mark.slow
def test_many_samples_are_drawn_in_batches(run_dir):
    out = run_dir.parent / "many.npy"
    sample_run(command_config("sample", run_dir=str(run_dir), n=SAMPLE_BATCH + 10, out=str(out), step=20, seed=3))
    samples = np.load(out)
    assert samples.shape == (SAMPLE_BATCH + 10, 2) and np.isfinite(samples).all()
    assert not np.array_equal(samples[:10], samples[SAMPLE_BATCH: SAMPLE_BATCH + 10])  # batches differ


@pytest.mark.slow
def test_sample_defaults_to_the_run_directory(run_dir):
    sample_run(command_config("sample", run_dir=str(run_dir), n=10))
    assert np.load(run_dir / "samples.npy").shape == (10, 2) and (run_dir / "samples.png").exists()


def test_reading_a_run_changes_nothing_in_it(run_dir):
    """Read-only checkpoints: even a half-written save of a run still training is left alone."""
    leftover = run_dir / "checkpoints" / "60.orbax-checkpoint-tmp-123"
    leftover.mkdir()
    try:
        before = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*"))
        run = load_run(run_dir)
        assert run.step == 40 and run.cfg.seed == 0
        assert sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*")) == before
    finally:
        leftover.rmdir()


@pytest.mark.slow  # a sweep of subprocesses
def test_eval_sweeps_write_into_their_job_directories(env, run_dir, tmp_path):
    sweep = tmp_path / "sweep"
    result = gancli(env, "eval", "-m", str(run_dir), "n=50,60", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [json.loads((sweep / job / "eval.json").read_text())["n"] for job in ("0", "1")] == [50, 60]


def test_eval_needs_enough_samples_for_the_neighbour_metrics():
    with pytest.raises(GancliError, match="'n' is 5"):
        command_config("eval", run_dir="x", n=5)


def test_sample_will_not_overwrite_the_runs_own_files(run_dir):
    with pytest.raises(GancliError, match="inside the run's plots/ folder"):
        sample_run(command_config("sample", run_dir=str(run_dir), out=str(run_dir / "plots" / "samples_0000040.npy")))


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"step": 7}, "no checkpoint at step 7; it has step 20, 40"),
    ({"n": MAX_SAMPLES + 1}, f"use n={MAX_SAMPLES} or fewer"),
])
def test_eval_refuses_bad_requests(run_dir, kwargs, fragment):
    with pytest.raises(GancliError, match=fragment):
        eval_run(command_config("eval", run_dir=str(run_dir), **kwargs))


def test_reading_refuses_what_is_not_a_run(tmp_path):
    with pytest.raises(GancliError, match="does not exist"):
        load_run(tmp_path / "nope")
    with pytest.raises(GancliError, match="has no checkpoints/"):
        load_run(tmp_path)
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(GancliError, match="no complete checkpoint yet"):
        load_run(tmp_path)


def test_sample_refuses_a_bad_out(run_dir):
    with pytest.raises(GancliError, match="must name a .npy file"):
        sample_run(command_config("sample", run_dir=str(run_dir), out="x.csv"))
    with pytest.raises(GancliError, match="does not exist"):
        sample_run(command_config("sample", run_dir=str(run_dir), out=str(run_dir / "no" / "x.npy")))


@pytest.mark.slow  # subprocesses
def test_eval_and_sample_from_the_command_line(env, run_dir, tmp_path):
    record = run_dir / ".hydra" / "config.yaml"  # what `gancli train` leaves: these commands must not rewrite it
    record.parent.mkdir(exist_ok=True)
    record.write_text("seed: 0\n")
    result = gancli(env, "eval", str(run_dir), "n=100", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "high_quality_fraction" in result.stdout and json.loads((run_dir / "eval.json").read_text())["n"] == 100
    result = gancli(env, "sample", str(run_dir), "n=50", "out=s.npy", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["shape"] == [50, 2]
    assert np.load(tmp_path / "s.npy").shape == (50, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.npy", "s.png"]  # no log or .hydra left behind
    assert [p.name for p in record.parent.iterdir()] == ["config.yaml"] and record.read_text() == "seed: 0\n"


@pytest.mark.slow  # subprocesses; the fast suite checks each refusal in-process above
@pytest.mark.parametrize(("args", "fragments"), [
    (["eval"], ["name the run directory to read: gancli eval <run_dir>"]),
    (["sample", "a", "b"], ["reads one run directory, got 2"]),
    (["eval", "no/such/run"], ["run directory no/such/run does not exist"]),
    (["eval", "RUN", "nn=3"], ["unknown config key 'nn'", "did you mean n?"]),
    (["sample", "RUN", "out=x.txt"], ["must name a .npy file"]),
    (["report"], ["name the directories to read: gancli report <dir> [<dir> ...]"]),
    (["report", "no/such/sweep"], ["no/such/sweep does not exist"]),
])
def test_bad_run_commands_get_one_line_and_exit_2(env, run_dir, tmp_path, args, fragments):
    args = [str(run_dir) if a == "RUN" else a for a in args]
    assert_one_line_error(gancli(env, *args, cwd=tmp_path), *fragments)
    assert not list(tmp_path.iterdir())  # nothing written where the command ran


def test_evaluation_noise_comes_in_three_distinct_streams():
    """evaluation_keys is the one place the evaluation noise comes from: three distinct streams."""
    keys = evaluation_keys(0)
    data = [tuple(np.asarray(jax.random.key_data(k)).tolist()) for k in (keys.samples, keys.real, keys.frames)]
    assert len(set(data)) == 3
