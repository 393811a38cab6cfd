"""Seeds trained together (train.num_seeds=S): one program, S runs that are each a normal run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gancli.errors import GancliError
from gancli.runner.seeds import combined_summary
from gancli.runner.trainer import train_and_evaluate
from tests.helpers import (
    SMOKE,
    assert_one_line_error,
    assert_records_close,
    assert_states_equal,
    gancli,
    records,
    saved_state,
)


@pytest.mark.slow  # trains a group and each seed alone; tests/training/test_chunk.py checks the replicas chunk
def test_each_seed_of_a_group_is_the_run_of_that_seed_alone(smoke_config, tmp_path):
    """The seeds train in one vmapped program, yet each writes the run its seed trains alone (to
    floating-point tolerance: batched matmuls may round otherwise), with its own checkpoints."""
    group = train_and_evaluate(smoke_config("seed=5", "train.num_seeds=2"), tmp_path / "group")
    alone = train_and_evaluate(smoke_config("seed=6"), tmp_path / "alone")
    seed_6 = tmp_path / "group" / "seed_6"
    assert sorted(p.name for p in (tmp_path / "group").iterdir()) == ["seed_5", "seed_6"]
    assert_records_close(records(seed_6), records(tmp_path / "alone"))
    saved = json.loads((seed_6 / "summary.json").read_text())
    assert saved["step"] == 40 and np.isclose(saved["recall"], alone["recall"], atol=1e-6)
    seed_5 = json.loads((tmp_path / "group" / "seed_5" / "summary.json").read_text())
    assert group["num_seeds"] == 2 and group["recall"] == pytest.approx((seed_5["recall"] + saved["recall"]) / 2)
    assert sorted(p.name for p in (seed_6 / "checkpoints").iterdir()) == ["20", "40"]


@pytest.mark.slow
def test_a_resumed_group_continues_exactly(smoke_config, tmp_path):
    """Stopped at step 20 and resumed, every seed ends bit-identical to the group never stopped."""
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train_and_evaluate(smoke_config("train.num_seeds=2"), straight)
    train_and_evaluate(smoke_config("train.num_seeds=2", "train.steps=20"), resumed)
    train_and_evaluate(smoke_config("train.num_seeds=2"), resumed)
    for seed in ("seed_0", "seed_1"):
        cfg = smoke_config(f"seed={seed[-1]}")
        assert_states_equal(saved_state(cfg, straight / seed), saved_state(cfg, resumed / seed))
        assert records(straight / seed) == records(resumed / seed)


@pytest.mark.slow
def test_seeds_at_different_steps_resume_each_from_its_own(smoke_config, tmp_path):
    """A kill between the seeds' saves leaves them at different steps: each goes on from its own."""
    train_and_evaluate(smoke_config("train.num_seeds=2", "train.steps=20"), tmp_path)
    train_and_evaluate(smoke_config("seed=1", "train.steps=40"), tmp_path / "seed_1")  # seed 1 alone, ahead
    summary = train_and_evaluate(smoke_config("train.num_seeds=2", "train.steps=60"), tmp_path)
    assert summary["step"] == 60
    for seed in ("seed_0", "seed_1"):
        assert [r["step"] for r in records(tmp_path / seed)] == [10, 20, 30, 40, 50, 60]


def test_groups_that_cannot_train_are_refused(smoke_config, tmp_path):
    with pytest.raises(GancliError, match="train.on_nonfinite=rollback takes one run back"):
        train_and_evaluate(smoke_config("train.num_seeds=2", "train.on_nonfinite=rollback"), tmp_path)
    with pytest.raises(GancliError, match="reaches seed 2147483648, past the largest seed"):
        train_and_evaluate(smoke_config("train.num_seeds=2", f"seed={2**31 - 1}"), tmp_path)
    assert not any(tmp_path.iterdir())  # refused before anything was written


def test_the_combined_summary_is_the_mean_over_seeds():
    summaries = [{"step": 40, "recall": 0.5, "mode_kl": None, "modes_captured": 2},
                 {"step": 40, "recall": 0.25, "mode_kl": 1.0, "modes_captured": 3}]
    assert combined_summary(summaries) == {"num_seeds": 2, "step": 40, "recall": 0.375, "mode_kl": None,
                                           "modes_captured": 2.5}


@pytest.mark.slow
def test_a_group_from_the_command_line_leaves_runs_every_command_reads(env, tmp_path):
    """gancli train train.num_seeds=2: each seed's run resumes alone, samples, and is a row of the
    report; the group's own directory is named as such where a run is expected."""
    group = tmp_path / "group"
    trained = gancli(env, "train", *SMOKE, "train.num_seeds=2", "seed=3", f"hydra.run.dir={group}", timeout=300)
    assert trained.returncode == 0, trained.stderr
    resumed = gancli(env, "resume", str(group / "seed_4"), "train.steps=60", timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((group / "seed_4" / "summary.json").read_text())["step"] == 60
    assert [r["step"] for r in records(group / "seed_3")][-1] == 40  # the other seed untouched
    sampled = gancli(env, "sample", str(group / "seed_3"), "n=5", f"out={tmp_path / 's.npy'}")
    assert sampled.returncode == 0, sampled.stderr
    assert np.load(tmp_path / "s.npy").shape == (5, 2)
    reported = gancli(env, "report", str(group), cwd=tmp_path)
    assert reported.returncode == 0, reported.stderr
    table = (group / "report.md").read_text()
    assert "2 runs, 2 finished" in table and "| seed_3 | 3 |" in table and "| seed_4 | 4 |" in table
    assert_one_line_error(gancli(env, "eval", str(group)),
                          f"holds the runs of seeds trained together (train.num_seeds), each in a directory of its "
                          f"own: name one, e.g. {group / 'seed_3'}")


@pytest.mark.slow
def test_a_sweep_of_groups_run_again_skips_the_finished_ones(env, tmp_path):
    sweep = tmp_path / "sweep"
    command = ["train", "-m", "seed=0,10", "train.num_seeds=2", *SMOKE, f"hydra.sweep.dir={sweep}"]
    first = gancli(env, *command, timeout=300)
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in (sweep / "1").iterdir() if p.name.startswith("seed_")) == ["seed_10", "seed_11"]
    (sweep / "1" / "seed_11" / "summary.json").unlink()  # as a kill before its summary leaves it
    again = gancli(env, *command, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "already finished at step 40 with this config: skipped" in (sweep / "0" / "train.log").read_text()
    assert "skipped" not in (sweep / "1" / "train.log").read_text()  # one of its seeds had not finished
    assert json.loads((sweep / "1" / "seed_11" / "summary.json").read_text())["step"] == 40
