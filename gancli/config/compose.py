"""Configs composed from conf/, as the commands compose them: how library code and the tests get
the YAML's defaults, which the config classes do not repeat (see gancli.config.train)."""

from __future__ import annotations

import copy
import functools
import typing
from typing import Any

from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from gancli.config.estimate import EstimateConfig, parse_estimate_config
from gancli.config.schema import parse
from gancli.config.train import RunConfig, parse_config


def compose_raw(command: str, *overrides: str) -> dict[str, Any]:
    """The plain dict `gancli <command> <overrides>` builds from conf/ (without Hydra's own keys)."""
    return copy.deepcopy(_composed(command, overrides))


@functools.cache  # ~30 ms a composition; callers get copies
def _composed(command: str, overrides: tuple[str, ...]) -> dict[str, Any]:
    with initialize_config_module(config_module="gancli.conf", version_base="1.3"):
        cfg = compose(config_name=command, overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)


def train_config(*overrides: str) -> RunConfig:
    """The config of `gancli train <overrides>`, e.g. train_config("data=grid", "train.steps=500")."""
    return parse_config(compose_raw("train", *overrides))


def estimate_config(*overrides: str) -> EstimateConfig:
    """The config of `gancli estimate <overrides>`."""
    return parse_estimate_config(compose_raw("estimate", *overrides))


def group_config(group: str, option: str, **keys: Any) -> Any:
    """One option of a config group of `gancli train` as conf/ sets it, with `keys` in place of its
    own: e.g. group_config("data", "ring", std=0.05), a RingData."""
    raw = {**compose_raw("train", f"{group}={option}")[group], **keys}
    return parse(typing.get_type_hints(RunConfig)[group], raw, group)
