"""The typed configuration of `gancli train`: frozen dataclasses with their allowed values.

Hydra composes the YAML in `conf/` (gancli.config.compose does it for library callers);
`parse_config` turns the resulting plain dict into these dataclasses (see gancli.config.schema),
and `saved_config` reads a checkpoint's config, saved by this version or an older one. Nothing
here imports Hydra.
"""

from __future__ import annotations

import copy
import typing
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any, ClassVar, Literal

from gancli.config.schema import bounds, flatten, option_for, options, parse
from gancli.errors import GancliError

Activation = Literal["relu", "leaky_relu", "elu", "tanh", "gelu", "silu"]
GeneratorLoss = Literal["nonsaturating", "minimax"]
Penalty = Literal["none", "r1", "r2", "r1r2", "roth", "gp"]  # see gancli.objectives.penalties
# Summary metrics a sweep can optimise (the train task returns the chosen one).
SummaryMetric = Literal["high_quality_fraction", "modes_captured", "mode_kl", "data_log_likelihood", "precision",
                        "recall", "density", "coverage", "frechet_distance", "divergence_estimate", "d_loss", "g_loss",
                        "log_likelihood"]
# Every key `conf/` sets is a required field here: conf/ is the one place its default is written
# (tests/config/test_compose.py checks it). A library caller composes the YAML, with
# gancli.config.compose.train_config, rather than relying on defaults in Python. Each option of a
# group (data=ring, model=gmm, ...) is a class of its own with only the keys that option reads, so
# a key it would ignore (a ring's +data.side=3) is refused; what an option does not offer as a key
# is a class constant (ClassVar), read like a key by the code.


@dataclass(frozen=True)
class RingData:
    """`modes` isotropic Gaussians of std `std`, equally spaced on a circle of radius `radius`."""

    name: Literal["ring"]
    std: float = field(metadata=bounds(0, lo_open=True))
    modes: int = field(metadata=bounds(1))
    radius: float = field(metadata=bounds(0, lo_open=True))


@dataclass(frozen=True)
class GridData:
    """A side x side square lattice of isotropic Gaussians, `spacing` apart."""

    name: Literal["grid"]
    std: float = field(metadata=bounds(0, lo_open=True))
    side: int = field(metadata=bounds(1))
    spacing: float = field(metadata=bounds(0, lo_open=True))


@dataclass(frozen=True)
class BimodalData:
    """1-D: two Gaussians `spacing` apart."""

    name: Literal["bimodal"]
    std: float = field(metadata=bounds(0, lo_open=True))
    spacing: float = field(metadata=bounds(0, lo_open=True))


@dataclass(frozen=True)
class BundledImages:
    """A bundled image set: `digits` (8x8), `mnist` (28x28) or `stacked_mnist` (28x28x3, 1,000
    modes). See gancli.data.images."""

    name: Literal["digits", "mnist", "stacked_mnist"]
    image_size: int | None = field(metadata=bounds(1))  # resize to this square; None: as stored
    channels: int | None = field(metadata=bounds(1, 3))  # 1 (grey) or 3 (RGB); None: as stored
    mode_samples: int = field(metadata=bounds(1))  # generated samples whose classes are counted
    path: ClassVar[None] = None  # bundled: no files of the user's


@dataclass(frozen=True)
class UserImages:
    """The user's images at `path`: a folder of PNG/JPEG, a .npy/.npz array or an IDX file."""

    name: Literal["images"]
    path: str | None  # None is refused when the data is read, with what to set
    image_size: int | None = field(metadata=bounds(1))
    channels: int | None = field(metadata=bounds(1, 3))
    mode_samples: int = field(metadata=bounds(1))


DataConfig = RingData | GridData | BimodalData | BundledImages | UserImages
TOY_DATA = ("ring", "grid", "bimodal")  # mixtures of Gaussians, with known modes and density
IMAGE_DATA = ("digits", "mnist", "stacked_mnist", "images")


@dataclass(frozen=True)
class PlayerConfig:
    """Per-player overrides of the shared model settings; None means "use the shared value"."""

    hidden: int | None = field(metadata=bounds(1))
    depth: int | None = field(metadata=bounds(0))


