"""Training from the real configs: every divergence and prior runs, resumes are exact, failures are loud."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from gancli.cli.overrides import group_options
from gancli.config.train import IMAGE_DATA, TOY_DATA
from gancli.errors import GancliError
from gancli.evaluation.critic_view import critic_evaluation
from gancli.evaluation.sample_metrics import SAMPLE_METRICS
from gancli.objectives.critic_losses import get_objective
from gancli.objectives.f_divergences import critic_objective
from gancli.objectives.heads import heads_from_config
from gancli.run_dir.files import MetricsLog
from gancli.run_dir.layout import RunDir
from gancli.runner.trainer import train_and_evaluate
from gancli.training.chunk import make_train_chunk
from gancli.training.problem import MLE, build, critic, pack
from tests.helpers import PLOTS, assert_states_equal, saved_state


# Every divergence trains a smoke run: make test-slow. In the fast suite, test_training_learns_the_ring
# trains the default (gan), and tests/objectives/ checks each loss's formulas.
@pytest.mark.slow
@pytest.mark.parametrize("divergence", [d for d in group_options("divergence") if d != MLE])
def test_every_divergence_trains(smoke_config, tmp_path, divergence):
    """Every adversarial divergence (MLE has a test file of its own: tests/end_to_end/test_mle.py)."""
    cfg = smoke_config(f"divergence={divergence}", PLOTS)  # every critic's surface is drawn
    penalised = any(head.penalty != "none" for head in heads_from_config(cfg.divergence))
    summary = train_and_evaluate(cfg, tmp_path)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [10, 20, 30, 40]
    for r in records:
        assert np.isfinite([r["d_loss"], r["g_loss"], r["divergence_estimate"]]).all()
        if penalised:  # d_loss adds the penalty, logged on its own, to -estimate
            assert r["penalty"] >= 0 and r["d_loss"] == pytest.approx(r["penalty"] - r["divergence_estimate"],
                                                                       rel=1e-4, abs=1e-5)
        else:
            assert "penalty" not in r
            assert r["d_loss"] == -r["divergence_estimate"]
    assert "modes_captured" in records[1] and "modes_captured" in records[3]
    assert set(SAMPLE_METRICS) <= set(records[3]) and set(SAMPLE_METRICS) <= set(summary)
    assert np.isfinite(summary["critic_estimate"])
    if divergence == "gan":
        assert 0.0 < summary["d_fake"] < 1.0 and 0.0 < summary["d_real"] < 1.0
    assert summary["step"] == 40 and summary["modes_total"] == 8
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert (tmp_path / "plots" / "samples_final.png").stat().st_size > 1000
    assert (tmp_path / "plots" / "samples_0000020.png").exists()
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["20", "40"]


def test_a_critic_cannot_tell_a_batch_from_itself(smoke_config):
    """Evaluation's view of the critic: on identical real and generated batches D(x) has the same
    mean on both, and the estimate is the objective at v_real = v_fake."""
    problem, init = build(smoke_config())
    state = jax.jit(init)()
    x = np.asarray(problem.data.sample(jax.random.key(0), 64))
    judged = critic_evaluation(problem, state.d, x, x)
    assert float(judged["d_real"]) == pytest.approx(float(judged["d_fake"]))
    v = critic(problem, state.d, pack(problem, x))[:, 0]
    assert float(judged["critic_estimate"]) == pytest.approx(float(critic_objective(get_objective("gan"), v, v)))


@pytest.mark.slow  # every prior on every toy dataset: a minute (tests/players/ checks each prior's samples)
@pytest.mark.parametrize("prior", group_options("prior"))
def test_every_prior_trains_on_every_dataset(smoke_config, tmp_path, prior):
    """Every toy dataset (the image data train in tests/end_to_end/test_image_runs.py)."""
    expected_modes = {"ring": 8, "grid": 25, "bimodal": 2}
    assert set(group_options("data")) == set(TOY_DATA) | set(IMAGE_DATA)
    assert set(TOY_DATA) == set(expected_modes)
    for data in TOY_DATA:
        overrides = [f"prior={prior}", f"data={data}"] + (["prior.dim=1"] if data == "bimodal" else [])
        summary = train_and_evaluate(smoke_config(*overrides), tmp_path / data)
        assert summary["modes_total"] == expected_modes[data]


@pytest.mark.slow
def test_minimax_generator_loss_trains(smoke_config, tmp_path):
    summary = train_and_evaluate(smoke_config("divergence.generator_loss=minimax", "train.d_steps=2"), tmp_path)
    assert np.isfinite(summary["g_loss"])


def test_training_learns_the_ring(smoke_config, tmp_path):
    """A few hundred real steps pull samples from the prior's blob onto the ring's modes."""
    cfg = smoke_config("data.std=0.1", "train.steps=600", "train.eval_every=600", "train.ckpt_every=600",
                       "train.chunk=100", "model.hidden=64", "train.batch_size=128",
                       "optim.g.lr=0.001", "optim.d.lr=0.001")
    summary = train_and_evaluate(cfg, tmp_path)
    assert summary["high_quality_fraction"] > 0.15  # the untrained generator scores 0 here
    assert summary["modes_captured"] >= 4


def test_chunk_compiles_once_whatever_the_stop(smoke_config, monkeypatch):
    cfg = smoke_config()
    problem, init = build(cfg)
    # The chunk calls lax.scan only while it is traced: no new call after the first, no recompilation.
    traces, scan = [], jax.lax.scan
    monkeypatch.setattr(jax.lax, "scan", lambda *args, **kwargs: traces.append(args) or scan(*args, **kwargs))
    chunk = make_train_chunk(problem, 10)
    state = jax.jit(init)()
    first = None
    for stop in (10, 13, 20, 30):  # a short chunk (stop=13) must not recompile
        state, metrics = chunk(state, np.int32(stop))
        first = first or len(traces)
    assert int(state.step) == 30
    assert first and len(traces) == first
    assert metrics["step"].tolist() == list(range(21, 31))


def test_a_chunk_past_its_stop_changes_nothing(smoke_config):
    problem, init = build(smoke_config())
    chunk = make_train_chunk(problem, 10)
    state, _ = chunk(jax.jit(init)(), np.int32(7))
    assert int(state.step) == 7
    before = jax.tree.map(np.asarray, state.g)
    state, metrics = chunk(state, np.int32(7))
    assert int(state.step) == 7 and not metrics["step"].any()
    jax.tree.map(np.testing.assert_array_equal, before, jax.tree.map(np.asarray, state.g))


@pytest.mark.slow  # the fast suite checks exact resumes in tests/end_to_end/test_faults.py
def test_resumed_run_is_bit_identical(smoke_config, tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    train_and_evaluate(smoke_config(PLOTS), straight)
    train_and_evaluate(smoke_config("train.steps=20", PLOTS), split)
    assert (split / "summary.json").exists()
    train_and_evaluate(smoke_config(PLOTS), split)  # resume to 40
    resumed = saved_state(smoke_config(), split)
    assert resumed.g_ema is not None  # the generator's average is part of the state, restored with it
    assert_states_equal(saved_state(smoke_config(), straight), resumed)
    assert (straight / "metrics.jsonl").read_text() == (split / "metrics.jsonl").read_text()
    for step in (20, 40):  # the animation's frames: the same fixed noise through the same generator
        frame = f"plots/samples_{step:07d}.npy"
        np.testing.assert_array_equal(np.load(straight / frame), np.load(split / frame))


@pytest.mark.slow  # the same guarantee as test_resumed_run_is_bit_identical, for a state without an average
def test_resumed_run_without_generator_average_is_bit_identical(smoke_config, tmp_path):
    """The state has no average then (the smoke preset keeps one, as the defaults do)."""
    no_ema = "train.ema_decay=0"
    straight, split = tmp_path / "straight", tmp_path / "split"
    train_and_evaluate(smoke_config(no_ema), straight)
    train_and_evaluate(smoke_config(no_ema, "train.steps=20"), split)
    train_and_evaluate(smoke_config(no_ema), split)
    assert_states_equal(saved_state(smoke_config(no_ema), straight), saved_state(smoke_config(no_ema), split))
    assert (straight / "metrics.jsonl").read_text() == (split / "metrics.jsonl").read_text()


@pytest.mark.slow
def test_resume_from_mid_cadence_checkpoint_is_bit_identical(smoke_config, tmp_path):
    """Stopping at a step that is not a multiple of the chunk still replays the same steps."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    train_and_evaluate(smoke_config(), straight)
    train_and_evaluate(smoke_config("train.steps=17"), split)
    train_and_evaluate(smoke_config(), split)
    assert_states_equal(saved_state(smoke_config(), straight), saved_state(smoke_config(), split))


