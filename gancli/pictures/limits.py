"""The axis range of a run's figures, kept apart from matplotlib so that setting up a run's
pictures does not import it (training starts about 0.5 s sooner)."""

from __future__ import annotations

import numpy as np


def plot_limits(centres: np.ndarray, std: float) -> tuple[float, float]:
    """The axis range every figure of a run uses, so frames at different steps line up: the
    modes with a margin of at least 4 of their standard deviations."""
    if centres.shape[1] == 1:
        margin = max(1.5, 4 * std)
        return float(centres.min()) - margin, float(centres.max()) + margin
    reach = float(np.abs(centres).max())
    span = reach + max(0.4 * reach, 4 * std) + 1e-6
    return -span, span
