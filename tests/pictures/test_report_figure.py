"""gancli.pictures.report_figure: how report.png lays out the runs of a report (a row per group and
a column per seed when the seed varies, else rows of five), what each panel is titled, and what it
shows, read back from the figure before it is saved. The runs are written by hand in tmp_path."""

from __future__ import annotations

import numpy as np
import pytest

import gancli.pictures.report_figure as report_figure
from gancli.pictures.report_figure import _label, _layout, plot_report
from gancli.run_dir.records import RunRecord

RING = {"name": "ring", "modes": 8, "radius": 1.0, "std": 0.01}


def record(path, divergence="kl", seed=0, summary=None, failure=None, data=RING, last_step=None):
    return RunRecord(path=path, name=f"{divergence}-{seed}", raw_config={"data": data, "seed": seed},
                     config={"divergence.name": divergence, "seed": seed}, summary=summary, failure=failure,
                     last_step=last_step)


@pytest.fixture
def drawn(monkeypatch):
    """The figure plot_report would save, kept open to be read back."""
    figures = []
    monkeypatch.setattr(report_figure, "save_figure", lambda fig, path: figures.append(fig))
    yield figures
    for fig in figures:
        report_figure.plt.close(fig)


def test_without_a_varying_seed_the_runs_fill_rows_of_five(tmp_path):
    runs = [record(tmp_path / str(i), divergence=f"d{i}") for i in range(7)]
    rows = _layout(runs, ["divergence.name"])
    assert rows == [runs[:5], runs[5:] + [None, None, None]]
    assert _layout(runs[:3], ["divergence.name"]) == [runs[:3]]  # fewer than five: one row as wide as they are


def test_with_a_varying_seed_each_group_is_a_row_and_each_seed_a_column(tmp_path):
    runs = [record(tmp_path / f"{d}{s}", divergence=d, seed=s)
            for d, s in (("kl", 0), ("gan", 0), ("kl", 1), ("js", 0), ("gan", 1))]
    rows = _layout(runs, ["divergence.name", "seed"])
    by_name = {run.name: run for run in runs}
    assert [[run and run.name for run in row] for row in rows] == [["kl-0", "kl-1"], ["gan-0", "gan-1"],
                                                                   ["js-0", None]]
    assert rows[0][1] is by_name["kl-1"]


def test_a_panel_is_titled_by_its_settings_and_how_the_run_ended(tmp_path):
    keys = ["divergence.name", "seed"]
    finished = record(tmp_path, summary={"step": 40, "modes_captured": 7, "modes_total": 8,
                                         "high_quality_fraction": 0.9})
    assert _label(finished, keys) == "divergence=kl, seed=0\n7/8 modes, 90% high quality"
    failed = record(tmp_path, failure={"step": 30, "error": "the loss is not finite (nan); see failure.json"})
    assert _label(failed, keys) == "divergence=kl, seed=0\nfailed at step 30: the loss is not finite"
    assert _label(record(tmp_path, last_step=20), keys) == "divergence=kl, seed=0\nstopped at step 20"
    long_error = record(tmp_path, failure={"step": 1, "error": "x" * 200})
    assert len(_label(long_error, keys).split("\n")[1]) == 60  # a long reason is cut short


def test_the_report_shows_each_runs_final_samples_or_says_it_has_none(tmp_path, drawn):
    frame = np.array([[0.5, 0.5], [-0.5, 0.25], [0.0, -1.0]], np.float32)
    (tmp_path / "a" / "plots").mkdir(parents=True)
    np.save(tmp_path / "a" / "plots" / "samples_0000040.npy", frame)
    with_samples = record(tmp_path / "a", seed=0, summary={"step": 40})
    without = record(tmp_path / "b", seed=1, summary={"step": 40})  # its frame was never saved
    unreadable = record(tmp_path / "c", divergence="gan", data={"name": "no such data"})
    keys = ["divergence.name", "seed"]
    plot_report(tmp_path / "report.png", [with_samples, without, unreadable], keys)
    (fig,) = drawn
    axes = np.array(fig.axes).reshape(2, 2)  # kl: seeds 0 and 1; gan: seed 0 and an empty place
    assert [ax.get_title() for ax in axes.flat] == [_label(with_samples, keys), _label(without, keys),
                                                    _label(unreadable, keys), ""]
    np.testing.assert_allclose(axes[0, 0].collections[1].get_offsets(), frame)  # generated over the data
    assert len(axes[0, 0].collections[0].get_offsets()) == report_figure.REAL_SAMPLES
    for ax in (axes[0, 1], axes[1, 0]):
        assert [text.get_text() for text in ax.texts] == ["no samples saved"]
    assert not axes[1, 1].get_visible()