class _HiddenLayers:
    """What the MLP-built players share: hidden, depth and each player's overrides of them."""

    hidden: int
    depth: int

    def player(self, which: Literal["generator", "discriminator"]) -> tuple[int, int]:
        """(hidden, depth) of one player, with its overrides applied."""
        own = getattr(self, which)
        return (own.hidden or self.hidden, self.depth if own.depth is None else own.depth)


@dataclass(frozen=True)
class MlpModel(_HiddenLayers):
    """An implicit generator and a critic, both MLPs (gancli.players.models.MLP)."""

    name: Literal["mlp"]
    hidden: int = field(metadata=bounds(1))
    depth: int = field(metadata=bounds(0))
    activation: Activation
    generator: PlayerConfig
    discriminator: PlayerConfig
    pack: int = field(metadata=bounds(1))  # PacGAN: the critic judges `pack` samples at once
    spectral_norm: bool  # spectral normalisation of the critic's layers (Miyato et al. 2018)
    rescale: bool  # G's outputs and D's inputs in units of the data's extent (gancli.players.models.MLP)


@dataclass(frozen=True)
class AffineModel(_HiddenLayers):
    """G is one Gaussian, mu + sigma z; the critic is an MLP."""

    name: Literal["affine"]
    hidden: int = field(metadata=bounds(1))
    depth: int = field(metadata=bounds(0))
    activation: Activation
    generator: PlayerConfig
    discriminator: PlayerConfig
    pack: int = field(metadata=bounds(1))
    spectral_norm: bool
    rescale: ClassVar[bool] = False  # mu + sigma z is in the data's units already


@dataclass(frozen=True)
class GmmModel:
    """An explicit Gaussian mixture with no critic, trained by maximum likelihood."""

    name: Literal["gmm"]
    components: int = field(metadata=bounds(1))
    covariance: Literal["diag", "full"]
    pack: ClassVar[int] = 1  # no critic: nothing judges packs


@dataclass(frozen=True)
class DcganModel:
    """Convolutional players for images (gancli.players.dcgan)."""

    name: Literal["dcgan"]
    width: int = field(metadata=bounds(1))  # channels at the finest resolution, doubled per halving
    batch_norm: bool  # in the generator
    spectral_norm: bool
    pack: int = field(metadata=bounds(1))


ModelConfig = MlpModel | AffineModel | GmmModel | DcganModel


@dataclass(frozen=True)
class PriorConfig:
    name: Literal["gaussian", "uniform"]
    dim: int = field(metadata=bounds(1))


_NOT_TAKEN = "divergence {name!r} takes no parameter(s) {keys}"  # the option lacks the key


@dataclass(frozen=True)
class PlainDivergenceConfig:
    """A divergence of no parameters (f-GAN's, hinge, least squares, WGAN-GP)."""

    name: str  # checked against the registry in gancli.objectives.critic_losses
    generator_loss: GeneratorLoss
    penalty: Penalty  # a regulariser of the critic's input gradient (gancli.objectives.penalties)
    penalty_weight: float = field(metadata=bounds(0))  # gamma; ignored with penalty=none
    alpha: ClassVar[None] = None
    pi: ClassVar[None] = None
    members: ClassVar[None] = None
    weights: ClassVar[None] = None
    shared_critic: ClassVar[bool] = True
    UNKNOWN_KEYS: ClassVar[str] = _NOT_TAKEN


@dataclass(frozen=True)
class AlphaConfig:
    name: Literal["alpha"]
    generator_loss: GeneratorLoss
    penalty: Penalty
    penalty_weight: float = field(metadata=bounds(0))
    alpha: float  # not 0 or 1
    pi: ClassVar[None] = None
    members: ClassVar[None] = None
    weights: ClassVar[None] = None
    shared_critic: ClassVar[bool] = True
    UNKNOWN_KEYS: ClassVar[str] = _NOT_TAKEN


@dataclass(frozen=True)
class WeightedJSConfig:
    name: Literal["js_weighted"]
    generator_loss: GeneratorLoss
    penalty: Penalty
    penalty_weight: float = field(metadata=bounds(0))
    pi: float  # in (0, 1)
    alpha: ClassVar[None] = None
    members: ClassVar[None] = None
    weights: ClassVar[None] = None
    shared_critic: ClassVar[bool] = True
    UNKNOWN_KEYS: ClassVar[str] = _NOT_TAKEN