def test_resume_drops_metrics_logged_after_the_checkpoint(smoke_config, tmp_path):
    train_and_evaluate(smoke_config(), tmp_path)
    reference = (tmp_path / "metrics.jsonl").read_text()
    # As if killed after logging step 40 but before its checkpoint landed: only step 20 is saved.
    (tmp_path / "checkpoints" / "40").rename(tmp_path / "gone")
    with (tmp_path / "metrics.jsonl").open("a") as f:
        f.write('{"step": 50, "d_loss": 0.0, "g_loss": 0.0, "divergence_estimate": 0.0}\n')
    train_and_evaluate(smoke_config(), tmp_path)
    assert (tmp_path / "metrics.jsonl").read_text() == reference


@pytest.mark.slow
def test_a_metrics_line_cut_short_by_a_kill_is_dropped(smoke_config, tmp_path):
    train_and_evaluate(smoke_config("train.steps=20"), tmp_path)
    reference = (tmp_path / "metrics.jsonl").read_text()
    with (tmp_path / "metrics.jsonl").open("a") as f:
        f.write('{"step": 30, "d_lo')  # killed mid-append
    assert MetricsLog(tmp_path / "metrics.jsonl").read()[-1]["step"] == 20
    train_and_evaluate(smoke_config(), tmp_path)  # the resume truncates it away and logs 30 again
    assert (tmp_path / "metrics.jsonl").read_text().startswith(reference)
    assert [r["step"] for r in MetricsLog(tmp_path / "metrics.jsonl").read()] == [10, 20, 30, 40]


