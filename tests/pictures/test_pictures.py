"""The pictures and TensorBoard events a run leaves: what each shows, and that a resume continues them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from PIL import Image

from gancli.config.train import to_dict
from gancli.errors import StorageError
from gancli.evaluation.critic_view import critic_surface, surface_label
from gancli.evaluation.train_state_eval import FRAME_SAMPLES
from gancli.pictures.drawing_thread import PictureThread
from gancli.pictures.plots import plot_curves, plot_limits, plot_samples, principal_plane, write_gif
from gancli.runner.trainer import train_and_evaluate
from gancli.training.problem import build, critic, pack
from tests.helpers import PLOTS, events, scalar_steps, visible


def image_steps(found, tag):
    return [e.step for e in found if e.HasField("summary") for v in e.summary.value if v.tag == tag and
            v.HasField("image")]


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


def test_an_explicit_model_has_no_critic_picture(smoke_config, tmp_path):
    train_and_evaluate(smoke_config("experiment=mle", "train.steps=40", "train.eval_every=20", PLOTS), tmp_path)
    assert not list((tmp_path / "plots").glob("critic_*"))
    assert (tmp_path / "plots" / "curves.png").exists() and (tmp_path / "plots" / "samples.gif").exists()


def test_tensorboard_gets_the_metrics_and_the_figures(smoke_config, tmp_path):
    train_and_evaluate(smoke_config(PLOTS), tmp_path)
    found = events(tmp_path / "tb")
    assert scalar_steps(found, "train/d_loss") == [10, 20, 30, 40]
    assert scalar_steps(found, "eval/high_quality_fraction") == [20, 40]
    assert scalar_steps(found, "eval/d_real") == [20, 40]
    assert image_steps(found, "plots/samples") == [20, 40]
    assert image_steps(found, "plots/critic") == [20, 40]


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


def test_the_critic_surface_is_what_each_head_says_of_a_point(smoke_config):
    """For gan: D(x) = sigmoid(v) of a pack of copies of x; for an f-divergence: T(x) = g_f(v)."""
    for divergence, activation in (("gan", jax.nn.sigmoid), ("kl", lambda v: v)):
        problem, init = build(smoke_config(f"divergence={divergence}"))
        state = jax.jit(init)()
        points = np.array([[0.0, 0.0], [1.0, 0.0], [0.3, -0.7]], np.float32)
        surface = np.asarray(critic_surface(problem, state["d"], points))
        v = np.asarray(critic(problem, state["d"], pack(problem, np.repeat(points, problem.pack, axis=0))))
        np.testing.assert_allclose(surface, activation(v), rtol=1e-6)
    assert [surface_label(h) for h in problem.heads] == ["T(x)"]


@pytest.mark.parametrize("members", [["kl", "reverse_kl"], ["gan", "hinge"]])
def test_an_ensemble_has_one_surface_per_head(smoke_config, members):
    # hinge is no zero-sum game: it takes the non-saturating generator loss, not the ensemble's default minimax
    problem, init = build(smoke_config("divergence=ensemble", f"divergence.members=[{','.join(members)}]",
                                       "divergence.generator_loss=nonsaturating"))
    surface = critic_surface(problem, jax.jit(init)()["d"], np.zeros((5, 2), np.float32))
    assert surface.shape == (5, 2)
    labels = [surface_label(h) for h in problem.heads]
    assert labels == (["T(x)", "T(x)"] if members[0] == "kl" else ["D(x)", "critic output v(x)"])


def test_every_figure_of_a_run_shares_its_axis_limits():
    ring = np.array([[1.0, 0.0], [0.0, -1.0], [-1.0, 0.0]])
    lo, hi = plot_limits(ring, 0.01)
    assert lo == -hi and hi == pytest.approx(1.4, abs=1e-5)
    assert plot_limits(ring, 0.2)[1] == pytest.approx(1.8, abs=1e-5)  # wide modes get a wider margin
    assert plot_limits(np.array([[-2.0], [2.0]]), 0.5) == (-4.0, 4.0)
    assert plot_limits(np.array([[-2.0], [2.0]]), 0.1) == (-3.5, 3.5)


def test_curves_draw_only_the_metrics_a_run_has(tmp_path):
    records = [{"step": 10, "log_likelihood": 1.0, "divergence_estimate": 2.0},
               {"step": 20, "log_likelihood": 2.0, "divergence_estimate": 1.0, "modes_captured": 3,
                "modes_total": 8, "high_quality_fraction": 0.5, "mode_kl": None}]
    plot_curves(tmp_path / "curves.png", records, "mle")
    assert Image.open(tmp_path / "curves.png").size[0] > 800
    plot_curves(tmp_path / "none.png", [{"step": 1}], "nothing")
    assert not (tmp_path / "none.png").exists()


def test_the_gif_has_one_frame_per_snapshot(tmp_path):
    frames = []
    for i, colour in enumerate(["red", "green", "blue"]):
        frames.append(tmp_path / f"{i}.png")
        Image.new("RGB", (40, 30), colour).save(frames[-1])
    write_gif(tmp_path / "a.gif", frames)
    gif = Image.open(tmp_path / "a.gif")
    assert gif.n_frames == 3 and gif.size == (40, 30) and gif.info["loop"] == 0
    gif.seek(2)
    assert gif.convert("RGB").getpixel((5, 5))[2] > 200  # the last frame is the blue one


def test_samples_of_more_than_two_dimensions_are_shown_on_the_principal_plane(tmp_path):
    rng = np.random.default_rng(0)
    direction = np.array([[3.0, 4.0, 0.0]]) / 5.0  # all the spread lies along one direction
    real = rng.normal(size=(500, 1)) * 5.0 @ direction + rng.normal(size=(500, 3)) * 0.01
    projected, centres = principal_plane(real, np.zeros((1, 3)))
    assert projected.shape == (500, 2) and centres.shape == (1, 2)
    np.testing.assert_allclose(np.abs(projected[:, 0]), np.abs((real - real.mean(0)) @ direction[0]), atol=0.1)
    assert projected[:, 1].std() < 0.05
    plot_samples(tmp_path / "s.png", real, real[:100], np.zeros((2, 3)), 1.0, "3-D")
    assert Image.open(tmp_path / "s.png").size[0] >= 400


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


class _FailingPictures:
    """RunPictures whose drawing fails as a full disk makes it fail."""

    def snapshot(self, *_):
        return None

    def render(self, *_):
        raise OSError(28, "No space left on device", "plots/curves.png")


def test_a_failed_drawing_is_raised_on_the_training_thread():
    drawing = PictureThread(_FailingPictures(), tensorboard=None)
    drawing.submit(20, None, None, None, None, {}, [], final=False, to_tensorboard=False)
    with pytest.raises(OSError, match="No space left"):
        drawing.wait()
    drawing.submit(40, None, None, None, None, {}, [], final=False, to_tensorboard=False)
    with pytest.raises(OSError):  # from check(), once the drawing has failed, without waiting for it
        for _ in range(1000):
            drawing.check()
            time.sleep(0.01)
    drawing.close()  # nothing left in flight


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
