"""Shared helpers: real configs composed from conf/ through Hydra's compose API, and the CLI run as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from gancli.config.train import RunConfig, parse_config

SMOKE = ["experiment=smoke", "train.progress=false", "train.plots=false"]  # tests of pictures turn them on
PLOTS = "train.plots=true"


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


GANCLI = str(Path(sys.executable).parent / "gancli")


@pytest.fixture(scope="session", autouse=True)
def classifier_cache(tmp_path_factory):
    """The evaluation classifiers of image data, trained once per test session in a folder of
    its own (not the machine's cache): subprocesses inherit it through the environment."""
    folder = tmp_path_factory.mktemp("classifier-cache")
    os.environ["GANCLI_CACHE"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def env(tmp_path_factory):
    """The environment of every subprocess: a shared compilation cache keeps them quick."""
    return {**os.environ, "GANCLI_JAX_CACHE": str(tmp_path_factory.mktemp("jax-cache"))}


def gancli(env, *args, cwd=None, timeout=180):
    return subprocess.run([GANCLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
