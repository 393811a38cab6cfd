"""Sample-quality metrics (NumPy, host side): pure functions of samples and known modes.

On data with known modes: modes captured, high-quality fraction and the mode-histogram KL. For
any data: k-nearest-neighbour precision and recall (Kynkaanniemi et al. 2019) and density and
coverage (Naeem et al. 2020).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gancli.data.densities import GaussianMixture


def _nearest_modes(samples: np.ndarray, centres: np.ndarray, std: float,
                   threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(index of each sample's nearest mode, whether it lies within threshold * std of it)."""
    samples = np.asarray(samples, dtype=np.float64)
    centres = np.asarray(centres, dtype=np.float64)
    dist = np.sqrt(((samples[:, None, :] - centres[None, :, :]) ** 2).sum(-1))
    nearest = dist.argmin(axis=1)
    return nearest, dist[np.arange(len(samples)), nearest] <= threshold * std


def mode_coverage(samples: np.ndarray, centres: np.ndarray, std: float, threshold: float = 3.0) -> dict[str, float]:
    """Modes captured and high-quality fraction (the measures of Srivastava et al., VEEGAN, 2017).

    A sample is high quality when it lies within `threshold` standard deviations of its
    nearest mode; a mode is captured when it is the nearest mode of at least one
    high-quality sample.
    """
    nearest, good = _nearest_modes(samples, centres, std, threshold)
    captured = np.unique(nearest[good])
    return {
        "modes_captured": int(captured.size),
        "modes_total": int(len(centres)),
        "high_quality_fraction": float(good.mean()) if len(good) else 0.0,
    }


def mode_histogram_kl(samples: np.ndarray, centres: np.ndarray, std: float, threshold: float = 3.0) -> float | None:
    """KL(h || uniform) of the high-quality samples' histogram h over the modes: 0 when every mode
    gets the same share, log(modes) when one mode gets them all; None with no high-quality sample."""
    nearest, good = _nearest_modes(samples, centres, std, threshold)
    if not good.any():
        return None
    share = np.bincount(nearest[good], minlength=len(centres)) / good.sum()
    held = share[share > 0]
    return float(np.sum(held * np.log(held * len(centres))))


ROW_BLOCK = 256  # rows of a distance matrix at a time: ~5 MB, reused in cache, not 50 MB of fresh pages


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between the rows of a and of b, shape (len(a), len(b)).

    Squared: the k-NN metrics only compare distances, and skipping the square root saves a pass
    over the matrix. In place, in float64 (the expansion cancels badly in float32)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    squared = a @ b.T
    squared *= -2.0
    squared += (a**2).sum(1)[:, None]
    squared += (b**2).sum(1)[None, :]
    return np.maximum(squared, 0.0, out=squared)


def _row_blocks(n: int) -> list[slice]:
    return [slice(start, min(start + ROW_BLOCK, n)) for start in range(0, n, ROW_BLOCK)]


def _kth_neighbour_radii(points: np.ndarray, ks: tuple[int, ...]) -> dict[int, np.ndarray]:
    """For each k: each point's squared distance to its k-th nearest other point of the set."""
    radii = {k: np.empty(len(points)) for k in ks}
    for rows in _row_blocks(len(points)):
        ordered = np.partition(_squared_distances(points[rows], points), max(ks), axis=1)[:, : max(ks) + 1]
        ordered.sort(axis=1)  # column 0 is the point itself, at distance 0
        for k in ks:
            radii[k][rows] = ordered[:, k]
    return radii


_real_radii_cache: dict[tuple[Any, ...], dict[int, np.ndarray]] = {}


def _real_radii(real: np.ndarray, ks: tuple[int, ...]) -> dict[int, np.ndarray]:
    """_kth_neighbour_radii of the real samples, which every evaluation of a run shares: computed
    once (the newest set only is kept)."""
    real = np.ascontiguousarray(real)
    key = (real.shape, real.dtype.str, real.tobytes(), ks)
    radii = _real_radii_cache.get(key)
    if radii is None:
        radii = _kth_neighbour_radii(real, ks)
        _real_radii_cache.clear()
        _real_radii_cache[key] = radii
    return radii


