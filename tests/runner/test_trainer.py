"""What a run does around the chunks: the resumes it refuses or warns about, the records it logs
before a non-finite loss, where a rollback goes, and how an evaluation joins the metrics."""

from __future__ import annotations

import logging
from dataclasses import replace

import jax
import numpy as np
import pytest

from gancli.config.train import to_dict
from gancli.errors import GancliError
from gancli.run_dir.checkpoints import state_shapes
from gancli.runner.shared import Shared
from gancli.runner.trainer import Trainer, _check_resumable, _merge, _rollback_step, train_and_evaluate
from gancli.training.problem import build
from gancli.training.state import to_tree
from tests.helpers import SMOKE, compose_config

OVERRIDES = (*SMOKE, "train.batch_size=8")


@pytest.fixture(scope="module")
def shared():
    return Shared.of(compose_config(*OVERRIDES))


def saved(cfg, abstract, **extra):
    """A checkpoint's metadata as a run of `cfg` saves it."""
    return {"step": 20, "config": to_dict(cfg), "shapes": state_shapes(abstract), **extra}


def test_a_resume_that_changes_a_parameter_shape_is_refused_naming_the_setting(shared, tmp_path):
    old = compose_config(*OVERRIDES)
    new = compose_config(*OVERRIDES, "model.hidden=32")
    with pytest.raises(GancliError, match=r"^cannot resume .*: the config changes parameter shapes \(model.hidden: 16 "
                                          r"-> 32\); undo those overrides or train into a new run directory$"):
        _check_resumable(saved(old, shared.abstract_state), new, jax.eval_shape(build(new)[1]), tmp_path)


def test_a_checkpoint_laid_out_otherwise_by_another_version_names_its_arrays_and_versions(shared, tmp_path):
    """No setting explains the difference (a library renamed a parameter): the message names the
    arrays that differ and the versions that saved them."""
    cfg = compose_config(*OVERRIDES)
    metadata = saved(cfg, shared.abstract_state, versions={"gancli": "0.1.0", "flax": "0.8.0"})
    metadata["shapes"]["g/out/weight/value"] = metadata["shapes"].pop("g/out/kernel/value")
    with pytest.raises(GancliError, match=r"\(saved by gancli 0.1.0, with flax 0.8.0\) lays out the train state "
                                          r"otherwise \(arrays g/out/kernel/value, g/out/weight/value\); resume it "
                                          r"with those versions$"):
        _check_resumable(metadata, cfg, shared.abstract_state, tmp_path)


def test_a_changed_setting_is_warned_about_and_refused_for_a_sweeps_job(shared, tmp_path, caplog):
    old, new = compose_config(*OVERRIDES), compose_config(*OVERRIDES, "optim.d.lr=0.001")
    metadata = saved(old, shared.abstract_state)
    with caplog.at_level(logging.WARNING, logger="gancli.runner.trainer"):
        _check_resumable(metadata, new, shared.abstract_state, tmp_path)
    assert "resuming with changed settings (optim.d.lr: 0.0002 -> 0.001)" in caplog.text
    # A sweep's job resumes only the very config it names: a directory is its job's number.
    with pytest.raises(GancliError, match=r"holds a run of another config \(optim.d.lr: 0.0002 -> 0.001\)"):
        _check_resumable(metadata, new, shared.abstract_state, tmp_path, same_run_only=True)


def test_a_sweep_run_again_over_a_run_saved_before_a_key_says_what_that_run_did(shared, tmp_path):
    """A run saved before train.ema_decay and model.pack existed had no average and no packing: a
    sweep's job refuses it naming those settings, rather than continuing it as today's default."""
    cfg = compose_config(*OVERRIDES)
    metadata = saved(cfg, shared.abstract_state)
    metadata["config"]["train"].pop("ema_decay")
    with pytest.raises(GancliError, match=r"holds a run of another config \(train.ema_decay: 0.0 -> 0.999\)"):
        _check_resumable(metadata, cfg, shared.abstract_state, tmp_path, same_run_only=True)


def test_a_resumable_setting_changes_nothing_worth_a_warning(shared, tmp_path, caplog):
    old = compose_config(*OVERRIDES)
    new = compose_config(*OVERRIDES, "train.steps=80", "train.eval_every=40", "train.keep=5")
    with caplog.at_level(logging.WARNING, logger="gancli.runner.trainer"):
        _check_resumable(saved(old, shared.abstract_state), new, shared.abstract_state, tmp_path, same_run_only=True)
    assert not caplog.records


