"""Shared fixtures: real configs composed from conf/ through Hydra's compose API."""

from __future__ import annotations

from typing import Any

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from gancli.config import RunConfig, parse_config

SMOKE = ["experiment=smoke", "train.progress=false"]


def compose_raw(*overrides: str) -> dict[str, Any]:
    """The plain dict `gancli train <overrides>` would build, composed from the real conf/."""
    with initialize_config_module(config_module="gancli.conf", version_base="1.3"):
        cfg = compose(config_name="train", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)


def compose_config(*overrides: str) -> RunConfig:
    return parse_config(compose_raw(*overrides))


@pytest.fixture
def smoke_config():
    """A function: overrides -> a validated RunConfig of the seconds-long smoke preset."""
    return lambda *overrides: compose_config(*SMOKE, *overrides)
