"""Runs that an earlier gancli left go on with this one, exactly as if this one had trained them."""

import shutil
from pathlib import Path

import pytest

from gancli.runner.trainer import train_and_evaluate
from tests.helpers import assert_states_equal, records, saved_state

# Trained by gancli 0.2.0 at commit ff16e8b, before its modules moved into subpackages:
#   gancli train experiment=smoke train.progress=false train.plots=false hydra.run.dir=<this folder>
# (40 steps, checkpoints at 20 and 40; train.lock left out).
RUN_BEFORE_THE_MOVE = Path(__file__).parent / "fixtures" / "run_before_the_move"


@pytest.mark.slow  # two runs; tests/end_to_end/test_faults.py checks exact resumes in the fast suite
def test_a_run_trained_before_the_move_resumes_as_if_never_stopped(smoke_config, tmp_path):
    cfg = smoke_config("train.steps=80")
    old = tmp_path / "old"
    shutil.copytree(RUN_BEFORE_THE_MOVE, old)
    train_and_evaluate(cfg, old)  # 40 more steps
    train_and_evaluate(cfg, tmp_path / "new")  # all 80 with this code
    assert_states_equal(saved_state(cfg, old, 80), saved_state(cfg, tmp_path / "new", 80))
    assert records(old) == records(tmp_path / "new")  # the first 40 steps' lines included
