"""Toy data with known modes: mixtures of isotropic Gaussians (ring, grid, bimodal)."""

from __future__ import annotations

import numpy as np

from gancli.config import DataConfig
from gancli.densities import GaussianMixture
from gancli.errors import GancliError


def ring(cfg: DataConfig) -> GaussianMixture:
    angles = 2 * np.pi * np.arange(cfg.modes) / cfg.modes
    centres = cfg.radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return GaussianMixture.isotropic(centres, cfg.std)


def grid(cfg: DataConfig) -> GaussianMixture:
    axis = (np.arange(cfg.side) - (cfg.side - 1) / 2) * cfg.spacing
    xs, ys = np.meshgrid(axis, axis, indexing="ij")
    centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
    return GaussianMixture.isotropic(centres, cfg.std)


def bimodal(cfg: DataConfig) -> GaussianMixture:
    """Two 1-D modes at -spacing/2 and +spacing/2: the smallest case where KL(P||Q) and KL(Q||P)
    pull a single Gaussian apart (mode covering against mode seeking)."""
    return GaussianMixture.isotropic(np.array([[-cfg.spacing / 2], [cfg.spacing / 2]]), cfg.std)


DATASETS = {"ring": ring, "grid": grid, "bimodal": bimodal}


def make_dataset(cfg: DataConfig) -> GaussianMixture:
    try:
        build = DATASETS[cfg.name]
    except KeyError:
        raise GancliError(f"unknown data {cfg.name!r}; choose one of: {', '.join(DATASETS)}") from None
    return build(cfg)
