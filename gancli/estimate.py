"""One run of `gancli estimate`: the exact D_f(P||Q), a trained critic's estimate, and its picture."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import jax
import numpy as np

from gancli.densities import GaussianMixture
from gancli.divergences import Divergence, get_divergence
from gancli.estimate_config import EstimateConfig, to_mixture
from gancli.estimation import TrainedCritic, train_critic, variational_estimate
from gancli.exact import check_finite, estimator_variance_warning, exact_divergence
from gancli.plots import plot_critic_1d, plot_critic_2d

log = logging.getLogger(__name__)


def _optimal_critic(div: Divergence, p: GaussianMixture, q: GaussianMixture, x: np.ndarray) -> np.ndarray:
    """T*(x) = f'(p(x)/q(x)), in float64."""
    with jax.enable_x64(True):
        return np.asarray(div.f_prime(np.exp(p.log_density(x) - q.log_density(x))))


def _plot(path: Path, div: Divergence, critic: TrainedCritic, p: GaussianMixture, q: GaussianMixture,
          title: str) -> None:
    """Learned T = g_f(V) against T*; for `gan` also D = exp(T) against p / (p + q)."""
    lo = np.minimum(p.means - 4 * p.stds, q.means - 4 * q.stds).min(axis=0)
    hi = np.maximum(p.means + 4 * p.stds, q.means + 4 * q.stds).max(axis=0)
    if p.dim == 1:
        x = np.linspace(lo[0], hi[0], 801)[:, None]
        learned = np.asarray(div.real_score(critic(x)))
        curves = [(learned, _optimal_critic(div, p, q, x), "T(x)")]
        if div.name == "gan":  # T = log D, so D = exp(T); the optimal D is p / (p + q)
            d_opt = 1.0 / (1.0 + np.exp(q.log_density(x) - p.log_density(x)))
            curves.append((np.exp(learned), d_opt, "D(x)"))
        plot_critic_1d(path, x[:, 0], curves, title)
    elif p.dim == 2:
        xs, ys = np.linspace(lo[0], hi[0], 161), np.linspace(lo[1], hi[1], 161)
        mesh = np.stack([a.ravel() for a in np.meshgrid(xs, ys, indexing="ij")], axis=1)
        learned = np.asarray(div.real_score(critic(mesh))).reshape(len(xs), len(ys))
        optimal = _optimal_critic(div, p, q, mesh).reshape(len(xs), len(ys))
        plot_critic_2d(path, xs, ys, learned, optimal, "T(x)", title)


def estimate_divergence(cfg: EstimateConfig, run_dir: Path) -> dict[str, Any]:
    """Train the critic, compare its bound with the exact value; write estimate.json and the plot."""
    div = get_divergence(cfg.divergence.name)
    p, q = to_mixture(cfg.p, "p"), to_mixture(cfg.q, "q")
    check_finite(div, p, q)  # before any training: an infinite divergence has nothing to estimate
    warning = estimator_variance_warning(div, p, q)
    if warning:
        log.warning(warning)
    ec = cfg.estimate
    exact = exact_divergence(div, p, q, grid_points=ec.grid_points, mc_samples=ec.mc_samples, seed=cfg.seed)
    critic = train_critic(div, p, q, ec, cfg.seed)
    estimate = variational_estimate(div, critic, p, q, ec.eval_samples, cfg.seed)
    result = {"divergence": div.name, "estimate": estimate, "exact": exact.value, "method": exact.method}
    title = (f"{div.name}: estimate {estimate:.4g}, exact {exact.value:.4g} ({exact.method}); "
             f"estimates {div.estimates}")
    _plot(Path(run_dir) / "plots" / "critic.png", div, critic, p, q, title)
    record = {**result, "estimates": div.estimates,
              "relative_error": abs(estimate - exact.value) / abs(exact.value) if exact.value else None,
              "warning": warning}
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    (Path(run_dir) / "estimate.json").write_text(json.dumps(record, indent=2) + "\n")
    return result
