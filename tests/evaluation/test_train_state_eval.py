"""gancli.evaluation.train_state_eval: which samples an evaluation draws (batched, from which key,
of which generator), which real samples it compares them with, and which metrics it reports.
One smoke problem and its initial state serve the whole file: compiling them is the cost."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

import gancli.evaluation.train_state_eval as train_state_eval
from gancli.evaluation.critic_view import critic_evaluation, critic_surface
from gancli.evaluation.sample_metrics import SAMPLE_METRICS
from gancli.evaluation.train_state_eval import FRAME_SAMPLES, Evaluator
from gancli.training.keys import evaluation_key, evaluation_keys, sample_batch_key
from gancli.training.problem import build, generate
from tests.helpers import SMOKE, compose_config

N = 64  # samples a side: the smoke preset's are 256, fewer compile as quickly and run quicker


@pytest.fixture(scope="module")
def run():
    """(problem, initial state, evaluator) of the smoke preset: a GAN on the ring, critic packing 2."""
    problem, init = build(compose_config(*SMOKE))
    return problem, jax.jit(init)(), Evaluator(problem, N)


def _keys_equal(a, b):
    return all(np.array_equal(jax.random.key_data(x), jax.random.key_data(y))
               for x, y in ((a.samples, b.samples), (a.real, b.real), (a.frames, b.frames)))


def test_evaluation_keys_follow_from_the_seed_alone():
    assert _keys_equal(evaluation_keys(0), evaluation_keys(0))  # `gancli eval` reproduces the run's numbers
    other = evaluation_keys(1)
    assert not np.array_equal(jax.random.key_data(evaluation_keys(0).real), jax.random.key_data(other.real))
    assert not np.array_equal(jax.random.key_data(evaluation_keys(0).frames), jax.random.key_data(other.frames))


def test_samples_are_the_generators_image_of_the_prior(run):
    problem, state, evaluator = run
    key = jax.random.key(5)
    samples = evaluator.samples(state, key, N)
    assert samples.shape == (N, 2) and samples.dtype == np.float32
    # a fresh state's moving average has no weight yet: the generator itself is evaluated
    np.testing.assert_allclose(samples, np.asarray(generate(problem, state.g, key, N)), rtol=1e-5, atol=1e-6)


def test_many_samples_are_drawn_in_batches_each_from_a_key_of_its_own(run, monkeypatch):
    _, state, evaluator = run
    monkeypatch.setattr(train_state_eval, "SAMPLE_BATCH", N)  # 64 a call, as 65,536 are for real
    key = jax.random.key(6)
    samples = evaluator.samples(state, key, 2 * N + 10)
    assert samples.shape == (2 * N + 10, 2)
    batches = [evaluator.samples(state, sample_batch_key(key, b), N) for b in range(3)]
    np.testing.assert_array_equal(samples, np.concatenate(batches)[:2 * N + 10])
    assert not np.allclose(batches[0], batches[1])  # no noise repeated from one batch to the next


def test_the_moving_average_of_the_generator_is_what_is_evaluated(run):
    _, state, evaluator = run
    # an average of all-zero weights, of total weight 1: its generator sends every z to the origin
    averaged = state.replace(g_ema=jax.tree.map(np.zeros_like, state.g), g_ema_weight=np.ones((), np.float32))
    np.testing.assert_array_equal(evaluator.samples(averaged, jax.random.key(7), N), np.zeros((N, 2), np.float32))


def test_the_frame_is_the_same_fixed_noise_at_every_evaluation(run):
    _, state, evaluator = run
    frame = evaluator.frame(state, evaluation_keys(0))
    assert frame.shape == (FRAME_SAMPLES, 2)
    np.testing.assert_array_equal(evaluator.frame(state, evaluation_keys(0)), frame)
    assert not np.allclose(evaluator.frame(state, evaluation_keys(1)), frame)  # each seed its own noise


def test_an_evaluation_draws_fresh_samples_at_each_step_against_the_same_real_ones(run):
    problem, state, evaluator = run
    keys = evaluation_keys(0)
    real20, fake20, metrics = evaluator.evaluate(state, 20, keys)
    real40, fake40, _ = evaluator.evaluate(state, 40, keys)
    np.testing.assert_array_equal(real20, real40)
    np.testing.assert_array_equal(real20, np.asarray(problem.data.sample(keys.real, N)))
    assert fake20.shape == (N, 2) and not np.allclose(fake20, fake40)
    np.testing.assert_array_equal(fake20, evaluator.samples(state, evaluation_key(keys, 20), N))
    assert set(metrics) == {*SAMPLE_METRICS, "critic_estimate", "d_real", "d_fake"}
    assert metrics == evaluator.score(state, real20, fake20)


def test_the_critic_judges_whole_packs_only(run):
    problem, state, evaluator = run
    assert problem.pack == 2
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(N + 1, 2)).astype(np.float32), rng.normal(size=(N + 1, 2)).astype(np.float32)
    metrics = evaluator.score(state, real, fake)  # the odd sample left over on each side is dropped
    judged = critic_evaluation(problem, state.d, real[:N], fake[:N])
    for name in ("critic_estimate", "d_real", "d_fake"):
        assert metrics[name] == pytest.approx(float(judged[name]), rel=1e-5)
        assert isinstance(metrics[name], float)  # plain numbers, for metrics.jsonl


def test_a_model_without_a_critic_gets_the_sample_metrics_and_no_surface(run):
    problem, state, _ = run
    explicit = Evaluator(dataclasses.replace(problem, d_graph=None), N)
    real = np.asarray(problem.data.means[np.arange(N) % 8], np.float32)
    metrics = explicit.score(state.replace(d=None, d_opt=None), real, real)
    assert set(metrics) == set(SAMPLE_METRICS)
    assert explicit.surface(state.replace(d=None, d_opt=None), np.zeros((3, 2))) is None


def test_the_surface_is_the_critics_view_of_the_points_in_float32(run):
    problem, state, evaluator = run
    points = np.array([[0.0, 0.0], [1.0, -0.5], [0.25, 0.75]])  # float64, as numpy makes them
    surface = evaluator.surface(state, points)
    assert isinstance(surface, np.ndarray) and surface.shape == (3, 1) and surface.dtype == np.float32
    expected = critic_surface(problem, state.d, points.astype(np.float32))
    np.testing.assert_allclose(surface, np.asarray(expected), rtol=1e-5, atol=1e-7)
