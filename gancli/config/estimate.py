"""The typed configuration of `gancli estimate`: two known distributions and the critic's training."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gancli.config.schema import bounds, parse
from gancli.config.train import Activation, DivergenceConfig
from gancli.data.densities import GaussianMixture
from gancli.errors import GancliError


@dataclass(frozen=True)
class DistributionConfig:
    """A Gaussian (mean, std per axis) or a mixture (weights, means, stds per component)."""

    mean: list[float] | None
    std: list[float] | None = field(metadata=bounds(0, lo_open=True))
    weights: list[float] | None = field(metadata=bounds(0, lo_open=True))
    means: list[list[float]] | None
    stds: list[list[float]] | None = field(metadata=bounds(0, lo_open=True))


@dataclass(frozen=True)
class EstimatorConfig:
    steps: int = field(metadata=bounds(1))
    batch_size: int = field(metadata=bounds(1))
    lr: float = field(metadata=bounds(0, lo_open=True))
    hidden: int = field(metadata=bounds(1))
    depth: int = field(metadata=bounds(1))
    activation: Activation
    chunk: int = field(metadata=bounds(1))
    eval_samples: int = field(metadata=bounds(1))
    grid_points: int = field(metadata=bounds(101))  # 1-D grid; 2-D uses isqrt(40 * this) per axis
    mc_samples: int = field(metadata=bounds(1000))  # exact value above 2-D


@dataclass(frozen=True)
class EstimateConfig:
    divergence: DivergenceConfig
    p: DistributionConfig
    q: DistributionConfig
    estimate: EstimatorConfig
    seed: int = field(metadata=bounds(0, 2**31 - 1))


# What a divergence file may set besides divergence.* for training a GAN (wgan_gp: train.d_steps);
# estimate trains a critic of its own, with estimate.*.
GAN_TRAINING_KEYS = ("train", "optim", "model")


def parse_estimate_config(raw: dict[str, Any]) -> EstimateConfig:
    cfg = parse(EstimateConfig, {k: v for k, v in raw.items() if k not in GAN_TRAINING_KEYS})
    p, q = to_mixture(cfg.p, "p"), to_mixture(cfg.q, "q")
    if p.dim != q.dim:
        raise GancliError(f"p has {p.dim} dimensions and q has {q.dim}; give both the same number of axes")
    return cfg


def to_mixture(cfg: DistributionConfig, name: str) -> GaussianMixture:
    """The distribution a config describes, or a one-line error saying what is inconsistent."""
    gaussian = cfg.mean is not None or cfg.std is not None
    mixture = cfg.weights is not None or cfg.means is not None or cfg.stds is not None
    if gaussian == mixture:
        raise GancliError(f"give {name} either {name}.mean and {name}.std (a Gaussian) or "
                          f"{name}.weights, {name}.means and {name}.stds (a mixture), not both or neither")
    if gaussian:
        if cfg.mean is None or cfg.std is None or len(cfg.mean) != len(cfg.std) or not cfg.mean:
            raise GancliError(f"{name}.mean and {name}.std must both be given, with one number per axis")
        weights, means, stds = [1.0], [cfg.mean], [cfg.std]
    else:
        weights, means, stds = cfg.weights, cfg.means, cfg.stds
        if weights is None or means is None or stds is None:
            raise GancliError(f"a mixture needs {name}.weights, {name}.means and {name}.stds")
        if not (len(weights) == len(means) == len(stds)) or not weights:
            raise GancliError(f"{name}.weights, {name}.means and {name}.stds need one entry per component")
        if len({len(m) for m in means} | {len(s) for s in stds}) != 1:
            raise GancliError(f"every component of {name} needs the same number of axes in means and stds")
    w = np.asarray(weights, dtype=np.float64)
    return GaussianMixture(w / w.sum(), np.asarray(means, dtype=np.float64), np.asarray(stds, dtype=np.float64))
