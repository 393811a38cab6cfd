"""The data a run trains on: toy mixtures of isotropic Gaussians with known modes (ring, grid,
bimodal), or images (gancli.data.images)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gancli.config.train import IMAGE_DATA, DataConfig
from gancli.data.densities import GaussianMixture
from gancli.errors import lookup

if TYPE_CHECKING:
    from gancli.data.images import ImageData


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


def make_dataset(cfg: DataConfig) -> GaussianMixture | ImageData:
    if cfg.name in IMAGE_DATA:
        from gancli.data.images import make_image_data  # Pillow and the files: only image runs need them

        return make_image_data(cfg)
    return lookup(DATASETS, cfg.name, "data")(cfg)
