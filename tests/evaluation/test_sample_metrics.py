"""Sample-quality metrics on constructed samples whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from gancli.data.densities import GaussianMixture
from gancli.evaluation.sample_metrics import (
    SAMPLE_METRICS,
    density_coverage,
    evaluate_samples,
    mode_coverage,
    mode_histogram_kl,
    precision_recall,
)
from gancli.run_dir.files import MetricsLog

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


def test_mode_histogram_kl_is_zero_for_equal_shares_and_log_k_for_one_mode():
    assert mode_histogram_kl(np.repeat(CENTRES, 10, axis=0), CENTRES, std=0.01) == pytest.approx(0.0)
    one_mode = np.tile(CENTRES[1], (20, 1))
    assert mode_histogram_kl(one_mode, CENTRES, std=0.01) == pytest.approx(np.log(4))
    halves = np.repeat(CENTRES[:2], 10, axis=0)  # two of four modes, equally: KL = log 2
    assert mode_histogram_kl(halves, CENTRES, std=0.01) == pytest.approx(np.log(2))
    assert mode_histogram_kl(np.zeros((5, 2)), CENTRES, std=0.01) is None  # no high-quality sample


def _blobs(centres, n, seed, std=0.05):
    rng = np.random.default_rng(seed)
    return np.repeat(centres, n, axis=0) + std * rng.normal(size=(len(centres) * n, 2))


def test_identical_sets_have_full_precision_recall_and_coverage():
    real = _blobs(CENTRES, 50, seed=0)
    assert precision_recall(real, real.copy()) == {"precision": 1.0, "recall": 1.0}
    assert density_coverage(real, real.copy())["coverage"] == 1.0


def test_far_apart_sets_score_zero():
    real, fake = _blobs(CENTRES, 50, seed=0), _blobs(CENTRES + 10.0, 50, seed=1)
    assert precision_recall(real, fake) == {"precision": 0.0, "recall": 0.0}
    assert density_coverage(real, fake) == {"density": 0.0, "coverage": 0.0}


def test_dropping_half_the_modes_halves_recall_and_coverage_not_precision():
    real = _blobs(CENTRES, 100, seed=0)
    fake = _blobs(CENTRES[:2], 200, seed=1)  # all of the mass on two of the four modes
    pr, dc = precision_recall(real, fake), density_coverage(real, fake)
    assert pr["precision"] > 0.95 and pr["recall"] == pytest.approx(0.5, abs=0.03)
    assert dc["coverage"] == pytest.approx(0.5, abs=0.03)


def test_density_is_about_one_when_fake_follows_the_real_distribution():
    """Naeem et al. 2020: E[density] = 1 when both sets come from the same distribution."""
    real, fake = _blobs(CENTRES, 500, seed=0), _blobs(CENTRES, 500, seed=1)
    assert density_coverage(real, fake)["density"] == pytest.approx(1.0, abs=0.1)


def test_evaluate_samples_gives_every_metric():
    data = GaussianMixture.isotropic(CENTRES, 0.05)
    real, fake = _blobs(CENTRES, 50, seed=0), np.repeat(CENTRES, 50, axis=0)
    result = evaluate_samples(real, fake, data)
    assert tuple(result) == SAMPLE_METRICS
    assert result["modes_captured"] == 4 and result["mode_kl"] == pytest.approx(0.0)
    # every fake sample sits on a mode: the density there, log(1/4 N(0; 0, 0.05^2 I)).
    assert result["data_log_likelihood"] == pytest.approx(np.log(0.25 / (2 * np.pi * 0.05**2)), rel=1e-6)


def _brute_force_knn(real, fake, k_pr, k_dc):
    """The k-NN metrics straight from their definitions, with full distance matrices."""
    def dist(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    real_r = np.sort(dist(real, real), axis=1)  # column 0: the point itself
    fake_r = np.sort(dist(fake, fake), axis=1)
    cross = dist(real, fake)
    in_dc = cross <= real_r[:, k_dc][:, None]
    return {"precision": (cross <= real_r[:, k_pr][:, None]).any(axis=0).mean(),
            "recall": (cross <= fake_r[:, k_pr][None, :]).any(axis=1).mean(),
            "density": in_dc.sum() / (k_dc * len(fake)), "coverage": in_dc.any(axis=1).mean()}


def test_the_blocked_knn_metrics_equal_their_definitions():
    """Computed a block of rows at a time (sizes that are not multiples of the block), with the
    real samples' radii cached between calls: the same numbers as the definitions give."""
    rng = np.random.default_rng(3)
    real = _blobs(CENTRES, 150, seed=4)  # 600 rows: two whole blocks and a part
    for n_fake in (37, 600, 700):
        fake = _blobs(CENTRES[:3], 1, seed=n_fake)[rng.integers(0, 3, n_fake)] + 0.05 * rng.normal(size=(n_fake, 2))
        expected = _brute_force_knn(real, fake, 3, 5)
        got = {**precision_recall(real, fake), **density_coverage(real, fake, k=5)}
        got_pr3 = density_coverage(real, fake, k=3)
        for name in ("precision", "recall", "coverage"):
            assert got[name] == pytest.approx(expected[name], abs=1e-12), (n_fake, name)
        assert got["density"] == pytest.approx(expected["density"], abs=1e-12)
        assert got_pr3["density"] == pytest.approx(_brute_force_knn(real, fake, 3, 3)["density"], abs=1e-12)
