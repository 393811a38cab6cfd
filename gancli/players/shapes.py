"""What the players' sizes depend on beyond the model config: the data's, the prior's and the critic's
heads. A module of its own so that every kind of player (MLP, DCGAN) can take it without importing
the others."""

from __future__ import annotations

from dataclasses import dataclass

from gancli.data.densities import GaussianMixture


@dataclass(frozen=True)
class Shapes:
    """What the models' sizes depend on beyond the model config."""

    latent_dim: int
    data_dim: int
    heads: int = 1  # critic outputs: one per divergence of an ensemble
    shared_critic: bool = True  # the heads share one critic body, or each has its own critic
    data: GaussianMixture | None = None  # the data, whose samples seed an explicit density
    image_shape: tuple[int, int, int] | None = None  # (height, width, channels) of images, which travel flat
