"""The GAN problem built from a config: its refusals, the metrics it logs, the seed's three key
streams, the initial state made from the seed alone, and the functions that run the players."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from gancli.errors import GancliError
from gancli.training.keys import run_keys
from gancli.training.problem import build, critic, generate, pack
from gancli.training.state import to_tree
from tests.helpers import SMOKE, assert_states_equal, compose_config

GMM = ("model=gmm", "divergence=mle")


@pytest.fixture(scope="module")
def smoke():
    """The smoke preset's problem (a generator average kept), its initialiser and config: the
    initialiser most tests of the suite compile (once, shared through the session's cache)."""
    cfg = compose_config(*SMOKE)
    problem, init = build(cfg)
    return cfg, problem, jax.jit(init)  # the seed as an argument: one compiled initialiser for every seed


def key_data(key):
    return np.asarray(jax.random.key_data(key))


def test_run_keys_are_three_different_streams_that_the_seed_alone_fixes():
    init_key, train_key, eval_key = run_keys(7)
    streams = [key_data(k).tolist() for k in (init_key, train_key, eval_key)]
    assert len({tuple(s) for s in streams}) == 3
    # The same seed as a Python int or a traced array (how init receives it) gives the same keys.
    assert [key_data(k).tolist() for k in run_keys(jnp.int32(7))] == streams
    assert key_data(run_keys(8)[1]).tolist() != streams[1]


def test_the_initial_state_starts_at_step_zero_with_full_rates_and_the_train_key(smoke):
    cfg, problem, init = smoke
    state = init(np.int32(cfg.seed))
    assert set(to_tree(state)) == {"g", "g_opt", "d", "d_opt", "step", "key", "lr_scale", "rollbacks", "g_ema",
                          "g_ema_weight"}
    assert int(state.step) == 0 and float(state.lr_scale) == 1.0 and int(state.rollbacks) == 0
    np.testing.assert_array_equal(key_data(state.key), key_data(run_keys(cfg.seed)[1]))
    # The average starts empty: a zero sum of zero weight (evaluated_generator then uses g itself).
    assert float(state.g_ema_weight) == 0.0
    assert all(not np.asarray(leaf).any() for leaf in jax.tree.leaves(state.g_ema))


def test_the_initial_state_follows_the_seed_alone(smoke):
    cfg, _, init = smoke
    assert_states_equal(init(np.int32(cfg.seed)), init(np.int32(cfg.seed)))
    other = init(np.int32(cfg.seed + 1))
    first, second = jax.tree.leaves(init(np.int32(cfg.seed)).g), jax.tree.leaves(other.g)
    assert any(not np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_init_defaults_to_the_configs_seed():
    cfg = compose_config(*SMOKE, "seed=5")
    _, init = build(cfg)
    # The train key of init() with no seed given: compiled alone, the weights left out.
    np.testing.assert_array_equal(jax.jit(lambda: jax.random.key_data(init().key))(), key_data(run_keys(5)[1]))


def test_the_abstract_state_lays_out_what_init_makes(smoke):
    cfg, _, init = smoke
    abstract, state = jax.eval_shape(init, np.int32(0)), init(np.int32(cfg.seed))
    assert jax.tree.structure(abstract) == jax.tree.structure(state)
    for a, x in zip(jax.tree.leaves(abstract), jax.tree.leaves(state), strict=True):
        assert (a.shape, a.dtype) == (x.shape, x.dtype)


def test_an_explicit_model_has_no_critic_in_its_problem_or_state():
    problem, init = build(compose_config(*SMOKE, *GMM))
    assert problem.explicit and problem.d_graph is None and problem.heads == ()
    assert problem.metric_names == ("log_likelihood", "divergence_estimate")
    abstract = jax.eval_shape(init)
    assert abstract.d is None and abstract.d_opt is None


@pytest.mark.parametrize(("overrides", "names"), [
    ((), ("d_loss", "g_loss", "divergence_estimate")),
    (("divergence=wgan_gp",), ("d_loss", "g_loss", "divergence_estimate", "penalty")),
    (("divergence=ensemble", "divergence.members=[kl,gan]", "divergence.penalty=none"),
     ("d_loss", "g_loss", "divergence_estimate", "divergence_estimate/kl", "divergence_estimate/gan")),
])
def test_the_metrics_logged_follow_the_objective(overrides, names):
    problem, _ = build(compose_config(*SMOKE, *overrides))
    assert problem.metric_names == names
    assert problem.penalised == ("penalty" in names)


@pytest.mark.parametrize(("overrides", "fragment"), [
    (("data=digits", *GMM), "data=digits has no known density"),
    (("data=digits", "divergence=mle"), "data=digits has no known density"),
    ((*GMM, "train.d_steps=2"), "divergence=mle has no critic to step or unroll: drop train.unroll_steps and "
                                "train.d_steps"),
])
def test_pairings_that_cannot_train_are_refused_saying_what_to_use(overrides, fragment):
    with pytest.raises(GancliError, match=fragment) as refused:
        build(compose_config(*SMOKE, *overrides))
    assert "\n" not in str(refused.value)


def test_convolutional_models_loop_on_the_host_on_a_cpu_only(monkeypatch):
    cfg = compose_config(*SMOKE, "data=digits", "model=dcgan")
    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    problem, _ = build(cfg)
    assert problem.images and problem.host_loop
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert not build(cfg)[0].host_loop
    assert not build(compose_config(*SMOKE))[0].host_loop  # an MLP's steps stay in one compiled loop


def test_the_critics_optimiser_is_differentiable_at_zero_gradients_only_when_unrolled():
    """Unrolling differentiates through the critic's Adam update; sqrt(nu) at nu = 0 has an infinite
    derivative, so only the unrolled problem's optimiser keeps the gradient finite."""
    params = {"w": jnp.zeros(3)}

    def update_gradient(problem):
        opt_state = problem.d_opt.init(params)
        return jax.grad(lambda g: jnp.sum(problem.d_opt.update(g, opt_state, params)[0]["w"]))(params)["w"]

    unrolled, _ = build(compose_config(*SMOKE, "train.unroll_steps=2"))
    plain, _ = build(compose_config(*SMOKE))
    assert np.isfinite(update_gradient(unrolled)).all()
    assert not np.isfinite(update_gradient(plain)).all()  # the reason the unrolled one differs


def test_generated_samples_are_the_generator_applied_to_the_prior(smoke):
    cfg, problem, init = smoke
    g = init(np.int32(cfg.seed)).g
    key = jax.random.key(11)
    x = generate(problem, g, key, 5)
    assert x.shape == (5, 2)
    expected = nnx.merge(problem.g_graph, g)(problem.prior(key, 5))
    np.testing.assert_allclose(x, expected, rtol=1e-6)
    assert not np.allclose(x, generate(problem, g, jax.random.key(12), 5))  # another key, other samples


@pytest.mark.parametrize(("k", "expected"), [
    (1, [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]),  # no packing: the batch as it is
    (2, [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]]),
])
def test_packing_puts_consecutive_samples_side_by_side(k, expected):
    problem, _ = build(compose_config(*SMOKE, f"model.pack={k}", "train.batch_size=4"))
    np.testing.assert_array_equal(pack(problem, np.arange(12.0).reshape(4, 3)), expected)


@pytest.mark.parametrize(("overrides", "shape"), [
    (("model.pack=1",), (8, 1)),
    (("model.pack=2",), (4, 1)),  # a row per pack of two samples
    (("model.pack=1", "divergence=ensemble", "divergence.members=[kl,gan,js]"), (8, 3)),  # a column per head
])
def test_the_critic_gives_one_output_per_packed_row_and_head(overrides, shape):
    problem, init = build(compose_config(*SMOKE, "train.batch_size=8", *overrides))
    # Traced abstractly: the shapes without initialising or running anything.
    out = jax.eval_shape(lambda: critic(problem, init().d, pack(problem, jnp.zeros((8, 2)))))
    assert out.shape == shape