@dataclass(frozen=True)
class EnsembleConfig:
    """One critic head per member divergence (gancli.objectives.heads)."""

    name: Literal["ensemble"]
    generator_loss: GeneratorLoss
    penalty: Penalty  # on every head
    penalty_weight: float = field(metadata=bounds(0))
    members: list[str] | None  # the member divergences, one critic head each
    weights: list[float] | None = field(metadata=bounds(0, lo_open=True))  # None: equal weights
    shared_critic: bool  # heads on one critic body, or one critic per member
    alpha: float | None  # for an `alpha` member
    pi: float | None  # for a `js_weighted` member
    UNKNOWN_KEYS: ClassVar[str] = _NOT_TAKEN


@dataclass(frozen=True)
class MleConfig:
    """No critic: an explicit model ascends its log-likelihood (gancli.training.step)."""

    name: Literal["mle"]
    generator_loss: ClassVar[str] = "nonsaturating"  # unread: -log q has one form (messages name it as before)
    penalty: ClassVar[str] = "none"
    penalty_weight: ClassVar[float] = 0.0
    alpha: ClassVar[None] = None
    pi: ClassVar[None] = None
    members: ClassVar[None] = None
    weights: ClassVar[None] = None
    shared_critic: ClassVar[bool] = True


# The options with names of their own come first: PlainDivergenceConfig takes every other name.
DivergenceConfig = AlphaConfig | WeightedJSConfig | EnsembleConfig | MleConfig | PlainDivergenceConfig


@dataclass(frozen=True)
class AdamConfig:
    lr: float = field(metadata=bounds(0, lo_open=True))
    b1: float = field(metadata=bounds(0, 1, hi_open=True))
    b2: float = field(metadata=bounds(0, 1, hi_open=True))
    eps: float = field(metadata=bounds(0, lo_open=True))


@dataclass(frozen=True)
class OptimConfig:
    name: Literal["adam"]
    g: AdamConfig
    d: AdamConfig


@dataclass(frozen=True)
class TrainConfig:
    steps: int = field(metadata=bounds(1))
    batch_size: int = field(metadata=bounds(1))
    d_steps: int = field(metadata=bounds(1))
    unroll_steps: int = field(metadata=bounds(0))  # Unrolled GAN: G sees D after k more updates
    ema_decay: float = field(metadata=bounds(0, 1, hi_open=True))  # 0: evaluate G itself
    chunk: int = field(metadata=bounds(1))
    log_every: int = field(metadata=bounds(1))
    eval_every: int = field(metadata=bounds(1))
    ckpt_every: int = field(metadata=bounds(1))
    keep: int = field(metadata=bounds(1))
    eval_samples: int = field(metadata=bounds(6))  # the k-NN metrics need 6 (MIN_SAMPLES)
    objective: SummaryMetric
    progress: bool
    plots: bool  # draw plots/ and TensorBoard's figures at every evaluation
    on_nonfinite: Literal["stop", "rollback"]  # rollback: back to the last checkpoint, lower rates
    rollback_lr_factor: float = field(metadata=bounds(0, 1, lo_open=True, hi_open=True))
    max_rollbacks: int = field(metadata=bounds(1))
    num_seeds: int = field(metadata=bounds(1))  # seeds seed..seed+S-1 side by side in one program
    devices: Literal["auto", "all"] | int = field(metadata=bounds(1))  # data parallel: runner/devices


@dataclass(frozen=True)
class DistributedConfig:
    """One run over several processes (see gancli.runner.distributed). None: one process, unless SLURM
    started several tasks."""

    coordinator: str | None  # host:port where process 0 listens
    num_processes: int | None = field(metadata=bounds(1))
    process_id: int | None = field(metadata=bounds(0))


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig
    model: ModelConfig
    prior: PriorConfig
    divergence: DivergenceConfig
    optim: OptimConfig
    train: TrainConfig
    distributed: DistributedConfig
    seed: int = field(metadata=bounds(0, 2**31 - 1))


