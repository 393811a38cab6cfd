"""Sample-quality metrics of generated images (NumPy, host side), read through the evaluation classifier.

The toy data's metrics (gancli.evaluation.sample_metrics) measure samples against known mixture modes. Images have
no known density, so here the evaluation classifier (gancli.evaluation.classifier) stands in for it: its
predicted class (or digit triple, on stacked MNIST) is a sample's mode, its confidence says whether
the sample is a clear member of that mode, and its penultimate features are the space in which
the Frechet distance and the k-NN precision, recall, density and coverage compare real and
generated samples. The keys are those of evaluation.evaluate_samples plus frechet_distance.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from gancli.evaluation.classifier import Predictions
from gancli.evaluation.sample_metrics import knn_metrics

# What evaluate_images and pixel_metrics return, in order.
IMAGE_METRICS = ("modes_captured", "modes_total", "high_quality_fraction", "mode_kl", "frechet_distance",
                 "data_log_likelihood", "precision", "recall", "density", "coverage")
# A sample is high quality when the classifier gives its class at least this probability (the
# product over the channels on stacked data): the images' analogue of the toy data's "within 3
# std of a mode", a sample that clearly belongs to one mode rather than lying between them.
HIGH_QUALITY_CONFIDENCE = 0.9


class SampleClassifier(Protocol):
    """What the metrics need of gancli.evaluation.classifier.ImageClassifier."""

    def predict(self, samples: np.ndarray) -> Predictions: ...


def gaussian_frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """Frechet (2-Wasserstein squared) distance between N(mu1, cov1) and N(mu2, cov2):
    ||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2) (Heusel et al. 2017, FID).

    In float64 through symmetric eigendecompositions: S1^1/2 S2 S1^1/2 is symmetric positive
    semi-definite, so its square root's trace is the sum of the roots of its eigenvalues, and no
    general (complex) matrix square root is needed. Eigenvalues a rounding error below zero are
    clamped to zero: a rank-deficient covariance (fewer samples than features) has many."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.atleast_2d(np.asarray(cov1, np.float64)), np.atleast_2d(np.asarray(cov2, np.float64))
    values, vectors = np.linalg.eigh((cov1 + cov1.T) / 2)
    root1 = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    middle = root1 @ cov2 @ root1
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    distance = np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2.0 * cross
    return float(max(distance, 0.0))  # 0 exactly can come out as -1e-12


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """gaussian_frechet_distance between Gaussians fitted to two sets of features (n, d).

    With more features than samples (pixels of large images: d = 12,288 at 64x64x3), the same
    value from the samples instead: with A, B the centred sets over sqrt(n - 1), S1 = A'A and
    S2 = B'B, and tr (S1^1/2 S2 S1^1/2)^1/2 is the sum of the singular values of A B' (n x m),
    whose squares are the nonzero eigenvalues of S1 S2: no d x d matrix is formed."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if real.shape[1] <= min(len(real), len(fake)):
        return gaussian_frechet_distance(real.mean(0), np.cov(real, rowvar=False),
                                         fake.mean(0), np.cov(fake, rowvar=False))
    a = (real - real.mean(0)) / np.sqrt(len(real) - 1)
    b = (fake - fake.mean(0)) / np.sqrt(len(fake) - 1)
    cross = np.linalg.svd(a @ b.T, compute_uv=False).sum()
    distance = np.sum((real.mean(0) - fake.mean(0)) ** 2) + np.sum(a**2) + np.sum(b**2) - 2.0 * cross
    return float(max(distance, 0.0))


def mode_counts(labels: np.ndarray, modes: int) -> dict[str, float | int]:
    """Modes captured (predicted for at least one sample: VEEGAN, Srivastava et al. 2017; PacGAN,
    Lin et al. 2018) and KL(h || uniform) of the histogram h of predicted modes, sum h log(h modes):
    0 when every mode gets the same share, log(modes) when one mode gets every sample."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= modes):
        raise ValueError(f"mode labels must lie in [0, {modes}), got [{labels.min()}, {labels.max()}]")
    share = np.bincount(labels, minlength=modes) / max(labels.size, 1)
    held = share[share > 0]
    return {"modes_captured": int(held.size), "modes_total": int(modes),
            "mode_kl": float(np.sum(held * np.log(held * modes)))}


def feature_metrics(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """Frechet distance and k-NN precision, recall, density and coverage of two feature sets."""
    return {"frechet_distance": frechet_distance(real, fake),
            **knn_metrics(real, fake, k_pr=3, k_dc=5)}  # the papers' defaults, as for toy data


def evaluate_images(real: np.ndarray, fake: np.ndarray, classifier: SampleClassifier, modes: int,
                    mode_fake: np.ndarray | None = None) -> dict[str, float | int | None]:
    """Every metric of generated images `fake` against real images, both flat (n, dim) in [-1, 1].

    The mode counts (modes captured, mode KL) and the high-quality fraction are taken over
    `mode_fake` when given, a larger generated set (26,000 samples for stacked MNIST's 1,000 modes
    in VEEGAN's and PacGAN's protocol), else over `fake`; the Frechet distance and the k-NN
    metrics compare the classifier features of `real` and `fake`, which should be the same size."""
    real_read, fake_read = classifier.predict(real), classifier.predict(fake)
    counted = fake_read if mode_fake is None else classifier.predict(mode_fake)
    counts = mode_counts(counted.labels, modes)
    metrics = {
        **counts,
        "high_quality_fraction": float(np.mean(counted.confidence >= HIGH_QUALITY_CONFIDENCE)),
        "data_log_likelihood": None,  # images have no known density
        **feature_metrics(real_read.features, fake_read.features),
    }
    return {name: metrics[name] for name in IMAGE_METRICS}


def pixel_metrics(real: np.ndarray, fake: np.ndarray) -> dict[str, float | int | None]:
    """The metrics of unlabelled images: with no labels there is no classifier, hence no modes, no
    confidence and no learned feature space; the Frechet distance and the k-NN metrics are taken
    on the raw pixels instead, which rank samples by pixel distance (cruder than features: a
    shift of one pixel looks far), so compare their values only between runs on the same data."""
    metrics = {"modes_captured": None, "modes_total": None, "high_quality_fraction": None, "mode_kl": None,
               "data_log_likelihood": None, **feature_metrics(real, fake)}
    return {name: metrics[name] for name in IMAGE_METRICS}
