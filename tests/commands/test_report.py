"""`gancli report`: the tables and the figure over a sweep, built from the files its runs leave."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
import yaml
from PIL import Image

from gancli.commands.report import differing_keys, write_report
from gancli.errors import GancliError
from gancli.run_dir.records import final_samples, find_runs
from tests.helpers import command_config, compose_raw


def make_run(path, summary=None, steps=(), frame=None, **overrides):
    """A run directory as `gancli train` leaves it: .hydra/config.yaml, metrics.jsonl, summary.json
    and the final snapshot, with made-up numbers."""
    raw = compose_raw(*(f"{k}={v}" for k, v in overrides.items()))
    (path / ".hydra").mkdir(parents=True)
    (path / ".hydra" / "config.yaml").write_text(yaml.safe_dump(raw))
    (path / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "d_loss": 1.0}) + "\n" for s in steps))
    if summary is not None:
        (path / "summary.json").write_text(json.dumps({"step": steps[-1] if steps else 0, "modes_total": 8,
                                                       **summary}))
    if frame is not None:
        (path / "plots").mkdir()
        np.save(path / "plots" / f"samples_{steps[-1]:07d}.npy", frame)
    return path


def summary(hq, modes=8, **more):
    return {"high_quality_fraction": hq, "modes_captured": modes, "mode_kl": 0.1, "precision": 0.9,
            "recall": 0.8, "coverage": 0.7, "critic_estimate": -1.0, **more}


@pytest.fixture
def sweep(tmp_path):
    """divergence=pearson,gan x seed=0,1,2, Hydra's job numbering; job 5 never finished."""
    ring = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    hq = {("pearson", 0): 0.5, ("pearson", 1): 0.7, ("pearson", 2): 0.9, ("gan", 0): 0.95, ("gan", 1): 0.97}
    job = 0
    for divergence in ("pearson", "gan"):
        for seed in (0, 1, 2):
            done = (divergence, seed) in hq
            make_run(tmp_path / "sweep" / str(job), summary(hq[divergence, seed]) if done else None,
                     steps=(100, 200) if done else (100,), frame=ring if done else None,
                     divergence=divergence, seed=seed, **{"train.progress": "false" if job % 2 else "true"})
            job += 1
    return tmp_path / "sweep"


def test_runs_are_found_in_job_order_and_only_their_differences_are_columns(sweep):
    runs = find_runs([sweep])
    assert [r.name for r in runs] == ["0", "1", "2", "3", "4", "5"]
    assert differing_keys(runs) == ["divergence.name", "seed"]  # train.progress differs but is not the experiment
    assert [r.status for r in runs] == ["finished"] * 5 + ["stopped at step 100"]


def test_the_report_groups_seeds_into_mean_and_std(sweep):
    written = write_report(command_config("report", dirs=[str(sweep)],
                                          metrics=["high_quality_fraction", "modes_captured"]))
    text = (sweep / "report.md").read_text()
    assert written["report"] == str(sweep / "report.md") and written["runs"] == 6 and written["finished"] == 5
    grouped = text.split("## Mean ± std over seeds")[1].split("## Every run")[0]
    assert "| divergence | seeds | high_quality_fraction | modes_captured |" in grouped
    # pearson: 0.5, 0.7, 0.9 -> mean 0.7, sample std 0.2; gan: 0.95, 0.97 (seed 2 unfinished) -> 0.96, 0.014
    assert "| pearson | 3 | 0.7 ± 0.2 | 8 ± 0 |" in grouped
    assert "| gan | 2 | 0.96 ± 0.014 | 8 ± 0 |" in grouped
    every = text.split("## Every run")[1]
    assert "| 5 | gan | 2 | stopped at step 100 | - | - |" in every
    assert "| 0 | pearson | 0 | finished | 0.5 | 8 |" in every


def test_the_csv_has_a_row_per_run_with_every_metric(sweep):
    write_report(command_config("report", dirs=[str(sweep)]))
    rows = list(csv.DictReader(io.StringIO((sweep / "report.csv").read_text())))
    assert [r["run"] for r in rows] == ["0", "1", "2", "3", "4", "5"]
    assert rows[2]["divergence.name"] == "pearson" and rows[2]["seed"] == "2"
    assert float(rows[2]["high_quality_fraction"]) == 0.9 and rows[2]["critic_estimate"] == "-1.0"
    assert rows[5]["status"] == "stopped at step 100" and rows[5]["high_quality_fraction"] == ""