def test_a_checkpoint_past_train_steps_is_refused_saying_how_many_to_pass(shared, tmp_path):
    trainer = Trainer(compose_config(*OVERRIDES), tmp_path, shared=shared)
    metadata = saved(trainer.cfg, shared.abstract_state, step=50)
    with pytest.raises(GancliError, match=r"is already at step 50, past train.steps=40; pass train.steps=50 or more "
                                          r"to continue it$"):
        trainer._resume_target(metadata)


def test_a_resume_onto_other_images_is_refused_and_the_same_images_resume(shared, tmp_path):
    cfg = compose_config(*OVERRIDES)
    trainer = Trainer(cfg, tmp_path, shared=replace(shared, data_digest="new images"))
    with pytest.raises(GancliError, match=r"its images \(data=ring\) changed since it was saved; put the original "
                                          r"files back, or train into a new run directory$"):
        trainer._resume_target(saved(cfg, shared.abstract_state, data_digest="old images"))
    for metadata in (saved(cfg, shared.abstract_state, data_digest="new images"), saved(cfg, shared.abstract_state)):
        target = trainer._resume_target(metadata)  # the same images, or a checkpoint saved before digests
        assert set(target) == set(to_tree(shared.abstract_state))


def test_records_keep_the_logged_steps_before_the_first_non_finite_loss(shared, tmp_path):
    trainer = Trainer(compose_config(*OVERRIDES, "train.log_every=2"), tmp_path, shared=shared)
    # A chunk from step 4 to 8 of length 5 (its last step skipped), g_loss NaN at step 7.
    g_loss = np.array([0.5, 0.6, np.nan, 0.8, 0.0])
    metrics = {"step": np.array([5, 6, 7, 8, 0]), "d_loss": np.ones(5), "g_loss": g_loss,
               "divergence_estimate": np.full(5, 0.25)}
    records, first_bad = trainer._records(metrics, 4, 8)
    assert first_bad == 7
    assert records == [{"step": 6, "d_loss": 1.0, "g_loss": 0.6, "divergence_estimate": 0.25}]  # 8 is past the NaN
    finite = {**metrics, "g_loss": np.array([0.5, 0.6, 0.7, 0.8, 0.0])}
    records, first_bad = trainer._records(finite, 4, 8)
    assert first_bad is None and [r["step"] for r in records] == [6, 8]
    assert all(isinstance(v, float) for r in records for k, v in r.items() if k != "step")  # JSON-ready


@pytest.mark.parametrize(("steps", "first_bad", "to_step"), [
    ([20, 40], 50, 40),  # the newest before the blow-up
    ([20, 40, 45], 50, 40),  # 45 is a Ctrl-C's: an uninterrupted run would not have it
    ([20, 40], 40, 20),  # the checkpoint of the blow-up's own step is not before it
    ([5, 15], 18, 15),  # none of the schedule's kept: the newest there is
    ([], 18, 0),  # none at all: the seed's initial state
])
def test_a_rollback_goes_back_to_the_newest_scheduled_checkpoint_before_the_blow_up(steps, first_bad, to_step):
    assert _rollback_step(steps, first_bad, ckpt_every=20) == to_step


def test_an_evaluation_joins_the_record_of_its_step_or_adds_one():
    assert _merge([{"step": 10, "d_loss": 1.0}, {"step": 20, "d_loss": 2.0}], 20, {"recall": 0.5}) == \
        [{"step": 10, "d_loss": 1.0}, {"step": 20, "d_loss": 2.0, "recall": 0.5}]
    assert _merge([{"step": 10, "d_loss": 1.0}], 20, {"recall": 0.5}) == \
        [{"step": 10, "d_loss": 1.0}, {"step": 20, "recall": 0.5}]  # step 20 was not logged


def test_seeds_trained_together_are_refused_into_one_seeds_run(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(GancliError, match=r"holds one seed's run: train.num_seeds=2 trains seeds into directories of "
                                          r"their own below a new one \(drop train.num_seeds to go on with this run\)"):
        train_and_evaluate(compose_config(*OVERRIDES, "train.num_seeds=2"), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoints"]  # refused before anything was written
