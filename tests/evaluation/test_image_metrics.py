"""Image metrics: the Frechet distance against closed forms, mode counts on hand-made predictions,
and evaluate_images through a stub classifier whose predictions the test chooses."""

from __future__ import annotations

import numpy as np
import pytest

from gancli.evaluation.classifier import Predictions
from gancli.evaluation.image_metrics import (
    HIGH_QUALITY_CONFIDENCE,
    IMAGE_METRICS,
    evaluate_images,
    frechet_distance,
    gaussian_frechet_distance,
    mode_counts,
    pixel_metrics,
)
from gancli.evaluation.sample_metrics import density_coverage, precision_recall


def _features(n=400, d=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) @ rng.normal(size=(d, d))  # correlated: a full covariance


def test_frechet_distance_of_a_set_with_itself_is_zero():
    features = _features()
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_of_1d_gaussians():
    """(mu1 - mu2)^2 + (sigma1 - sigma2)^2."""
    assert gaussian_frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-2.0]), np.array([[0.25]])) \
        == pytest.approx(9.0 + 1.5**2)
    rng = np.random.default_rng(1)
    a, b = rng.normal(3.0, 2.0, size=(300, 1)), rng.normal(0.0, 0.5, size=(200, 1))
    expected = (a.mean() - b.mean()) ** 2 + (a.std(ddof=1) - b.std(ddof=1)) ** 2
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_of_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, -1.0])
    var1, var2 = np.array([1.0, 4.0, 9.0]), np.array([0.25, 4.0, 1.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
    assert gaussian_frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(expected)


def test_frechet_distance_against_an_identity_covariance():
    """With S1 = I the cross term is tr(S2^1/2): the sum of the roots of S2's eigenvalues."""
    s2 = np.cov(_features(seed=2), rowvar=False)
    mu = np.arange(5.0)
    expected = mu @ mu + 5 + np.trace(s2) - 2 * np.sqrt(np.linalg.eigvals(s2).real).sum()
    assert gaussian_frechet_distance(np.zeros(5), np.eye(5), mu, s2) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_is_symmetric_and_grows_with_a_mean_shift():
    a, b = _features(seed=3), _features(n=300, seed=4)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)
    direction = np.ones(5) / np.sqrt(5)
    distances = [frechet_distance(a, a + t * direction) for t in (0.0, 0.5, 1.0, 2.0)]
    assert distances == pytest.approx([0.0, 0.25, 1.0, 4.0], abs=1e-8)  # same covariance: ||shift||^2


def test_frechet_distance_of_rank_deficient_covariances_is_finite():
    """Fewer samples than features: singular covariances, eigenvalues a rounding error below 0."""
    a, b = _features(n=4, d=10, seed=5), _features(n=4, d=10, seed=6)
    assert np.isfinite(frechet_distance(a, b)) and frechet_distance(a, b) > 0


def test_mode_counts():
    assert mode_counts(np.repeat(np.arange(10), 7), 10) == {"modes_captured": 10, "modes_total": 10, "mode_kl": 0.0}
    one = mode_counts(np.full(50, 3), 10)
    assert one["modes_captured"] == 1 and one["mode_kl"] == pytest.approx(np.log(10))
    skewed = mode_counts(np.array([0, 0, 1, 2]), 4)  # shares 1/2, 1/4, 1/4, 0
    assert skewed["modes_captured"] == 3
    assert skewed["mode_kl"] == pytest.approx(0.5 * np.log(0.5 * 4) + 2 * 0.25 * np.log(0.25 * 4))
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        mode_counts(np.array([0, 4]), 4)


class ColumnClassifier:
    """A stub: a sample's column 0 is its mode, column 1 its confidence, the rest its features."""

    def predict(self, samples):
        samples = np.asarray(samples, dtype=np.float64)
        return Predictions(samples[:, 0].astype(np.int64), samples[:, 2:], samples[:, 1])


def _samples(modes, confidence, features):
    return np.column_stack([modes, confidence, features])


def test_evaluate_images_reads_the_classifier():
    rng = np.random.default_rng(7)
    real_features, fake_features = rng.normal(size=(60, 3)), rng.normal(0.3, 1.2, size=(60, 3))
    real = _samples(rng.integers(0, 5, 60), np.ones(60), real_features)
    confidence = np.where(np.arange(60) % 4 == 0, HIGH_QUALITY_CONFIDENCE - 0.01, HIGH_QUALITY_CONFIDENCE)
    fake = _samples(np.arange(60) % 2, confidence, fake_features)  # modes 0 and 1 only, a quarter unsure
    result = evaluate_images(real, fake, ColumnClassifier(), modes=5)
    assert tuple(result) == IMAGE_METRICS
    assert result["modes_captured"] == 2 and result["modes_total"] == 5
    assert result["mode_kl"] == pytest.approx(np.log(5 / 2))
    assert result["high_quality_fraction"] == pytest.approx(0.75)  # the threshold itself counts as high
    assert result["data_log_likelihood"] is None
    assert result["frechet_distance"] == pytest.approx(frechet_distance(real_features, fake_features))
    expected = {**precision_recall(real_features, fake_features, k=3),
                **density_coverage(real_features, fake_features, k=5)}
    assert {name: result[name] for name in expected} == pytest.approx(expected)


def test_mode_fake_is_the_set_counted_when_given():
    rng = np.random.default_rng(8)
    real = _samples(np.arange(40) % 4, np.ones(40), rng.normal(size=(40, 2)))
    fake = _samples(np.zeros(40), np.ones(40), rng.normal(size=(40, 2)))
    many = _samples(np.arange(400) % 4, np.full(400, 0.5), rng.normal(size=(400, 2)))
    alone, counted = evaluate_images(real, fake, ColumnClassifier(), 4), \
        evaluate_images(real, fake, ColumnClassifier(), 4, mode_fake=many)
    assert (alone["modes_captured"], counted["modes_captured"]) == (1, 4)
    assert counted["mode_kl"] == pytest.approx(0.0) and counted["high_quality_fraction"] == 0.0
    assert counted["frechet_distance"] == alone["frechet_distance"]  # features still from `fake`
    assert counted["precision"] == alone["precision"]


def test_pixel_metrics_compare_raw_pixels():
    rng = np.random.default_rng(9)
    real, fake = rng.uniform(-1, 1, size=(50, 16)), rng.uniform(-0.5, 1, size=(50, 16))
    result = pixel_metrics(real, fake)
    assert tuple(result) == IMAGE_METRICS
    assert all(result[name] is None for name in ("modes_captured", "modes_total", "high_quality_fraction",
                                                  "mode_kl", "data_log_likelihood"))
    assert result["frechet_distance"] == pytest.approx(frechet_distance(real, fake))
    expected = {**precision_recall(real, fake, k=3), **density_coverage(real, fake, k=5)}
    assert {name: result[name] for name in expected} == pytest.approx(expected)


def test_frechet_distance_with_more_features_than_samples_matches_the_covariance_form():
    """Pixels of large images have more features than samples: the sample-space form gives the
    covariance form's value without a d x d matrix."""
    from gancli.evaluation.image_metrics import gaussian_frechet_distance

    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(30, 80)), rng.normal(0.3, 1.5, size=(25, 80))
    expected = gaussian_frechet_distance(real.mean(0), np.cov(real, rowvar=False), fake.mean(0),
                                         np.cov(fake, rowvar=False))
    assert frechet_distance(real, fake) == pytest.approx(expected, rel=1e-6)  # eigh of a rank-29 80x80: ~1e-8
    assert frechet_distance(real, real) == pytest.approx(0.0, abs=1e-9)
