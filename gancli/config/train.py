"""The typed configuration of `gancli train`: frozen dataclasses with their allowed values.

Hydra composes the YAML in `conf/`; `parse_config` turns the resulting plain dict into these
dataclasses (see gancli.config.schema). Nothing here imports Hydra.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from gancli.config.schema import bounds, flatten, parse
from gancli.errors import GancliError

Activation = Literal["relu", "leaky_relu", "elu", "tanh", "gelu", "silu"]
GeneratorLoss = Literal["nonsaturating", "minimax"]
Penalty = Literal["none", "r1", "r2", "r1r2", "roth", "gp"]  # see gancli.objectives.penalties
# Summary metrics a sweep can optimise (the train task returns the chosen one).
SummaryMetric = Literal["high_quality_fraction", "modes_captured", "mode_kl", "data_log_likelihood", "precision",
                        "recall", "density", "coverage", "frechet_distance", "divergence_estimate", "d_loss", "g_loss",
                        "log_likelihood"]
TOY_DATA = ("ring", "grid", "bimodal")  # mixtures of Gaussians, with known modes and density
IMAGE_DATA = ("digits", "mnist", "stacked_mnist", "images")


@dataclass(frozen=True)
class DataConfig:
    """A mixture of isotropic Gaussians with equal weights: `ring` (2-D, modes on a circle), `grid`
    (2-D, a square lattice) or `bimodal` (1-D, two modes `spacing` apart); or images: `digits`
    (8x8), `mnist` (28x28), `stacked_mnist` (28x28x3, 1,000 modes), `images` (the user's files at
    `path`). See gancli.data.images."""

    name: Literal["ring", "grid", "bimodal", "digits", "mnist", "stacked_mnist", "images"]
    std: float = field(default=0.01, metadata=bounds(0, lo_open=True))
    modes: int = field(default=8, metadata=bounds(1))  # ring only
    radius: float = field(default=1.0, metadata=bounds(0, lo_open=True))  # ring only
    side: int = field(default=5, metadata=bounds(1))  # grid only: side x side modes
    spacing: float = field(default=2.0, metadata=bounds(0, lo_open=True))  # grid and bimodal
    path: str | None = None  # images only: a folder of PNG/JPEG, a .npy/.npz array, or an IDX file
    image_size: int | None = field(default=None, metadata=bounds(1))  # images: resize to this square; None: as stored
    channels: int | None = field(default=None, metadata=bounds(1, 3))  # images: 1 (grey) or 3 (RGB); None: as stored
    mode_samples: int = field(default=10000, metadata=bounds(1))  # images: samples the class histogram counts


@dataclass(frozen=True)
class PlayerConfig:
    """Per-player overrides of the shared model settings; None means "use the shared value"."""

    hidden: int | None = field(default=None, metadata=bounds(1))
    depth: int | None = field(default=None, metadata=bounds(0))


@dataclass(frozen=True)
class ModelConfig:
    """The two players: `mlp` (implicit G), `affine` (G is one Gaussian), `gmm` (an explicit
    Gaussian mixture with no critic, trained by maximum likelihood) or `dcgan` (convolutional
    players for images, see gancli.players.dcgan)."""

    name: Literal["mlp", "affine", "gmm", "dcgan"]
    hidden: int = field(default=128, metadata=bounds(1))
    depth: int = field(default=4, metadata=bounds(0))
    activation: Activation = "relu"
    generator: PlayerConfig = PlayerConfig()
    discriminator: PlayerConfig = PlayerConfig()
    pack: int = field(default=1, metadata=bounds(1))  # PacGAN: the critic judges `pack` samples at once
    components: int = field(default=8, metadata=bounds(1))  # gmm only
    covariance: Literal["diag", "full"] = "diag"  # gmm only
    width: int = field(default=64, metadata=bounds(1))  # dcgan: channels at the finest resolution, doubled per halving
    batch_norm: bool = True  # dcgan: batch normalisation in the generator
    spectral_norm: bool = False  # spectral normalisation of the critic's layers (Miyato et al. 2018)
    # mlp: G's outputs and D's inputs in units of the data's extent (gancli.players.models.MLP); False
    # here, not in conf/model/mlp.yaml, because runs saved before this key trained without it.
    rescale: bool = False

    def player(self, which: Literal["generator", "discriminator"]) -> tuple[int, int]:
        """(hidden, depth) of one player, with its overrides applied."""
        own = getattr(self, which)
        return (own.hidden or self.hidden, self.depth if own.depth is None else own.depth)


@dataclass(frozen=True)
class PriorConfig:
    name: Literal["gaussian", "uniform"]
    dim: int = field(default=2, metadata=bounds(1))


@dataclass(frozen=True)
class DivergenceConfig:
    name: str  # checked against the registry in gancli.objectives.f_divergences
    generator_loss: GeneratorLoss = "nonsaturating"
    penalty: Penalty = "none"  # a regulariser of the critic's input gradient (gancli.objectives.penalties)
    penalty_weight: float = field(default=0.0, metadata=bounds(0))  # gamma; ignored with penalty=none
    alpha: float | None = None  # `alpha` only: not 0 or 1
    pi: float | None = None  # `js_weighted` only: in (0, 1)
    members: list[str] | None = None  # `ensemble` only: the member divergences, one critic head each
    weights: list[float] | None = field(default=None, metadata=bounds(0, lo_open=True))  # `ensemble` only
    shared_critic: bool = True  # `ensemble` only: heads on one critic body, or one critic per member


@dataclass(frozen=True)
class AdamConfig:
    lr: float = field(default=1e-4, metadata=bounds(0, lo_open=True))
    b1: float = field(default=0.5, metadata=bounds(0, 1, hi_open=True))
    b2: float = field(default=0.999, metadata=bounds(0, 1, hi_open=True))
    eps: float = field(default=1e-8, metadata=bounds(0, lo_open=True))


@dataclass(frozen=True)
class OptimConfig:
    name: Literal["adam"]
    g: AdamConfig = AdamConfig()
    d: AdamConfig = AdamConfig()


@dataclass(frozen=True)
class TrainConfig:
    steps: int = field(default=20000, metadata=bounds(1))
    batch_size: int = field(default=256, metadata=bounds(1))
    d_steps: int = field(default=1, metadata=bounds(1))
    unroll_steps: int = field(default=0, metadata=bounds(0))  # Unrolled GAN: G sees D after k more updates
    ema_decay: float = field(default=0.999, metadata=bounds(0, 1, hi_open=True))  # 0: evaluate G itself
    chunk: int = field(default=100, metadata=bounds(1))
    log_every: int = field(default=100, metadata=bounds(1))
    eval_every: int = field(default=2000, metadata=bounds(1))
    ckpt_every: int = field(default=2000, metadata=bounds(1))
    keep: int = field(default=3, metadata=bounds(1))
    eval_samples: int = field(default=2500, metadata=bounds(6))  # the k-NN metrics need 6 (MIN_SAMPLES)
    objective: SummaryMetric = "high_quality_fraction"
    progress: bool = True
    plots: bool = True  # draw plots/ and TensorBoard's figures at every evaluation
    on_nonfinite: Literal["stop", "rollback"] = "stop"  # rollback: back to the last checkpoint, lower rates
    rollback_lr_factor: float = field(default=0.5, metadata=bounds(0, 1, lo_open=True, hi_open=True))
    max_rollbacks: int = field(default=3, metadata=bounds(1))
    num_seeds: int = field(default=1, metadata=bounds(1))  # seeds seed..seed+S-1 side by side in one program
    devices: Literal["auto", "all"] | int = field(default="auto", metadata=bounds(1))  # data parallel: runner/devices


@dataclass(frozen=True)
class DistributedConfig:
    """One run over several processes (see gancli.runner.distributed). None: one process, unless SLURM
    started several tasks."""

    coordinator: str | None = None  # host:port where process 0 listens
    num_processes: int | None = field(default=None, metadata=bounds(1))
    process_id: int | None = field(default=None, metadata=bounds(0))


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig
    model: ModelConfig
    prior: PriorConfig
    divergence: DivergenceConfig
    optim: OptimConfig
    train: TrainConfig = TrainConfig()
    distributed: DistributedConfig = DistributedConfig()
    seed: int = field(default=0, metadata=bounds(0, 2**31 - 1))


# How the processes of a run find each other: each process has its own, none changes the results.
PROCESS_KEYS = ("distributed.coordinator", "distributed.num_processes", "distributed.process_id")
# Keys that may change between a run and its resume without changing the experiment.
RESUMABLE_KEYS = ("train.steps", "train.log_every", "train.eval_every", "train.ckpt_every",
                  "train.keep", "train.chunk", "train.eval_samples", "train.objective",
                  "train.progress", "train.plots", "train.on_nonfinite", "train.rollback_lr_factor",
                  "train.max_rollbacks", "train.num_seeds", "train.devices",
                  *PROCESS_KEYS)


# Before divergence.penalty was a key (gancli 0.1), wgan_gp carried its gradient penalty of weight 10
# inside the objective: a run saved then ran with it, not with the dataclass default `none`.
WGAN_GP_BEFORE_PENALTIES = {"penalty": "gp", "penalty_weight": 10.0}


def parse_config(raw: dict[str, Any]) -> RunConfig:
    """Build a RunConfig from a plain nested dict, or raise GancliError naming the bad key."""
    divergence = raw.get("divergence")
    if isinstance(divergence, dict) and divergence.get("name") == "wgan_gp" and "penalty" not in divergence:
        raw = {**raw, "divergence": {**divergence, **WGAN_GP_BEFORE_PENALTIES}}
    return parse(RunConfig, raw)


def to_dict(cfg: Any) -> dict[str, Any]:
    return asdict(cfg)


def saved_settings(raw: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's config, flat, with every key this version has: a run saved before a key
    existed ran with that key's default, so it is not a changed setting."""
    try:
        return flatten(to_dict(parse_config(raw)))
    except GancliError:  # a config this version cannot read: compared as saved
        return flatten(raw)
