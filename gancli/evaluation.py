"""Sample-quality metrics on data with known modes (NumPy, host side)."""

from __future__ import annotations

import numpy as np


def mode_coverage(samples: np.ndarray, centres: np.ndarray, std: float, threshold: float = 3.0) -> dict[str, float]:
    """Modes captured and high-quality fraction (the measures of Srivastava et al., VEEGAN, 2017).

    A sample is high quality when it lies within `threshold` standard deviations of its
    nearest mode; a mode is captured when it is the nearest mode of at least one
    high-quality sample.
    """
    samples = np.asarray(samples, dtype=np.float64)
    centres = np.asarray(centres, dtype=np.float64)
    dist = np.sqrt(((samples[:, None, :] - centres[None, :, :]) ** 2).sum(-1))
    nearest = dist.argmin(axis=1)
    good = dist[np.arange(len(samples)), nearest] <= threshold * std
    captured = np.unique(nearest[good])
    return {
        "modes_captured": int(captured.size),
        "modes_total": int(len(centres)),
        "high_quality_fraction": float(good.mean()) if len(samples) else 0.0,
    }
