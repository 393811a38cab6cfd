"""divergence=ensemble end to end: one critic output per member, and a run that logs each member's
estimate. (How heads are built and combined is checked in test_heads.py.)"""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from gancli.runner.trainer import train_and_evaluate
from gancli.training.chunk import make_train_chunk
from gancli.training.problem import build, critic, pack


@pytest.mark.slow  # compiles the ensemble's players: tests/training/test_problem.py counts a critic's outputs
@pytest.mark.parametrize("shared", [True, False])
def test_critic_has_one_output_per_member(smoke_config, shared):
    problem, init = build(smoke_config("divergence=ensemble", "divergence.members=[gan,kl,tv]",
                                       f"divergence.shared_critic={str(shared).lower()}"))
    d_params = jax.eval_shape(init).d
    n_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(d_params))
    single, single_init = build(smoke_config())
    n_single = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(jax.eval_shape(single_init).d))
    hidden = 16  # the smoke preset's width: a shared body adds only 2 output columns of 16 + 1
    assert n_params == (3 * n_single if not shared else n_single + 2 * (hidden + 1))
    state, metrics = make_train_chunk(problem, 5)(jax.jit(init)(), np.int32(5))
    assert critic(problem, state.d, pack(problem, np.zeros((64, 2), np.float32))).shape == (32, 3)  # pack 2
    assert all(np.isfinite(np.asarray(metrics[f"divergence_estimate/{m}"])).all() for m in ("gan", "kl", "tv"))


@pytest.mark.slow  # a whole run; tests/objectives/test_heads.py checks the weighted estimates
def test_ensemble_run_logs_each_members_estimate(smoke_config, tmp_path):
    cfg = smoke_config("divergence=ensemble", "divergence.members=[kl,reverse_kl]", "divergence.weights=[1,3]")
    summary = train_and_evaluate(cfg, tmp_path)
    for line in (tmp_path / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        members = record["divergence_estimate/kl"], record["divergence_estimate/reverse_kl"]
        assert record["divergence_estimate"] == pytest.approx(members[0] + 3 * members[1], rel=1e-5, abs=1e-6)
    assert "divergence_estimate/reverse_kl" in summary
