"""The pictures and TensorBoard events a training run leaves: what each shows, and that a resume continues
them. What each picture module does on its own is checked in the test file of that module."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from gancli.config.train import to_dict
from gancli.errors import StorageError
from gancli.evaluation.train_state_eval import FRAME_SAMPLES
from gancli.runner.trainer import train_and_evaluate
from tests.helpers import PLOTS, events, scalar_steps, visible


def image_steps(found, tag):
    return [e.step for e in found if e.HasField("summary") for v in e.summary.value if v.tag == tag and
            v.HasField("image")]


@pytest.mark.slow  # trains a run, draws each picture: tests/pictures/test_run_pictures.py renders each, fast
def test_a_run_leaves_every_picture_at_every_evaluation(smoke_config, tmp_path):
    train_and_evaluate(smoke_config(PLOTS), tmp_path)  # evaluations at 20 and 40
    plots = tmp_path / "plots"
    for step in (20, 40):
        frame = np.load(plots / f"samples_{step:07d}.npy")
        assert frame.shape == (FRAME_SAMPLES, 2) and frame.dtype == np.float32
        assert Image.open(plots / f"samples_{step:07d}.png").size[0] >= 400
        assert Image.open(plots / f"critic_{step:07d}.png").size[0] >= 400
    assert (plots / "critic_final.png").read_bytes() == (plots / "critic_0000040.png").read_bytes()
    assert (plots / "samples_final.png").read_bytes() == (plots / "samples_0000040.png").read_bytes()
    assert Image.open(plots / "curves.png").size[0] >= 800
    assert Image.open(plots / "samples.gif").n_frames == 2


@pytest.mark.slow  # trains a run
def test_an_explicit_model_has_no_critic_picture(smoke_config, tmp_path):
    train_and_evaluate(smoke_config("experiment=mle", "train.steps=40", "train.eval_every=20", PLOTS), tmp_path)
    assert not list((tmp_path / "plots").glob("critic_*"))
    assert (tmp_path / "plots" / "curves.png").exists() and (tmp_path / "plots" / "samples.gif").exists()


@pytest.mark.slow  # trains a run; tests/run_dir/test_tensorboard.py checks the events
def test_tensorboard_gets_the_metrics_and_the_figures(smoke_config, tmp_path):
    train_and_evaluate(smoke_config(PLOTS), tmp_path)
    found = events(tmp_path / "tb")
    assert scalar_steps(found, "train/d_loss") == [10, 20, 30, 40]
    assert scalar_steps(found, "eval/high_quality_fraction") == [20, 40]
    assert scalar_steps(found, "eval/d_real") == [20, 40]
    assert image_steps(found, "plots/samples") == [20, 40]
    assert image_steps(found, "plots/critic") == [20, 40]


@pytest.mark.slow  # trains and resumes a run
def test_a_resumed_run_hides_the_events_past_its_checkpoint(smoke_config, tmp_path):
    """The resumed writer starts with a purge marker at checkpoint + 1, so TensorBoard drops what
    the interrupted run logged after its checkpoint; the resumed run logs those steps again."""
    train_and_evaluate(smoke_config(PLOTS), tmp_path)
    # As if killed after logging step 40 but before its checkpoint landed: only step 20 is saved.
    (tmp_path / "checkpoints" / "40").rename(tmp_path / "gone")
    train_and_evaluate(smoke_config(PLOTS), tmp_path)
    assert len(list((tmp_path / "tb").glob("events.out.tfevents.*"))) == 2
    found = events(tmp_path / "tb")
    starts = [e.step for e in found if e.HasField("session_log") and e.session_log.status == e.session_log.START]
    assert starts == [21]
    assert scalar_steps(found, "train/d_loss") == [10, 20, 30, 40, 30, 40]  # in the files: both attempts
    assert scalar_steps(visible(found), "train/d_loss") == [10, 20, 30, 40]  # in TensorBoard: each step once
    assert image_steps(visible(found), "plots/samples") == [20, 40]


def test_plots_can_be_turned_off(smoke_config, tmp_path):
    train_and_evaluate(smoke_config("train.plots=false"), tmp_path)
    assert not (tmp_path / "plots").exists()
    assert image_steps(events(tmp_path / "tb"), "plots/samples") == []
    assert scalar_steps(events(tmp_path / "tb"), "eval/high_quality_fraction") == [20, 40]  # the numbers still are


KILL_AFTER_FIRST_CHECKPOINT = """
import os, sys
from pathlib import Path
from gancli.run_dir.checkpoints import Checkpointer
from gancli.config.train import parse_config
from gancli.runner.trainer import train_and_evaluate
import json

save = Checkpointer.save
def save_then_die(self, step, state, metadata):
    save(self, step, state, metadata)
    self.wait()
    os._exit(9)  # killed the moment the checkpoint is on disk