@pytest.mark.slow
def test_a_resume_drops_the_pictures_past_its_checkpoint(smoke_config, tmp_path):
    """Pictures of steps the resumed run has not reached again are an abandoned attempt's."""
    train_and_evaluate(smoke_config("train.steps=20", PLOTS), tmp_path)
    stale = [tmp_path / "plots" / f"{kind}_0000030.{ext}" for kind, ext in (("samples", "png"), ("samples", "npy"),
                                                                             ("critic", "png"))]
    for path in stale:
        path.write_bytes(b"from an abandoned attempt")
    train_and_evaluate(smoke_config("train.steps=25", "train.eval_every=25", PLOTS), tmp_path)
    assert not any(path.exists() for path in stale)
    assert all((tmp_path / "plots" / f"samples_{step:07d}.npy").exists() for step in (20, 25))


def test_resume_refuses_a_shape_change_naming_the_key(smoke_config, tmp_path):
    train_and_evaluate(smoke_config("train.steps=20"), tmp_path)
    with pytest.raises(GancliError, match=r"changes parameter shapes \(model.hidden: 16 -> 32\)"):
        train_and_evaluate(smoke_config("model.hidden=32"), tmp_path)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["20"]


@pytest.mark.slow
def test_resume_refuses_fewer_steps_than_it_has_done(smoke_config, tmp_path):
    train_and_evaluate(smoke_config(), tmp_path)
    with pytest.raises(GancliError, match="already at step 40, past train.steps=20"):
        train_and_evaluate(smoke_config("train.steps=20"), tmp_path)


@pytest.mark.slow
def test_resume_allows_more_steps_and_new_cadences(smoke_config, tmp_path):
    train_and_evaluate(smoke_config(), tmp_path)
    summary = train_and_evaluate(smoke_config("train.steps=60", "train.log_every=20", "train.keep=5"), tmp_path)
    assert summary["step"] == 60


@pytest.mark.slow
def test_nonfinite_loss_stops_and_keeps_the_last_checkpoint(smoke_config, tmp_path):
    train_and_evaluate(smoke_config("divergence=kl", "train.steps=20"), tmp_path)
    good = saved_state(smoke_config("divergence=kl"), tmp_path, 20)
    # Continue with a huge learning rate: KL's conjugate exp(v - 1) overflows once the critic blows up.
    cfg = smoke_config("divergence=kl", "optim.d.lr=1e6", "optim.g.lr=1e6", "train.steps=200",
                       "train.ckpt_every=100", "train.eval_every=200")
    with pytest.raises(GancliError) as err:
        train_and_evaluate(cfg, tmp_path)
    message = str(err.value)
    assert "non-finite loss in steps" in message and "divergence kl" in message
    assert "the checkpoint at step 20 is intact" in message
    first_bad = int(message.split("(first at step ")[1].split(")")[0])
    assert 20 < first_bad < 100
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["20"]
    assert_states_equal(good, saved_state(cfg, tmp_path, 20))
    assert max(r["step"] for r in MetricsLog(tmp_path / "metrics.jsonl").read()) < first_bad
    assert RunDir(tmp_path).read_failure() == {"step": first_bad, "error": message}  # for gancli report
    assert not (tmp_path / "summary.json").exists()  # the step-20 summary is not this run's end
    train_and_evaluate(smoke_config("divergence=kl"), tmp_path)  # resumed with sane rates, it finishes
    assert not RunDir(tmp_path).failure_file.exists()