def knn_metrics(real: np.ndarray, fake: np.ndarray, k_pr: int, k_dc: int) -> dict[str, float]:
    """Precision, recall, density and coverage, from the real-to-fake distances a block of real
    rows at a time (squared distances against squared radii)."""
    real_radius = _real_radii(real, (k_pr, k_dc))
    fake_radius = _kth_neighbour_radii(fake, (k_pr,))[k_pr]
    fake_in_real_manifold = np.zeros(len(fake), dtype=bool)
    real_in_fake_manifold = np.zeros(len(real), dtype=bool)
    real_ball_covered = np.zeros(len(real), dtype=bool)
    in_real_balls = 0
    for rows in _row_blocks(len(real)):
        cross = _squared_distances(real[rows], fake)  # (real rows, fake)
        fake_in_real_manifold |= (cross <= real_radius[k_pr][rows, None]).any(axis=0)
        real_in_fake_manifold[rows] = (cross <= fake_radius[None, :]).any(axis=1)
        in_ball = cross <= real_radius[k_dc][rows, None]
        in_real_balls += int(in_ball.sum())
        real_ball_covered[rows] = in_ball.any(axis=1)
    return {
        "precision": float(fake_in_real_manifold.mean()),
        "recall": float(real_in_fake_manifold.mean()),
        "density": float(in_real_balls / (k_dc * len(fake))),
        "coverage": float(real_ball_covered.mean()),
    }


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> dict[str, float]:
    """Precision: the share of fake samples inside the real manifold; recall: the share of real
    samples inside the fake manifold, a manifold being the union of the balls around its points
    reaching their k-th nearest neighbour (Kynkaanniemi et al. 2019)."""
    metrics = knn_metrics(real, fake, k, k)
    return {"precision": metrics["precision"], "recall": metrics["recall"]}


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
    """Density: how many real k-NN balls contain each fake sample, over k (1 on average when fake
    matches real); coverage: the share of real balls that contain some fake sample (Naeem et al. 2020)."""
    metrics = knn_metrics(real, fake, k, k)
    return {"density": metrics["density"], "coverage": metrics["coverage"]}


MIN_SAMPLES = 6  # density and coverage need each real sample's 5th nearest other real sample

# What evaluate_samples returns, in order: the names a sweep's train.objective may also pick.
SAMPLE_METRICS = ("modes_captured", "modes_total", "high_quality_fraction", "mode_kl", "data_log_likelihood",
                  "precision", "recall", "density", "coverage")
FEATURE_METRICS = ("frechet_distance",)  # what image runs add (gancli.evaluation.image_metrics)


def headline(metrics: dict[str, Any]) -> str:
    """An evaluation in a few words, for logs and figure titles: the metrics it has of modes
    captured, high-quality fraction and (images) Frechet distance."""
    parts = []
    if metrics.get("modes_captured") is not None:
        parts.append(f"{metrics['modes_captured']}/{metrics['modes_total']} modes")
    if metrics.get("high_quality_fraction") is not None:
        parts.append(f"{metrics['high_quality_fraction']:.0%} high quality")
    if metrics.get("frechet_distance") is not None:
        parts.append(f"Frechet distance {metrics['frechet_distance']:.3g}")
    return ", ".join(parts)


def evaluate_samples(real: np.ndarray, fake: np.ndarray, data: GaussianMixture) -> dict[str, float | None]:
    """Every metric of generated samples `fake` against real samples of the same size and the
    data's known mixture (modes at its means, one std: the mixture's largest)."""
    std = float(data.stds.max())
    return {
        **mode_coverage(fake, data.means, std),
        "mode_kl": mode_histogram_kl(fake, data.means, std),
        "data_log_likelihood": float(np.mean(data.log_density(fake))),  # under the true density
        **knn_metrics(real, fake, k_pr=3, k_dc=5),  # the papers' defaults
    }