Checkpointer.save = save_then_die
train_and_evaluate(parse_config(json.loads(sys.argv[1])), Path(sys.argv[2]))
"""


@pytest.mark.slow  # a subprocess or a whole resumed run: make test-slow
def test_a_kill_right_after_a_checkpoint_loses_no_event_it_covers(smoke_config, tmp_path):
    """Every event of the steps a checkpoint covers is on disk before the checkpoint: after a
    kill and a resume, TensorBoard has the whole run, evaluation metrics and figures included."""
    cfg = smoke_config(PLOTS)
    killed = subprocess.run([sys.executable, "-c", KILL_AFTER_FIRST_CHECKPOINT, json.dumps(to_dict(cfg)),
                             str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert killed.returncode == 9, killed.stderr
    train_and_evaluate(cfg, tmp_path)  # resumes from step 20
    found = events(tmp_path / "tb")
    for tag in ("train/d_loss", "eval/high_quality_fraction", "eval/coverage", "eval/d_fake", "eval/critic_estimate"):
        assert 20 in scalar_steps(found, tag), tag
    assert image_steps(found, "plots/samples") == [20, 40] and image_steps(found, "plots/critic") == [20, 40]


@pytest.mark.slow  # a subprocess or a whole resumed run: make test-slow
def test_a_resume_redraws_the_pictures_its_checkpoint_step_lacks(smoke_config, tmp_path):
    """Pictures are drawn while training goes on, so a kill just after a checkpoint can leave its
    step without them: the resumed run draws them again, the same, before going on."""
    cfg = smoke_config(PLOTS)
    train_and_evaluate(cfg, tmp_path)  # evaluations and checkpoints at 20 and 40
    plots = tmp_path / "plots"
    frame = np.load(plots / "samples_0000020.npy")
    for path in plots.glob("*_0000020.*"):  # as if killed before the picture thread got to step 20
        path.unlink()
    shutil.rmtree(tmp_path / "checkpoints" / "40")
    train_and_evaluate(cfg, tmp_path)  # resumes from step 20
    np.testing.assert_array_equal(np.load(plots / "samples_0000020.npy"), frame)
    assert (plots / "samples_0000020.png").exists() and (plots / "critic_0000020.png").exists()
    assert Image.open(plots / "samples.gif").n_frames == 2
    shown = visible(events(tmp_path / "tb"))
    assert image_steps(shown, "plots/samples") == [20, 40]  # drawn again, once
    assert scalar_steps(shown, "eval/high_quality_fraction") == [20, 40]  # the purge kept step 20's numbers


def test_a_full_disk_while_drawing_stops_training_with_one_clear_error(smoke_config, tmp_path, monkeypatch):
    def full(*_):
        raise OSError(28, "No space left on device", str(tmp_path / "plots" / "curves.png"))

    monkeypatch.setattr("gancli.pictures.run_pictures.RunPictures.render", full)
    with pytest.raises(StorageError, match="could not read or write .*curves.png .No space left on device"):
        train_and_evaluate(smoke_config(PLOTS), tmp_path)
    assert (tmp_path / "checkpoints").is_dir()  # what was saved before stays


KILL_AFTER_CHECKPOINT_30 = """
import json, os, sys, time
from pathlib import Path
from gancli.run_dir.checkpoints import Checkpointer
from gancli.config.train import parse_config
from gancli.pictures.run_pictures import RunPictures
from gancli.runner.trainer import train_and_evaluate

render = RunPictures.render
def slow_render(self, *args, **kwargs):
    time.sleep(2)  # drawing outlasts the ten steps to the next checkpoint
    return render(self, *args, **kwargs)
RunPictures.render = slow_render

save = Checkpointer.save
def save_then_die(self, step, state, metadata):
    save(self, step, state, metadata)
    if step == 30:
        self.wait()
        os._exit(9)
Checkpointer.save = save_then_die
train_and_evaluate(parse_config(json.loads(sys.argv[1])), Path(sys.argv[2]))
"""


@pytest.mark.slow  # a subprocess or a whole resumed run: make test-slow
def test_a_checkpoint_waits_for_the_pictures_of_earlier_steps(smoke_config, tmp_path):
    """A resume redraws only its checkpoint's own step: so a checkpoint at step 30 is saved only
    once step 20's pictures (drawing while training went on) are complete."""
    cfg = smoke_config(PLOTS, "train.ckpt_every=10")  # evaluations at 20 and 40
    killed = subprocess.run([sys.executable, "-c", KILL_AFTER_CHECKPOINT_30, json.dumps(to_dict(cfg)),
                             str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert killed.returncode == 9, killed.stderr
    assert (tmp_path / "plots" / "samples_0000020.npy").exists()
    assert image_steps(events(tmp_path / "tb"), "plots/samples") == [20]
