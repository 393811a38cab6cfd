"""divergence=ensemble: one critic head per member divergence, the generator on their weighted sum."""

from __future__ import annotations

import json
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gancli.config.train import DivergenceConfig
from gancli.errors import GancliError
from gancli.objectives.critic_losses import get_objective
from gancli.objectives.f_divergences import critic_objective, generator_loss
from gancli.objectives.heads import critic_objective_of_heads, generator_loss_of_heads, heads_from_config
from gancli.objectives.penalties import interpolate_gradient_penalty
from gancli.runner.trainer import train_and_evaluate
from gancli.training.chunk import make_train_chunk
from gancli.training.problem import build, critic, pack


def ensemble(members, weights=None, **kw):
    return DivergenceConfig(name="ensemble", members=members, weights=weights, **kw)


def test_a_single_divergence_is_one_head_of_weight_one():
    (head,) = heads_from_config(DivergenceConfig(name="kl"))
    assert (head.name, head.weight) == ("kl", 1.0) and head.objective is get_objective("kl")


def test_members_get_equal_weights_by_default_and_their_parameters():
    heads = heads_from_config(ensemble(["gan", "alpha", "js_weighted"], alpha=3.0, pi=0.25))
    assert [h.name for h in heads] == ["gan", "alpha", "js_weighted"]
    assert [h.weight for h in heads] == pytest.approx([1 / 3] * 3)
    assert heads[1].objective.params == {"alpha": 3.0} and heads[2].objective.params == {"pi": 0.25}


@pytest.mark.parametrize(("cfg", "fragment"), [
    (ensemble(None), "needs members"),
    (ensemble(["kl", "klx"]), "'klx', which is not a member divergence"),
    (ensemble(["kl", "ensemble"]), "'ensemble', which is not a member divergence"),
    (ensemble(["kl", "kl"]), "lists a divergence twice"),
    (ensemble(["kl", "js"], alpha=2.0), "no member of the ensemble takes it"),
    (ensemble(["kl", "js"], [1.0]), "1 numbers for 2 members"),
    (ensemble(["kl", "hinge"], generator_loss="minimax"), "not a zero-sum game"),
    (DivergenceConfig(name="kl", members=["js"]), "belong to divergence=ensemble"),
    (DivergenceConfig(name="kl", shared_critic=False), "belong to divergence=ensemble"),
])
def test_bad_ensembles_are_refused(cfg, fragment):
    with pytest.raises(GancliError, match=fragment):
        heads_from_config(cfg)


def test_heads_objective_is_the_weighted_sum_of_each_heads_own():
    heads = heads_from_config(replace(ensemble(["gan", "kl", "wgan_gp"], [0.5, 2.0, 1.0]), penalty="gp",
                                      penalty_weight=10.0))
    real = jax.random.normal(jax.random.key(0), (64, 2)) + 1.0
    fake = jax.random.normal(jax.random.key(1), (64, 2))
    w = jax.random.normal(jax.random.key(2), (2, 3))

    def critic(x):  # head h is the linear critic x . w[:, h], squared for some curvature
        return jnp.tanh(x @ w) + 0.1 * (x @ w) ** 2

    key = jax.random.key(3)
    total, estimates, penalty = critic_objective_of_heads(heads, critic, real, fake, key)
    expected_total = expected_penalty = 0.0
    for h, head in enumerate(heads):
        own = lambda x, h=h: critic(x)[:, h]  # noqa: E731
        own_estimate = critic_objective(head.objective, own(real), own(fake))
        own_penalty = 10.0 * interpolate_gradient_penalty(own, real, fake, jax.random.fold_in(key, h))
        np.testing.assert_allclose(estimates[h], own_estimate, rtol=1e-5)
        expected_total += head.weight * (own_estimate - own_penalty)
        expected_penalty += head.weight * own_penalty
    np.testing.assert_allclose(total, expected_total, rtol=1e-5)
    np.testing.assert_allclose(penalty, expected_penalty, rtol=1e-5)
    assert float(penalty) > 0  # every head is penalised, and the estimates are not


def test_generator_loss_is_the_weighted_sum_of_the_members():
    heads = heads_from_config(ensemble(["kl", "reverse_kl"], [0.25, 0.75]))
    v = jax.random.normal(jax.random.key(0), (32, 2))
    expected = sum(h.weight * jnp.mean(generator_loss(h.objective, v[:, i], "nonsaturating"))
                   for i, h in enumerate(heads))
    np.testing.assert_allclose(generator_loss_of_heads(heads, v, "nonsaturating"), expected, rtol=1e-6)


@pytest.mark.parametrize("shared", [True, False])
def test_critic_has_one_output_per_member(smoke_config, shared):
    problem, init = build(smoke_config("divergence=ensemble", "divergence.members=[gan,kl,tv]",
                                       f"divergence.shared_critic={str(shared).lower()}"))
    d_params = jax.eval_shape(init)["d"]
    n_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(d_params))
    single, single_init = build(smoke_config())
    n_single = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(jax.eval_shape(single_init)["d"]))
    hidden = 16  # the smoke preset's width: a shared body adds only 2 output columns of 16 + 1
    assert n_params == (3 * n_single if not shared else n_single + 2 * (hidden + 1))
    state, metrics = make_train_chunk(problem, 5)(jax.jit(init)(), np.int32(5))
    assert critic(problem, state["d"], pack(problem, np.zeros((64, 2), np.float32))).shape == (32, 3)  # pack 2
    assert all(np.isfinite(np.asarray(metrics[f"divergence_estimate/{m}"])).all() for m in ("gan", "kl", "tv"))


def test_ensemble_run_logs_each_members_estimate(smoke_config, tmp_path):
    cfg = smoke_config("divergence=ensemble", "divergence.members=[kl,reverse_kl]", "divergence.weights=[1,3]")
    summary = train_and_evaluate(cfg, tmp_path)
    for line in (tmp_path / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        members = record["divergence_estimate/kl"], record["divergence_estimate/reverse_kl"]
        assert record["divergence_estimate"] == pytest.approx(members[0] + 3 * members[1], rel=1e-5, abs=1e-6)
    assert "divergence_estimate/reverse_kl" in summary
