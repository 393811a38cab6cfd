"""The typed run configuration: dataclasses, and the validator that builds them from a plain dict.

Hydra composes the YAML in `conf/`; this module turns the resulting plain dict into frozen
dataclasses, rejecting unknown keys, wrong types and out-of-range values with one line that
names the key and what is allowed. Nothing here imports Hydra.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from gancli.errors import GancliError

Activation = Literal["relu", "leaky_relu", "elu", "tanh", "gelu", "silu"]
GeneratorLoss = Literal["nonsaturating", "minimax"]
# Summary metrics a sweep can optimise (the train task returns the chosen one).
Objective = Literal["high_quality_fraction", "modes_captured", "divergence_estimate", "d_loss", "g_loss"]


def _range(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
           hi_open: bool = False) -> dict[str, Any]:
    return {"lo": lo, "hi": hi, "lo_open": lo_open, "hi_open": hi_open}


@dataclass(frozen=True)
class DataConfig:
    """A 2-D mixture of isotropic Gaussians: `ring` (modes on a circle) or `grid` (a square lattice)."""

    name: Literal["ring", "grid"]
    std: float = field(default=0.01, metadata=_range(0, lo_open=True))
    modes: int = field(default=8, metadata=_range(1))  # ring only
    radius: float = field(default=1.0, metadata=_range(0, lo_open=True))  # ring only
    side: int = field(default=5, metadata=_range(1))  # grid only: side x side modes
    spacing: float = field(default=2.0, metadata=_range(0, lo_open=True))  # grid only


@dataclass(frozen=True)
class PlayerConfig:
    """Per-player overrides of the shared model settings; None means "use the shared value"."""

    hidden: int | None = field(default=None, metadata=_range(1))
    depth: int | None = field(default=None, metadata=_range(0))


@dataclass(frozen=True)
class ModelConfig:
    name: Literal["mlp"]
    hidden: int = field(default=128, metadata=_range(1))
    depth: int = field(default=4, metadata=_range(0))
    activation: Activation = "relu"
    generator: PlayerConfig = PlayerConfig()
    discriminator: PlayerConfig = PlayerConfig()

    def player(self, which: Literal["generator", "discriminator"]) -> tuple[int, int]:
        """(hidden, depth) of one player, with its overrides applied."""
        own = getattr(self, which)
        return (own.hidden or self.hidden, self.depth if own.depth is None else own.depth)


@dataclass(frozen=True)
class PriorConfig:
    name: Literal["gaussian", "uniform"]
    dim: int = field(default=2, metadata=_range(1))


@dataclass(frozen=True)
class DivergenceConfig:
    name: str  # checked against the registry in gancli.divergences
    generator_loss: GeneratorLoss = "nonsaturating"


@dataclass(frozen=True)
class AdamConfig:
    lr: float = field(default=1e-4, metadata=_range(0, lo_open=True))
    b1: float = field(default=0.5, metadata=_range(0, 1, hi_open=True))
    b2: float = field(default=0.999, metadata=_range(0, 1, hi_open=True))
    eps: float = field(default=1e-8, metadata=_range(0, lo_open=True))


@dataclass(frozen=True)
class OptimConfig:
    name: Literal["adam"]
    g: AdamConfig = AdamConfig()
    d: AdamConfig = AdamConfig()


@dataclass(frozen=True)
class TrainConfig:
    steps: int = field(default=10000, metadata=_range(1))
    batch_size: int = field(default=256, metadata=_range(1))
    d_steps: int = field(default=1, metadata=_range(1))
    chunk: int = field(default=100, metadata=_range(1))
    log_every: int = field(default=100, metadata=_range(1))
    eval_every: int = field(default=2000, metadata=_range(1))
    ckpt_every: int = field(default=2000, metadata=_range(1))
    keep: int = field(default=3, metadata=_range(1))
    eval_samples: int = field(default=2500, metadata=_range(1))
    objective: Objective = "high_quality_fraction"
    progress: bool = True


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig
    model: ModelConfig
    prior: PriorConfig
    divergence: DivergenceConfig
    optim: OptimConfig
    train: TrainConfig = TrainConfig()
    seed: int = field(default=0, metadata=_range(0, 2**31 - 1))


# Keys that may change between a run and its resume without changing the experiment.
RESUMABLE_KEYS = ("train.steps", "train.log_every", "train.eval_every", "train.ckpt_every",
                  "train.keep", "train.chunk", "train.eval_samples", "train.objective",
                  "train.progress")


def parse_config(raw: dict[str, Any]) -> RunConfig:
    """Build a RunConfig from a plain nested dict, or raise GancliError naming the bad key."""
    return _build(RunConfig, raw, prefix="")


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}: the dotted names a user types on the command line."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise GancliError(f"config key '{prefix.rstrip('.') or '<root>'}' must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise GancliError(f"unknown config key '{prefix}{unknown[0]}'; valid keys here: "
                          f"{', '.join(prefix + k for k in fields)}")
    values = {}
    for name, f in fields.items():
        key = prefix + name
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise GancliError(f"config key '{key}' is missing; set it with {key}=<value>")
            continue
        values[name] = _check(hints[name], raw[name], key, f.metadata)
    return cls(**values)


def _check(hint: Any, value: Any, key: str, limits: Any) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key + ".")
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _check(args[0], value, key, limits)
    if origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise GancliError(f"config key '{key}' is {value!r}; allowed values: {', '.join(map(str, allowed))}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise GancliError(f"config key '{key}' must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise GancliError(f"config key '{key}' must be an integer, got {value!r}")
    elif hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise GancliError(f"config key '{key}' must be a number, got {value!r}")
        value = float(value)
    elif hint is str:
        if not isinstance(value, str):
            raise GancliError(f"config key '{key}' must be a string, got {value!r}")
        return value
    _check_range(value, key, limits)
    return value


def _check_range(value: float, key: str, limits: Any) -> None:
    lo, hi = limits.get("lo"), limits.get("hi")
    too_low = lo is not None and (value <= lo if limits["lo_open"] else value < lo)
    too_high = hi is not None and (value >= hi if limits["hi_open"] else value > hi)
    if too_low or too_high:
        left = "(" if limits["lo_open"] else "["
        right = ")" if limits["hi_open"] else "]"
        bounds = f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"
        raise GancliError(f"config key '{key}' is {value!r}; it must lie in {bounds}")