# How the processes of a run find each other: each process has its own, none changes the results.
PROCESS_KEYS = ("distributed.coordinator", "distributed.num_processes", "distributed.process_id")
# Keys that may change between a run and its resume without changing the experiment.
RESUMABLE_KEYS = ("train.steps", "train.log_every", "train.eval_every", "train.ckpt_every",
                  "train.keep", "train.chunk", "train.eval_samples", "train.objective",
                  "train.progress", "train.plots", "train.on_nonfinite", "train.rollback_lr_factor",
                  "train.max_rollbacks", "train.num_seeds", "train.devices",
                  *PROCESS_KEYS)


# Keys added after gancli 0.1.0, with what a run saved before the key existed did: how such a run's
# config reads back (gancli.training.state.LATER_LEAVES says the same of the train state's leaves).
# Not conf/'s defaults: those are what a new run does.
BEFORE_THE_KEY: dict[str, Any] = {
    "train.unroll_steps": 0,  # no look-ahead
    "train.ema_decay": 0.0,  # no weight average: those runs evaluated G itself
    "train.plots": True,  # pictures at every evaluation
    "train.on_nonfinite": "stop",
    "train.rollback_lr_factor": 0.5,  # read only with rollback; resumable
    "train.max_rollbacks": 3,  # read only with rollback; resumable
    "train.num_seeds": 1,
    "train.devices": "auto",  # one device
    "distributed.coordinator": None,  # one process
    "distributed.num_processes": None,
    "distributed.process_id": None,
    "model.pack": 1,  # no packing
    "model.spectral_norm": False,
    "model.rescale": False,  # G's outputs in the data's own units
    "divergence.penalty": "none",
    "divergence.penalty_weight": 0.0,
}
# Before divergence.penalty was a key (gancli 0.1), wgan_gp carried its gradient penalty of weight 10
# inside the objective: a run saved then ran with it.
WGAN_GP_BEFORE_PENALTIES = {"divergence.penalty": "gp", "divergence.penalty_weight": 10.0}


def parse_config(raw: dict[str, Any]) -> RunConfig:
    """Build a RunConfig from a plain nested dict, as conf/ composes it (every key given), or raise
    GancliError naming the bad key."""
    return parse(RunConfig, raw)


def saved_config(raw: dict[str, Any]) -> RunConfig:
    """The config a checkpoint saved, as this version reads it: without the keys of a group's other
    options (runs saved before each option had a class of its own carried them all, unread), and
    with each key added since the run was saved at what the run did (BEFORE_THE_KEY)."""
    hints = typing.get_type_hints(RunConfig)
    raw = copy.deepcopy(raw)  # the caller's (a checkpoint's metadata) stays as saved
    raw = {key: _own_keys(hints[key], value) if key in hints else value for key, value in raw.items()}
    divergence = raw.get("divergence")
    wgan_gp = isinstance(divergence, dict) and divergence.get("name") == "wgan_gp"
    for dotted, value in {**BEFORE_THE_KEY, **(WGAN_GP_BEFORE_PENALTIES if wgan_gp else {})}.items():
        section, key = dotted.split(".")
        node = raw.setdefault(section, {})
        if isinstance(node, dict) and key not in node and key in _keys_of(hints[section], node):
            node[key] = value
    return parse(RunConfig, raw)


def saved_data(raw: dict[str, Any]) -> DataConfig:
    """The data section of a run's saved config, read as `saved_config` reads it."""
    return parse(DataConfig, _own_keys(DataConfig, raw), "data")


def _keys_of(hint: Any, raw: dict[str, Any]) -> set[str]:
    """The keys of `hint`, or of the option of it that `raw` names."""
    cls = option_for(hint, raw.get("name")) if options(hint) else hint
    return {f.name for f in fields(cls)} if cls is not None and is_dataclass(cls) else set(raw)


def _own_keys(hint: Any, raw: Any) -> Any:
    """`raw` without the keys its option does not have."""
    if not isinstance(raw, dict) or not options(hint):
        return raw
    own = _keys_of(hint, raw)
    return {key: value for key, value in raw.items() if key in own}


def to_dict(cfg: Any) -> dict[str, Any]:
    return asdict(cfg)


def saved_settings(raw: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's config, flat, with every key this version has (see `saved_config`)."""
    try:
        return flatten(to_dict(saved_config(raw)))
    except GancliError:  # a config this version cannot read: compared as saved
        return flatten(raw)
