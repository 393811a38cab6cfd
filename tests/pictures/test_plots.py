"""gancli.pictures.plots: what each figure of a run draws (read back from the figure's artists,
not from pixels), on the run's axis limits, and the files it writes: whole or not at all."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import gancli.pictures.plots as plots
from gancli.pictures.limits import plot_limits
from gancli.pictures.plots import (
    draw_samples,
    plot_critic_1d,
    plot_critic_2d,
    plot_critic_surface,
    plot_curves,
    plot_samples,
    plt,
    principal_plane,
    save_figure,
    write_gif,
)


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plot functions would save, kept open to be read back (no PNG is drawn)."""
    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path, tight=True: figures.append(fig))
    yield figures
    for fig in figures:
        plt.close(fig)


def panels(fig):
    """The figure's titled axes: its panels, without colour bars or hidden ones."""
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]


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


def test_a_saved_figure_is_written_whole_and_closed(tmp_path):
    fig = plt.figure(figsize=(1, 1), dpi=20)
    save_figure(fig, tmp_path / "new" / "a.png")  # the folder is made
    assert Image.open(tmp_path / "new" / "a.png").format == "PNG"
    assert fig.number not in plt.get_fignums()  # a run draws hundreds: none may stay open
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["a.png"]


def test_a_figure_that_fails_to_save_is_closed_and_leaves_the_old_picture(tmp_path, monkeypatch):
    (tmp_path / "a.png").write_bytes(b"old picture")
    fig = plt.figure(figsize=(1, 1), dpi=20)

    def full_disk(path, **_):
        path.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fig, "savefig", full_disk)
    with pytest.raises(OSError, match="No space left") as raised:
        save_figure(fig, tmp_path / "a.png")
    assert raised.value.filename == str(tmp_path / "a.png")  # the error names the picture, not a temporary file
    assert fig.number not in plt.get_fignums()
    assert (tmp_path / "a.png").read_bytes() == b"old picture"
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_one_dimensional_samples_are_histograms_with_the_modes_marked():
    rng = np.random.default_rng(1)
    real, fake, centres = rng.normal(size=(300, 1)), rng.normal(size=(200, 1)) + 1, np.array([[-2.0], [2.0]])
    fig, ax = plt.subplots()
    try:
        draw_samples(ax, real, fake, centres, 0.5)
        assert ax.get_xlim() == pytest.approx(plot_limits(centres, 0.5))
        assert [line.get_xdata()[0] for line in ax.lines] == [-2.0, 2.0]  # one dotted line per mode
        heights = [sum(p.get_height() * p.get_width() for p in c) for c in ax.containers]
        assert heights == [pytest.approx(1.0), pytest.approx(1.0)]  # two density histograms
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["data", "generated"]
    finally:
        plt.close(fig)


def test_two_dimensional_samples_are_scattered_on_the_runs_square_axes():
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(50, 2)), rng.normal(size=(40, 2))
    centres = np.array([[1.0, 0.0], [-1.0, 0.0]])
    fig, ax = plt.subplots()
    try:
        draw_samples(ax, real, fake, centres, 0.01, legend=False)
        limits = plot_limits(centres, 0.01)
        assert ax.get_xlim() == pytest.approx(limits) and ax.get_ylim() == pytest.approx(limits)
        offsets = [c.get_offsets() for c in ax.collections]
        np.testing.assert_allclose(offsets[0], real)
        np.testing.assert_allclose(offsets[1], fake)
        np.testing.assert_allclose(offsets[2], centres)
        assert ax.get_legend() is None
    finally:
        plt.close(fig)


def test_the_1d_critic_figure_has_a_panel_per_curve_and_the_optimum_where_known(drawn, tmp_path):
    x = np.linspace(-1, 1, 7)
    plot_critic_1d(tmp_path / "c.png", x, [(x**2, np.abs(x), "T(x)"), (-x, None, "D(x)")], "critic")
    (fig,) = drawn
    first, second = fig.axes  # panels with no title of their own: the figure has one
    assert [line.get_label() for line in first.lines] == ["optimal", "learned"]
    np.testing.assert_allclose(first.lines[0].get_ydata(), np.abs(x))
    np.testing.assert_allclose(first.lines[1].get_ydata(), x**2)
    assert [line.get_label() for line in second.lines] == ["learned"]  # no optimum known: none drawn
    assert (first.get_ylabel(), second.get_ylabel()) == ("T(x)", "D(x)")


