"""Exact f-divergences D_f(P||Q) = E_Q[f(p/q)] between known Gaussian mixtures.

A closed form where THEORY.md gives one (single Gaussians with diagonal covariances: KL,
reverse KL, Pearson, Neyman, squared Hellinger), else numerical integration on a grid (1-D
and 2-D), else a Monte Carlo average over samples of Q with the known densities (above 2-D).
A divergence that is infinite for the given P and Q is refused, not computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import numpy as np

from gancli.densities import GaussianMixture
from gancli.divergences import Divergence
from gancli.errors import GancliError


@dataclass(frozen=True)
class ExactValue:
    value: float
    method: str  # "closed form", "numerical integration" or "monte carlo"


def _kl_gaussians(p: GaussianMixture, q: GaussianMixture) -> float:
    """KL(P||Q) for single diagonal Gaussians: the 1-D closed form summed over axes."""
    (m1, s1), (m2, s2) = (p.means[0], p.stds[0]), (q.means[0], q.stds[0])
    return float(np.sum(np.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5))


def _pearson_gaussians(p: GaussianMixture, q: GaussianMixture) -> float:
    """Pearson chi^2(P||Q) = prod_axes int p_i^2/q_i - 1, each axis by THEORY.md's closed form."""
    (m1, s1), (m2, s2) = (p.means[0], p.stds[0]), (q.means[0], q.stds[0])
    per_axis = s2**2 / (s1 * np.sqrt(2 * s2**2 - s1**2)) * np.exp((m1 - m2) ** 2 / (2 * s2**2 - s1**2))
    return float(np.prod(per_axis) - 1.0)


def _hellinger_gaussians(p: GaussianMixture, q: GaussianMixture) -> float:
    """Squared Hellinger 2 (1 - BC), with the Bhattacharyya coefficient a product over axes."""
    (m1, s1), (m2, s2) = (p.means[0], p.stds[0]), (q.means[0], q.stds[0])
    bc = np.sqrt(2 * s1 * s2 / (s1**2 + s2**2)) * np.exp(-((m1 - m2) ** 2) / (4 * (s1**2 + s2**2)))
    return float(2.0 * (1.0 - np.prod(bc)))


CLOSED_FORMS = {
    "kl": _kl_gaussians,
    "reverse_kl": lambda p, q: _kl_gaussians(q, p),
    "pearson": _pearson_gaussians,
    "neyman": lambda p, q: _pearson_gaussians(q, p),  # Neyman chi^2(P||Q) = Pearson chi^2(Q||P)
    "hellinger": _hellinger_gaussians,
}


def _power_ratio_finite(num: GaussianMixture, den: GaussianMixture, a: int) -> bool:
    """Whether int num^a / den^(a-1) < inf: every component of num needs a component of den
    with a std_den^2 > (a - 1) std_num^2 on every axis, or the integrand grows in the tails."""
    wide = a * den.stds[None, :, :] ** 2 > (a - 1) * num.stds[:, None, :] ** 2  # (K_num, K_den, dim)
    return bool(wide.all(axis=2).any(axis=1).all())


def _chi2_finite(num: GaussianMixture, den: GaussianMixture) -> bool:
    return _power_ratio_finite(num, den, 2)


def estimator_variance_warning(div: Divergence, p: GaussianMixture, q: GaussianMixture) -> str | None:
    """Why a sample estimate of a finite chi^2 may still fall short, or None.

    At the optimal critic, Pearson's bound averages u = p/q over P and u^2 over Q, which have
    finite variance only if int p^3/q^2 and int p^4/q^3 are finite (3 s_q^2 > 2 s_p^2 and
    4 s_q^2 > 3 s_p^2 for Gaussians); Neyman's is the same with P and Q swapped.
    """
    num, den = (p, q) if div.name == "pearson" else (q, p) if div.name == "neyman" else (None, None)
    if num is None or (_power_ratio_finite(num, den, 3) and _power_ratio_finite(num, den, 4)):
        return None
    wider = "q" if div.name == "pearson" else "p"
    return (f"the sample estimate of {div.estimates} has infinite variance for these P and Q "
            f"(it needs 4 std_{wider}^2 > 3 std_{'p' if wider == 'q' else 'q'}^2): expect it to fall short")


def check_finite(div: Divergence, p: GaussianMixture, q: GaussianMixture) -> None:
    if div.name == "pearson" and not _chi2_finite(p, q):
        raise GancliError("Pearson chi^2(P||Q) is infinite for these P and Q: it needs 2 std_q^2 > std_p^2 "
                          "(for each component of P, some component of Q, on every axis); widen q.std")
    if div.name == "neyman" and not _chi2_finite(q, p):
        raise GancliError("Neyman chi^2(P||Q) is infinite for these P and Q: it needs 2 std_p^2 > std_q^2 "
                          "(for each component of Q, some component of P, on every axis); widen p.std")


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


def _integrate(div: Divergence, p: GaussianMixture, q: GaussianMixture, points: int) -> float:
    axes = _grid(p, q, points if p.dim == 1 else int(math.isqrt(points * 40)))
    mesh = np.stack([a.ravel() for a in np.meshgrid(*axes, indexing="ij")], axis=1)
    log_p, log_q = p.log_density(mesh), q.log_density(mesh)
    with np.errstate(over="ignore", invalid="ignore"):
        integrand = (np.exp(log_q) * _f_of_ratio(div, log_p, log_q)).reshape([len(a) for a in axes])
    if not np.isfinite(integrand).all():
        raise GancliError("p/q overflows where P has mass: P and Q barely overlap, so D_f cannot be integrated "
                          "reliably; move their means closer or widen q.std")
    for axis in reversed(axes):
        integrand = np.trapezoid(integrand, axis, axis=-1)
    return float(integrand)


def _monte_carlo(div: Divergence, p: GaussianMixture, q: GaussianMixture, n: int, seed: int) -> float:
    x = np.asarray(q.sample(jax.random.key(seed), n), dtype=np.float64)
    return float(np.mean(_f_of_ratio(div, p.log_density(x), q.log_density(x))))


def exact_divergence(div: Divergence, p: GaussianMixture, q: GaussianMixture, *, grid_points: int = 20001,
                     mc_samples: int = 1_000_000, seed: int = 0) -> ExactValue:
    """D_f(P||Q) by the most exact method available; GancliError if it is infinite."""
    check_finite(div, p, q)
    single = len(p.weights) == 1 and len(q.weights) == 1
    if single and div.name in CLOSED_FORMS:
        return ExactValue(CLOSED_FORMS[div.name](p, q), "closed form")
    if p.dim <= 2:
        return ExactValue(_integrate(div, p, q, grid_points), "numerical integration")
    return ExactValue(_monte_carlo(div, p, q, mc_samples, seed), "monte carlo")
