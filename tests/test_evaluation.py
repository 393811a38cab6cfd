"""Mode coverage on constructed samples whose answers are known."""

from __future__ import annotations

import numpy as np

from gancli.evaluation import mode_coverage
from gancli.run_files import MetricsLog

CENTRES = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])


def test_samples_on_every_mode_capture_all():
    samples = np.repeat(CENTRES, 10, axis=0)
    assert mode_coverage(samples, CENTRES, std=0.01) == {
        "modes_captured": 4, "modes_total": 4, "high_quality_fraction": 1.0}


def test_all_samples_on_one_mode_capture_one():
    samples = np.tile(CENTRES[2], (50, 1)) + 0.005
    result = mode_coverage(samples, CENTRES, std=0.01)
    assert result["modes_captured"] == 1 and result["high_quality_fraction"] == 1.0


def test_samples_far_from_every_mode_are_low_quality():
    samples = np.zeros((30, 2))  # the centre of the ring: distance 1 from each mode
    result = mode_coverage(samples, CENTRES, std=0.01)
    assert result["modes_captured"] == 0 and result["high_quality_fraction"] == 0.0


def test_the_3_std_threshold():
    inside = CENTRES[0] + [0.029, 0.0]
    outside = CENTRES[1] + [0.0, 0.031]
    result = mode_coverage(np.stack([inside, outside]), CENTRES, std=0.01)
    assert result["high_quality_fraction"] == 0.5 and result["modes_captured"] == 1


def test_metrics_log_truncates_and_appends(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    log.truncate_after(0)  # no file yet: nothing to do
    log.append([{"step": s, "d_loss": float(s)} for s in (10, 20, 30)])
    log.truncate_after(20)
    assert [r["step"] for r in log.read()] == [10, 20]
    log.append([{"step": 30, "d_loss": 3.0}])
    assert log.read()[-1] == {"step": 30, "d_loss": 3.0}
