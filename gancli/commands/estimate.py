"""One run of `gancli estimate`: the exact D_f(P||Q), a trained critic's estimate, and its picture."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jax
import numpy as np

from gancli.config.estimate import EstimateConfig, to_mixture
from gancli.data.densities import GaussianMixture
from gancli.evaluation.exact import estimator_variance_warning, exact_value
from gancli.objectives.critic_losses import CriticLoss, Objective, objective_from_config
from gancli.objectives.f_divergences import Divergence
from gancli.pictures.plots import plot_critic_1d, plot_critic_2d
from gancli.run_dir.files import write_json
from gancli.run_dir.layout import RunDir
from gancli.training.divergence_meter import TrainedCritic, train_critic, variational_estimate

log = logging.getLogger(__name__)


def _curves(obj: Objective, critic: TrainedCritic, p: GaussianMixture, q: GaussianMixture,
            x: np.ndarray) -> list[tuple[np.ndarray, np.ndarray | None, str]]:
    """(learned, optimal or None, label) for the critic plot at points x.

    An f-divergence's critic is T = g_f(V) against T* = f'(p/q); where the objective defines a
    probability (`gan`: D = sigmoid(V) = exp(T)), also D against p / (p + q). Other losses show V
    itself against its pointwise optimum, if any.
    """
    v = critic(x)
    p_x, q_x = np.exp(p.log_density(x)), np.exp(q.log_density(x))
    if isinstance(obj, CriticLoss):
        optimal = None if obj.optimal_critic is None else np.asarray(obj.optimal_critic(p_x, q_x))
        return [(v, optimal, "V(x)")]
    learned = np.asarray(obj.real_score(v))
    with jax.enable_x64(True):
        t_opt = np.asarray(obj.f_prime(np.exp(p.log_density(x) - q.log_density(x))))
    curves = [(learned, t_opt, "T(x)")]
    if obj.probability is not None:  # a classifier's critic: D(x) against D* = p / (p + q)
        curves.append((np.asarray(obj.probability(v)), p_x / (p_x + q_x), "D(x)"))
    return curves


def _plot(path: Path, obj: Objective, critic: TrainedCritic, p: GaussianMixture, q: GaussianMixture,
          title: str) -> None:
    lo = np.minimum(p.means - 4 * p.stds, q.means - 4 * q.stds).min(axis=0)
    hi = np.maximum(p.means + 4 * p.stds, q.means + 4 * q.stds).max(axis=0)
    if p.dim == 1:
        x = np.linspace(lo[0], hi[0], 801)[:, None]
        plot_critic_1d(path, x[:, 0], _curves(obj, critic, p, q, x), title)
    elif p.dim == 2:
        xs, ys = np.linspace(lo[0], hi[0], 161), np.linspace(lo[1], hi[1], 161)
        mesh = np.stack([a.ravel() for a in np.meshgrid(xs, ys, indexing="ij")], axis=1)
        learned, optimal, label = _curves(obj, critic, p, q, mesh)[0]
        shape = (len(xs), len(ys))
        plot_critic_2d(path, xs, ys, learned.reshape(shape), None if optimal is None else optimal.reshape(shape),
                       label, title)


def estimate_divergence(cfg: EstimateConfig, run_dir: Path) -> dict[str, Any]:
    """Train the critic, compare its bound with the exact value; write estimate.json and the plot."""
    div = objective_from_config(cfg.divergence)
    p, q = to_mixture(cfg.p, "p"), to_mixture(cfg.q, "q")
    ec = cfg.estimate
    # Before any training: an infinite divergence has nothing to estimate.
    exact = exact_value(div, p, q, grid_points=ec.grid_points, mc_samples=ec.mc_samples, seed=cfg.seed)
    warning = estimator_variance_warning(div, p, q) if isinstance(div, Divergence) else None
    if warning:
        log.warning(warning)
    # The bound alone, as the theory states it: a training penalty would bias the estimate, so only
    # the penalty the objective is not defined without (WGAN-GP's Lipschitz constraint) is kept.
    kept = cfg.divergence.penalty if div.required_penalty else "none"
    critic = train_critic(div, p, q, ec, cfg.seed, kept, cfg.divergence.penalty_weight)
    estimate = variational_estimate(div, critic, p, q, ec.eval_samples, cfg.seed)
    result = {"divergence": div.name, "estimate": estimate, "exact": exact.value, "method": exact.method}
    title = (f"{div.name}: estimate {estimate:.4g}, exact {exact.value:.4g} ({exact.method}); "
             f"estimates {div.estimates}")
    _plot(RunDir(run_dir).plots / "critic.png", div, critic, p, q, title)
    record = {**result, "estimates": div.estimates,
              "relative_error": abs(estimate - exact.value) / abs(exact.value) if exact.value else None,
              "warning": warning}
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    write_json(Path(run_dir) / "estimate.json", record)
    return result
