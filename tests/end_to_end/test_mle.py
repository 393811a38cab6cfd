"""The explicit-density baseline: model=gmm fitted by maximum likelihood (divergence=mle)."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from gancli.data.densities import GaussianMixture
from gancli.errors import GancliError
from gancli.players.models import GaussianMixtureModel, kmeans_pp_seeds
from gancli.runner.trainer import train_and_evaluate
from gancli.training.chunk import make_train_chunk
from gancli.training.problem import build, generate
from tests.helpers import PLOTS

GMM = ("model=gmm", "divergence=mle")


def gaussian_log_density(x, mean, cov):
    """log N(x; mean, cov) in NumPy, the textbook way."""
    diff = x - mean
    _, logdet = np.linalg.slogdet(cov)
    return -0.5 * (np.einsum("ni,ij,nj->n", diff, np.linalg.inv(cov), diff) + logdet + len(mean) * np.log(2 * np.pi))


@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_log_prob_is_the_mixture_density(covariance):
    rng = np.random.default_rng(0)
    model = GaussianMixtureModel(jnp.asarray(rng.normal(size=(3, 2)), jnp.float32), jnp.float32(1.0), covariance)
    model.logits[...] = jnp.asarray(rng.normal(size=3), jnp.float32)
    model.log_scales[...] = jnp.asarray(rng.normal(scale=0.3, size=(3, 2)), jnp.float32)
    if covariance == "full":
        model.lower[...] = jnp.asarray(rng.normal(size=(3, 2, 2)), jnp.float32)
    x = rng.normal(size=(50, 2)).astype(np.float32)
    chol = np.asarray(model.cholesky(), np.float64)
    weights = np.exp(np.asarray(model.logits[...], np.float64))
    weights /= weights.sum()
    expected = np.log(sum(w * np.exp(gaussian_log_density(x, np.asarray(m, np.float64), c @ c.T))
                          for w, m, c in zip(weights, np.asarray(model.means[...]), chol, strict=True)))
    np.testing.assert_allclose(np.asarray(model.log_prob(jnp.asarray(x))), expected, rtol=1e-4, atol=1e-4)
    if covariance == "full":
        assert np.abs(chol[:, 1, 0]).min() > 0  # the full model really has off-diagonal terms


def test_samples_follow_the_model():
    """Mean and covariance of many samples match a one-component full-covariance model's own."""
    model = GaussianMixtureModel(jnp.asarray([[1.0, -2.0]]), jnp.float32(0.5), "full")
    model.lower[...] = jnp.asarray([[[0.0, 0.0], [0.8, 0.0]]])
    x = np.asarray(model.sample(jax.random.key(1), 200_000), np.float64)
    chol = np.asarray(model.cholesky()[0], np.float64)
    np.testing.assert_allclose(x.mean(axis=0), np.asarray(model.means[...][0]), atol=0.02)
    np.testing.assert_allclose(np.cov(x.T), chol @ chol.T, atol=0.03)


@pytest.mark.slow  # trains 1,000 steps
def test_mle_raises_the_likelihood_and_finds_the_modes(smoke_config):
    """On two 1-D modes at -1 and +1, a 2-component mixture climbs the log-likelihood and puts its
    means on the modes."""
    cfg = smoke_config(*GMM, "data=bimodal", "data.spacing=2.0", "data.std=0.3", "model.components=2",
                       "optim.g.lr=0.03", "optim.g.b1=0.9", "train.batch_size=256")
    problem, init = build(cfg)
    chunk = make_train_chunk(problem, 100)
    state = jax.jit(init)()
    real = problem.data.sample(jax.random.key(9), 4096)
    curve = [float(jnp.mean(nnx.merge(problem.g_graph, state.g).log_prob(real)))]
    for stop in range(100, 1001, 100):
        state, metrics = chunk(state, np.int32(stop))
        curve.append(float(np.mean(metrics["log_likelihood"])))
    assert curve[-1] > curve[0] + 0.5
    assert np.mean(np.diff(curve) > -0.02) >= 0.8  # climbs, up to minibatch noise
    entropy = 0.5 * np.log(2 * np.pi * np.e * 0.3**2) + np.log(2)  # of two well-separated equal modes
    assert curve[-1] == pytest.approx(-entropy, abs=0.03)  # the best any model can do
    means = np.sort(np.asarray(state.g["means"][...])[:, 0])
    np.testing.assert_allclose(means, [-1.0, 1.0], atol=0.05)
    # KL(P || Q) = E_P[log p] - E_P[log q] ends near 0: the model is the data's family.
    assert float(np.mean(metrics["divergence_estimate"])) < 0.02


@pytest.mark.slow  # a subprocess or a whole resumed run: make test-slow
def test_mle_run_leaves_the_usual_run_files_and_resumes_exactly(smoke_config, tmp_path):
    cfg = smoke_config(*GMM, "optim.g.lr=0.01", PLOTS)
    summary = train_and_evaluate(cfg, tmp_path / "straight")
    records = [json.loads(line) for line in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    assert set(records[0]) == {"step", "log_likelihood", "divergence_estimate"}
    assert summary["modes_total"] == 8 and "log_likelihood" in summary
    assert (tmp_path / "straight" / "plots" / "samples_final.png").exists()
    train_and_evaluate(smoke_config(*GMM, "optim.g.lr=0.01", "train.steps=20"), tmp_path / "split")
    train_and_evaluate(cfg, tmp_path / "split")
    assert ((tmp_path / "straight" / "metrics.jsonl").read_text()
            == (tmp_path / "split" / "metrics.jsonl").read_text())


@pytest.mark.slow
def test_kmeans_pp_seeds_one_mean_per_well_separated_mode():
    """On 8 modes far apart, k-means++ puts each of 8 seeds on a different mode (for most keys)."""
    data = GaussianMixture.isotropic(np.array([[np.cos(a), np.sin(a)] for a in np.arange(8) * np.pi / 4]), 0.01)
    points = data.sample(jax.random.key(0), 512)
    hits = []
    for seed in range(10):
        seeds = np.asarray(kmeans_pp_seeds(jax.random.key(seed), points, 8))
        nearest = np.argmin(((seeds[:, None] - data.means[None]) ** 2).sum(-1), axis=1)
        hits.append(len(set(nearest.tolist())))
    assert np.mean(np.array(hits) == 8) >= 0.8  # uniform picks would do so 0.24% of the time


def test_summary_objective_must_be_a_metric_of_the_run(smoke_config, tmp_path):
    with pytest.raises(GancliError, match="train.objective=d_loss is not a metric of this run"):
        train_and_evaluate(smoke_config(*GMM, "train.objective=d_loss"), tmp_path)
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.slow
def test_gmm_draws_its_own_samples(smoke_config):
    problem, init = build(smoke_config(*GMM, "model.components=4"))
    x = generate(problem, jax.jit(init)().g, jax.random.key(0), 100)
    assert x.shape == (100, 2) and np.isfinite(np.asarray(x)).all()


@pytest.mark.parametrize(("overrides", "fragment"), [
    (("divergence=mle",), "model=mlp is an implicit generator"),
    (("model=gmm",), "fit it with divergence=mle"),
    (("model=gmm", "divergence=kl"), "no gradient to its mixture weights"),
    ((*GMM, "train.unroll_steps=2"), "no critic to step or unroll"),
])
def test_mismatched_model_and_divergence_are_refused(smoke_config, overrides, fragment):
    with pytest.raises(GancliError, match=fragment):
        build(smoke_config(*overrides))
