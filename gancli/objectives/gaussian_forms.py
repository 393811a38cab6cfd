"""What an f-divergence between Gaussians is, without integrating: closed forms between two single
diagonal Gaussians, and the moments int p^c q^(1-c) whose finiteness a divergence (or the variance
of its sample estimate) needs. Each divergence's record (gancli.objectives.f_divergences) names
its own; gancli.evaluation.exact uses them.

P = N(m1, diag s1^2), Q = N(m2, diag s2^2): objects with `means` and `stds` of shape (1, dim)
(gancli.data.densities.GaussianMixture of one component).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def kl_gaussians(p: Any, q: Any) -> float:
    """KL(P||Q) = sum over axes of log(s2/s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2."""
    (m1, s1), (m2, s2) = (p.means[0], p.stds[0]), (q.means[0], q.stds[0])
    return float(np.sum(np.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5))


def reverse_kl_gaussians(p: Any, q: Any) -> float:
    """KL(Q||P)."""
    return kl_gaussians(q, p)


def pearson_gaussians(p: Any, q: Any) -> float:
    """Pearson chi^2(P||Q) = prod over axes of int p^2/q - 1, each axis
    s2^2 / (s1 sqrt(2 s2^2 - s1^2)) exp((m1 - m2)^2 / (2 s2^2 - s1^2)) (THEORY.md; finite only
    where 2 s2^2 > s1^2)."""
    (m1, s1), (m2, s2) = (p.means[0], p.stds[0]), (q.means[0], q.stds[0])
    per_axis = s2**2 / (s1 * np.sqrt(2 * s2**2 - s1**2)) * np.exp((m1 - m2) ** 2 / (2 * s2**2 - s1**2))
    return float(np.prod(per_axis) - 1.0)


def neyman_gaussians(p: Any, q: Any) -> float:
    """Neyman chi^2(P||Q) = Pearson chi^2(Q||P)."""
    return pearson_gaussians(q, p)


def hellinger_gaussians(p: Any, q: Any) -> float:
    """Squared Hellinger int (sqrt p - sqrt q)^2 = 2 (1 - BC), with the Bhattacharyya coefficient
    BC = prod over axes of sqrt(2 s1 s2 / (s1^2 + s2^2)) exp(-(m1 - m2)^2 / (4 (s1^2 + s2^2)))."""
    (m1, s1), (m2, s2) = (p.means[0], p.stds[0]), (q.means[0], q.stds[0])
    bc = np.sqrt(2 * s1 * s2 / (s1**2 + s2**2)) * np.exp(-((m1 - m2) ** 2) / (4 * (s1**2 + s2**2)))
    return float(2.0 * (1.0 - np.prod(bc)))


def jeffrey_gaussians(p: Any, q: Any) -> float:
    """Jeffrey's divergence, f(u) = (u - 1) log u: KL(P||Q) + KL(Q||P)."""
    return kl_gaussians(p, q) + kl_gaussians(q, p)
