"""gancli.pictures.run_pictures: where a run's critic surface is read, which files each evaluation
step leaves and which a resume removes, which frames the animation shows, and that a step counts as
drawn only once its numbers are saved. The problem, the evaluator and the plot functions are
stand-ins here: what the figures show is checked in test_plots.py, and whole runs in test_pictures.py."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

import gancli.pictures.plots as plots
from gancli.objectives.critic_losses import CRITIC_LOSSES
from gancli.objectives.f_divergences import DIVERGENCES
from gancli.objectives.heads import Head
from gancli.pictures.limits import plot_limits
from gancli.pictures.run_pictures import GIF_FRAMES, RunPictures, Snapshot, gif_steps

RING = np.array([[np.cos(a), np.sin(a)] for a in np.linspace(0, 2 * np.pi, 8, endpoint=False)])
HEADS = (Head("gan", DIVERGENCES["gan"], 0.5), Head("hinge", CRITIC_LOSSES["hinge"], 0.5))
CFG = SimpleNamespace(divergence=SimpleNamespace(name="ensemble"), data=SimpleNamespace(name="ring"), seed=3)


def toy(centres=RING, std=0.05):
    data = SimpleNamespace(means=centres, stds=np.full(centres.shape, std), dim=centres.shape[1])
    return SimpleNamespace(images=False, data=data, heads=HEADS)


def images():
    data = SimpleNamespace(to_images=lambda x: (np.clip(x, 0, 1) * 255).astype(np.uint8).reshape(-1, 4, 4, 1))
    return SimpleNamespace(images=True, data=data, heads=HEADS)


class _Evaluator:
    """Records what it is asked; the frame is 1000 points at (step, step)."""

    def __init__(self):
        self.surface_points = None

    def frame(self, state, keys):
        return np.full((1000, 2), float(state), np.float32)

    def surface(self, state, points):
        self.surface_points = points
        return np.zeros((len(points), len(HEADS)), np.float32)


@pytest.fixture
def drawn(monkeypatch):
    """The plot functions render calls, each recorded (name, args) and leaving a small file."""
    calls = []

    def stand_in(name):
        def plot(path, *args):
            calls.append((name, path, args))
            path.write_bytes(f"{name} {path.name}".encode())
        return plot

    for name in ("plot_samples", "plot_critic_surface", "plot_curves", "write_gif"):
        monkeypatch.setattr(plots, name, stand_in(name))
    return calls


def test_short_runs_animate_every_evaluation():
    steps = list(range(10, 10 * GIF_FRAMES + 1, 10))
    assert gif_steps(steps) == steps


def test_long_runs_animate_evaluations_evenly_spread_with_the_first_and_the_last():
    steps = list(range(5, 1001, 5))  # 200 evaluations
    shown = gif_steps(steps)
    assert len(shown) == GIF_FRAMES and shown[0] == 5 and shown[-1] == 1000
    assert shown == sorted(set(shown)) and set(shown) <= set(steps)
    gaps = {b - a for a, b in zip(shown, shown[1:], strict=False)}
    assert gaps <= {15, 20}  # 199 / 59 = 3.4 evaluations apart: 3 or 4, never bunched up


def test_a_2d_critic_surface_is_read_on_a_grid_over_the_runs_axes():
    pictures = RunPictures("plots", CFG, toy())
    lo, hi = plot_limits(RING, 0.05)
    assert pictures.points.shape == (120 * 120, 2)
    np.testing.assert_allclose(pictures.points[0], [lo, lo])
    np.testing.assert_allclose(pictures.points[-1], [hi, hi])
    step = (hi - lo) / 119
    np.testing.assert_allclose(pictures.points[1], [lo, lo + step])  # the first coordinate is the major one
    np.testing.assert_allclose(pictures.points[120], [lo + step, lo])


def test_a_1d_critic_surface_is_read_along_the_line_and_images_have_none():
    line = RunPictures("plots", CFG, toy(np.array([[-2.0], [2.0]]), 0.5))
    np.testing.assert_allclose(line.points[:, 0], np.linspace(-4.0, 4.0, 400))
    assert line.points.shape == (400, 1)
    assert RunPictures("plots", CFG, toy(np.zeros((2, 3)))).points is None  # 3-D: no surface to draw
    assert RunPictures("plots", CFG, images()).points is None


def test_a_snapshot_takes_the_frame_and_the_surface_on_the_runs_points():
    pictures, evaluator = RunPictures("plots", CFG, toy()), _Evaluator()
    snapshot = pictures.snapshot(evaluator, 20, keys=None)
    np.testing.assert_array_equal(snapshot.frame, np.full((1000, 2), 20.0))
    assert evaluator.surface_points is pictures.points and snapshot.surface.shape == (120 * 120, 2)
    assert RunPictures("plots", CFG, images()).snapshot(_Evaluator(), 20, keys=None).surface is None


def test_a_step_is_drawn_once_its_numbers_are_saved(tmp_path):
    pictures = RunPictures(tmp_path, CFG, toy())
    frame = np.arange(6, dtype=np.float32).reshape(3, 2)
    assert not pictures.has_step(20)
    pictures.complete(20, Snapshot(frame, None))
    assert pictures.has_step(20) and not pictures.has_step(40)
    np.testing.assert_array_equal(np.load(tmp_path / "samples_0000020.npy"), frame)


def test_a_resume_removes_the_pictures_past_its_step_and_what_was_drawn_from_them(tmp_path):
    kept = ["samples_0000020.png", "samples_0000020.npy", "critic_0000020.png", "metrics.png"]
    stale = ["samples_0000040.png", "samples_0000040.npy", "critic_0000040.png"]
    derived = ["samples.gif", "curves.png", "samples_final.png", "critic_final.png"]
    for name in kept + stale + derived:
        (tmp_path / name).write_bytes(b"x")
    pictures = RunPictures(tmp_path, CFG, toy())
    pictures.truncate_after(40)  # nothing past step 40: what was drawn from the steps stays too
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept + stale + derived)
    pictures.truncate_after(20)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)
    RunPictures(tmp_path / "none", CFG, toy()).truncate_after(0)  # no plots/ yet: nothing to do


def test_rendering_a_toy_step_draws_its_figures_and_the_animation_up_to_it(tmp_path, drawn):
    pictures = RunPictures(tmp_path, CFG, toy())
    (tmp_path / "samples_0000010.png").write_bytes(b"earlier")
    (tmp_path / "samples_0000090.png").write_bytes(b"later")  # left by an attempt a resume went back from
    real, frame = np.zeros((5, 2)), np.ones((1000, 2), np.float32)
    surface = np.zeros((120 * 120, 2), np.float32)
    metrics, records = {"modes_captured": 7, "modes_total": 8}, [{"step": 30, "d_loss": 1.0}]
    figures = pictures.render(30, Snapshot(frame, surface), real, metrics, records, final=False)
    assert figures == {"samples": tmp_path / "samples_0000030.png", "critic": tmp_path / "critic_0000030.png"}
    by_name = {name: (path, args) for name, path, args in drawn}
    assert by_name["plot_samples"][1][-1] == "ensemble on ring, seed 3, step 30: 7/8 modes"
    assert by_name["plot_critic_surface"][1][2:4] == (["D(x)", "critic output v(x)"], ["gan", "hinge"])
    assert by_name["plot_curves"][1] == (records, "ensemble on ring, seed 3")
    frames = by_name["write_gif"][1][0]
    assert frames == [tmp_path / "samples_0000010.png", tmp_path / "samples_0000030.png"]  # not step 90's
    assert not list(tmp_path.glob("*_final.png"))


def test_the_final_step_is_copied_to_the_final_pictures(tmp_path, drawn):
    pictures = RunPictures(tmp_path, CFG, toy())
    snapshot = Snapshot(np.ones((1000, 2), np.float32), np.zeros((120 * 120, 2), np.float32))
    pictures.render(40, snapshot, np.zeros((5, 2)), {}, [{"step": 40}], final=True)
    for name in ("samples", "critic"):
        assert (tmp_path / f"{name}_final.png").read_bytes() == (tmp_path / f"{name}_0000040.png").read_bytes()


def test_an_image_run_draws_a_grid_of_its_samples_and_no_critic(tmp_path, drawn):
    pictures = RunPictures(tmp_path, CFG, images())
    frame = np.tile(np.linspace(0, 1, 16, dtype=np.float32), (4, 1))  # four 4x4 images, a ramp each
    figures = pictures.render(20, Snapshot(frame, None), np.zeros((4, 16)), {}, [{"step": 20}], final=False)
    assert figures == {"samples": tmp_path / "samples_0000020.png"}
    assert [name for name, _, _ in drawn] == ["plot_curves", "write_gif"]
    grid = np.asarray(Image.open(tmp_path / "samples_0000020.png"))
    assert grid.ndim == 2 and grid.shape == (2 * (56 + 2) + 2,) * 2  # 2 x 2 cells of 4 px scaled 14 times
    assert grid[2, 2] == 0 and grid[2 + 55, 2 + 55] == 255  # the ramp's first and last pixels


def test_drawing_here_and_now_leaves_the_step_complete(tmp_path, drawn):
    pictures = RunPictures(tmp_path, CFG, toy())
    drawn_now = pictures.draw(20, _Evaluator(), 20, None, np.zeros((5, 2)), {}, [{"step": 20}], final=False)
    assert set(drawn_now) == {"samples", "critic"} and pictures.has_step(20)
    np.testing.assert_array_equal(np.load(tmp_path / "samples_0000020.npy"), np.full((1000, 2), 20.0))