def test_the_2d_critic_heatmaps_share_the_optimums_colour_scale(drawn, tmp_path):
    xs, ys = np.linspace(-1, 1, 5), np.linspace(-1, 1, 4)
    learned = np.arange(20.0).reshape(5, 4)
    optimal = 100 + np.arange(20.0).reshape(5, 4) ** 2
    plot_critic_2d(tmp_path / "c.png", xs, ys, learned, optimal, "T(x)", "critic")
    plot_critic_2d(tmp_path / "d.png", xs, ys, learned, None, "T(x)", "critic")
    both, alone = drawn
    meshes = [ax.collections[0] for ax in panels(both)]
    assert [ax.get_title() for ax in panels(both)] == ["learned T(x)", "optimal T(x)"]
    np.testing.assert_allclose(np.asarray(meshes[0].get_array()).ravel(), learned.T.ravel())  # x across, y up
    expected = tuple(np.percentile(optimal, [1, 99]))
    assert [m.get_clim() for m in meshes] == [pytest.approx(expected)] * 2
    assert [ax.get_title() for ax in panels(alone)] == ["learned T(x)"]
    assert panels(alone)[0].collections[0].get_clim() == pytest.approx(tuple(np.percentile(learned, [1, 99])))


def test_the_critic_surface_has_a_heatmap_per_head_over_the_grid(drawn, tmp_path):
    axis = np.linspace(-2, 2, 4)
    values = np.stack([np.arange(16.0), -np.arange(16.0)], axis=1)  # point i is (axis[i // 4], axis[i % 4])
    real, fake = np.zeros((3, 2)), np.ones((2, 2))
    plot_critic_surface(tmp_path / "c.png", axis, values, ["T(x)", "T(x)"], ["kl", "reverse_kl"], real, fake, "t")
    (fig,) = drawn
    heads = panels(fig)
    assert [ax.get_title() for ax in heads] == ["T(x) of kl", "T(x) of reverse_kl"]
    for h, ax in enumerate(heads):
        mesh, data, generated = ax.collections
        grid = np.array([[values[4 * i + j, h] for j in range(4)] for i in range(4)])  # grid[i, j] at (x_i, y_j)
        np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(4, 4), grid.T)
        np.testing.assert_allclose(data.get_offsets(), real)
        np.testing.assert_allclose(generated.get_offsets(), fake)
        assert ax.get_xlim() == (-2.0, 2.0) and ax.get_ylim() == (-2.0, 2.0)


def test_the_1d_critic_surface_is_a_curve_over_the_line(drawn, tmp_path):
    axis = np.linspace(-3, 3, 5)
    values = np.array([[0.1], [0.2], [0.9], [0.2], [0.1]])
    plot_critic_surface(tmp_path / "c.png", axis, values, ["D(x)"], ["gan"], np.zeros((4, 1)), np.ones((4, 1)), "t")
    (fig,) = drawn
    (ax,) = [ax for ax in panels(fig) if ax.lines]
    assert ax.get_title() == "D(x)"  # one head: named by what it shows alone
    np.testing.assert_allclose(ax.lines[0].get_xdata(), axis)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), values[:, 0])


def test_curves_show_a_panel_per_kind_of_metric_the_run_has(drawn, tmp_path):
    records = [{"step": 10, "d_loss": 1.0, "g_loss": 0.5},
               {"step": 20, "d_loss": 0.9, "g_loss": 0.6, "modes_captured": 3, "modes_total": 8,
                "divergence_estimate": 0.2, "divergence_estimate/kl": 0.4, "d_real": 0.6, "d_fake": None}]
    plot_curves(tmp_path / "curves.png", records, "run")
    (fig,) = drawn
    shown = {ax.get_title(): ax for ax in panels(fig)}
    assert list(shown) == ["training objectives", "divergence estimate", "sample quality",
                           "discriminator's mean output"]
    assert sum(ax.get_visible() for ax in fig.axes) == 4  # a 2 x 3 layout: its two spare axes are hidden
    lines = {name: {line.get_label(): line for line in ax.lines} for name, ax in shown.items()}
    assert list(lines["divergence estimate"]) == ["divergence_estimate", "kl"]  # each ensemble member by name
    np.testing.assert_allclose(lines["sample quality"]["modes_fraction"].get_ydata(), [3 / 8])
    np.testing.assert_allclose(lines["training objectives"]["d_loss"].get_xdata(), [10, 20])
    assert list(lines["discriminator's mean output"]) == ["d_real", "1/2 (optimum)"]  # d_fake has no value


def test_the_gif_holds_its_last_frame_longer_and_needs_frames(tmp_path):
    frames = []
    for i, colour in enumerate(["red", "green", "blue"]):
        frames.append(tmp_path / f"{i}.png")
        Image.new("RGB", (8, 8), colour).save(frames[-1])
    write_gif(tmp_path / "a.gif", frames, frame_ms=100)
    gif = Image.open(tmp_path / "a.gif")
    durations = []
    for i in range(gif.n_frames):
        gif.seek(i)
        durations.append(gif.info["duration"])
    assert durations == [100, 100, 400]
    write_gif(tmp_path / "none.gif", [])
    assert not (tmp_path / "none.gif").exists()
