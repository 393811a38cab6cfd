"""Exact values between known Gaussian mixtures: D_f(P||Q) = E_Q[f(p/q)], and the optima of the
other critic losses (hinge, least squares: pointwise; WGAN: the Wasserstein-1 distance in 1-D).

A closed form where the divergence's record has one (single Gaussians with diagonal
covariances: KL, reverse KL, Pearson, Neyman, squared Hellinger, Jeffrey; see
gancli.objectives.gaussian_forms), else numerical integration on a grid (1-D and 2-D), else a
Monte Carlo average over samples of Q with the known densities (above 2-D).
A divergence that is infinite for the given P and Q is refused, not computed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import numpy as np

from gancli.data.densities import GaussianMixture
from gancli.errors import GancliError
from gancli.objectives.critic_losses import CriticLoss, Objective
from gancli.objectives.f_divergences import Divergence


@dataclass(frozen=True)
class ExactValue:
    value: float
    method: str  # "closed form", "numerical integration" or "monte carlo"


def _moment_finite(p: GaussianMixture, q: GaussianMixture, c: float) -> bool:
    """Whether int p^c q^(1-c) dx is finite, for mixtures of diagonal Gaussians.

    For 0 <= c <= 1 it always is (Hoelder). For c > 1 it is int p^c / q^(c-1), finite iff every
    component of P has a component of Q with c std_q^2 > (c - 1) std_p^2 on every axis (else the
    integrand grows in the tails); for c < 0 the same holds with P, Q swapped and c -> 1 - c.
    """
    if 0 <= c <= 1:
        return True
    num, den, c = (p, q, c) if c > 1 else (q, p, 1 - c)
    wide = c * den.stds[None, :, :] ** 2 > (c - 1) * num.stds[:, None, :] ** 2  # (K_num, K_den, dim)
    return bool(wide.all(axis=2).any(axis=1).all())


def check_finite(div: Divergence, p: GaussianMixture, q: GaussianMixture) -> None:
    """GancliError if D_f(P||Q) is infinite for these P and Q, saying what would make it finite."""
    bad = [c for c in div.finite_if_moments if not _moment_finite(p, q, c)]
    if bad:
        c = bad[0]
        need = (f"{c:g} std_q^2 > {c - 1:g} std_p^2" if c > 1 else f"{1 - c:g} std_p^2 > {-c:g} std_q^2")
        raise GancliError(f"{div.estimates} is infinite for these P and Q: it needs {need} on every axis "
                          "(for each component, some component of the other); change p.std or q.std")


def estimator_variance_warning(div: Divergence, p: GaussianMixture, q: GaussianMixture) -> str | None:
    """Why a sample estimate of a finite divergence may still fall short, or None."""
    bad = [c for c in div.finite_variance_if_moments if not _moment_finite(p, q, c)]
    if not bad:
        return None
    return (f"the sample estimate of {div.estimates} has infinite variance for these P and Q "
            f"(int p^c q^(1-c) diverges for c = {', '.join(f'{c:g}' for c in bad)}): expect it to fall short")


def _f_of_ratio(div: Divergence, log_p: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """f(p/q) in float64 (the registry's f is written in jax.numpy)."""
    # XLA on CPU flushes subnormals to zero, which turns u log u into 0 * -inf: keep u normal.
    ratio = np.maximum(np.exp(log_p - log_q), np.finfo(np.float64).tiny)
    with jax.enable_x64(True):
        return np.asarray(div.f(ratio))


def _grid(p: GaussianMixture, q: GaussianMixture, points: int) -> list[np.ndarray]:
    """Per axis, a grid wide enough that both densities are negligible past its ends."""
    both = (p, q)
    lo = np.min([(m.means - 14 * m.stds).min(axis=0) for m in both], axis=0)
    hi = np.max([(m.means + 14 * m.stds).max(axis=0) for m in both], axis=0)
    return [np.linspace(a, b, points) for a, b in zip(lo, hi, strict=True)]


def _f_integrand(div: Divergence) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """(log p, log q) -> q f(p/q), the integrand of D_f(P||Q)."""
    return lambda log_p, log_q: np.exp(log_q) * _f_of_ratio(div, log_p, log_q)


def _optimum_integrand(loss: CriticLoss) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """(log p, log q) -> the loss's pointwise optimum, sup_v p real_score(v) - q fake_score(v)."""
    def integrand(log_p: np.ndarray, log_q: np.ndarray) -> np.ndarray:
        with jax.enable_x64(True):
            return np.asarray(loss.pointwise_optimum(np.exp(log_p), np.exp(log_q)))
    return integrand


def _integrate(integrand: Callable[[np.ndarray, np.ndarray], np.ndarray], p: GaussianMixture,
               q: GaussianMixture, points: int) -> float:
    axes = _grid(p, q, points if p.dim == 1 else int(math.isqrt(points * 40)))
    mesh = np.stack([a.ravel() for a in np.meshgrid(*axes, indexing="ij")], axis=1)
    with np.errstate(over="ignore", invalid="ignore"):
        values = integrand(p.log_density(mesh), q.log_density(mesh)).reshape([len(a) for a in axes])
    if not np.isfinite(values).all():
        raise GancliError("p/q overflows where P has mass: P and Q barely overlap, so the exact value cannot be "
                          "integrated reliably; move their means closer or widen q.std")
    for axis in reversed(axes):
        values = np.trapezoid(values, axis, axis=-1)
    return float(values)


def _monte_carlo(integrand: Callable[[np.ndarray, np.ndarray], np.ndarray], p: GaussianMixture,
                 q: GaussianMixture, n: int, seed: int) -> float:
    """int integrand = E_Q[integrand / q], over n samples of Q."""
    x = np.asarray(q.sample(jax.random.key(seed), n), dtype=np.float64)
    log_q = q.log_density(x)
    return float(np.mean(integrand(p.log_density(x), log_q) / np.exp(log_q)))


def _wasserstein_1d(p: GaussianMixture, q: GaussianMixture, points: int) -> float:
    """W1(P,Q) = int |F_P(x) - F_Q(x)| dx in one dimension (Vallender 1974)."""
    (x,) = _grid(p, q, points)

    def cdf(m: GaussianMixture) -> np.ndarray:
        z = (x[:, None] - m.means[None, :, 0]) / m.stds[None, :, 0]
        return (m.weights * 0.5 * (1.0 + _erf(z / math.sqrt(2.0)))).sum(axis=1)

    return float(np.trapezoid(np.abs(cdf(p) - cdf(q)), x))


def _erf(x: np.ndarray) -> np.ndarray:
    with jax.enable_x64(True):
        return np.asarray(jax.scipy.special.erf(x))


def exact_value(obj: Objective, p: GaussianMixture, q: GaussianMixture, *, grid_points: int = 20001,
                mc_samples: int = 1_000_000, seed: int = 0) -> ExactValue:
    """What the critic's bound converges to, by the most exact method available: D_f(P||Q) for
    an f-divergence (GancliError if infinite), the optimum of any other critic loss."""
    if isinstance(obj, CriticLoss):
        if obj.pointwise_optimum is None:  # WGAN: the optimum is W1, not a pointwise sup
            if p.dim != 1:
                raise GancliError("the exact Wasserstein-1 distance is computed in 1-D only; give p and q one axis")
            return ExactValue(_wasserstein_1d(p, q, grid_points), "numerical integration")
        integrand = _optimum_integrand(obj)
    else:
        check_finite(obj, p, q)
        single = len(p.weights) == 1 and len(q.weights) == 1
        if single and obj.gaussian_closed_form is not None:
            return ExactValue(obj.gaussian_closed_form(p, q), "closed form")
        integrand = _f_integrand(obj)
    if p.dim <= 2:
        return ExactValue(_integrate(integrand, p, q, grid_points), "numerical integration")
    return ExactValue(_monte_carlo(integrand, p, q, mc_samples, seed), "monte carlo")