def test_the_figure_has_a_row_per_group_and_a_column_per_seed(sweep):
    write_report(command_config("report", dirs=[str(sweep)]))
    width, height = Image.open(sweep / "report.png").size
    assert width > height  # 2 rows (pearson, gan) x 3 columns (seeds)


def test_runs_from_several_directories_report_into_the_current_one(tmp_path, monkeypatch):
    a = make_run(tmp_path / "a", summary(0.5), steps=(10,), divergence="pearson")
    b = make_run(tmp_path / "b", summary(0.6), steps=(10,), divergence="js")
    monkeypatch.chdir(tmp_path)
    written = write_report(command_config("report", dirs=[str(a), str(b)], out="reports"))
    assert written["report"] == "reports/report.md"
    text = (tmp_path / "reports" / "report.md").read_text()
    assert "Mean ± std" not in text  # the seed does not vary: no grouping
    assert "| a | pearson | finished |" in text and "| b | js | finished |" in text


def test_the_report_refuses_directories_without_runs(tmp_path):
    with pytest.raises(GancliError, match="holds no training run"):
        find_runs([tmp_path])
    with pytest.raises(GancliError, match="does not exist"):
        find_runs([tmp_path / "nope"])


def test_a_failed_run_says_why_and_stays_out_of_the_means(tmp_path):
    sweep = tmp_path / "sweep"
    make_run(sweep / "0", summary(0.5), steps=(10,), seed=0)
    failed = make_run(sweep / "1", summary(0.9), steps=(10,), seed=1)  # finished once, then failed on a resume
    (failed / "failure.json").write_text(json.dumps({"step": 1320, "error": "non-finite loss in steps 1301-1400; "
                                                     "lower optim.d.lr"}))
    runs = find_runs([sweep])
    assert [r.finished for r in runs] == [True, False]
    assert runs[1].status == "failed at step 1320: non-finite loss in steps 1301-1400"
    write_report(command_config("report", dirs=[str(sweep)], metrics=["high_quality_fraction"]))
    assert "| 1 | 0.5 |" in (sweep / "report.md").read_text()  # the mean over seeds counts the finished run only


def test_overlapping_directories_count_each_run_once(sweep):
    runs = find_runs([sweep, sweep / "0"])
    assert [r.name for r in runs] == ["sweep/0", "sweep/1", "sweep/2", "sweep/3", "sweep/4", "sweep/5"]


def test_runs_of_other_commands_are_left_out(sweep):
    estimate = sweep / "estimate_run"
    (estimate / ".hydra").mkdir(parents=True)
    (estimate / ".hydra" / "config.yaml").write_text("divergence: {name: kl}\n")
    (estimate / ".hydra" / "hydra.yaml").write_text("hydra: {job: {name: estimate}}\n")
    assert "estimate_run" not in [r.name for r in find_runs([sweep])]


def test_the_final_samples_are_those_of_the_final_step(tmp_path):
    """A snapshot past the summary's step (left by an abandoned attempt) is not the final one."""
    run = make_run(tmp_path / "run", summary(0.5), steps=(10, 20), frame=np.zeros((3, 2), np.float32))
    np.save(run / "plots" / "samples_0000030.npy", np.ones((3, 2), np.float32))
    (record,) = find_runs([run])
    np.testing.assert_array_equal(final_samples(record), np.zeros((3, 2)))


def test_runs_with_no_critic_get_the_default_metrics_they_have(tmp_path):
    no_critic = {k: v for k, v in summary(0.9).items() if k != "critic_estimate"}  # model=gmm divergence=mle
    make_run(tmp_path / "sweep" / "0", no_critic, steps=(10,), seed=0)
    make_run(tmp_path / "sweep" / "1", no_critic, steps=(10,), seed=1)
    write_report(command_config("report", dirs=[str(tmp_path / "sweep")]))
    text = (tmp_path / "sweep" / "report.md").read_text()
    assert "| high_quality_fraction |" in text and "critic_estimate" not in text


def test_bad_report_requests_are_refused(sweep, tmp_path):
    with pytest.raises(GancliError, match="metrics has 'modes_capturd', which no run's summary.json holds; "
                                          "choose from: .*modes_captured"):
        write_report(command_config("report", dirs=[str(sweep)], metrics=["modes_capturd"]))
    (tmp_path / "file.yaml").write_text("")
    with pytest.raises(GancliError, match="file.yaml is not a directory"):
        find_runs([tmp_path / "file.yaml"])
