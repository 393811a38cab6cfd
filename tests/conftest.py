"""Fixtures every test may take: the smoke preset's config, and the caches of a test session
(the helpers the tests share are in tests/helpers.py)."""

from __future__ import annotations

import os

import pytest

from gancli.cli.jax_setup import CACHE_ENV, configure_jax
from tests.helpers import SMOKE, compose_config


@pytest.fixture
def smoke_config():
    """A function: overrides -> a validated RunConfig of the seconds-long smoke preset."""
    return lambda *overrides: compose_config(*SMOKE, *overrides)


def session_folder(tmp_path_factory, name):
    """A folder of this test session, empty at its start, that its pytest-xdist workers (processes
    of their own) share: what one worker caches there, the others find."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # each worker's base folder is inside the session's
        root = root.parent
    folder = root / name
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="session", autouse=True)
def classifier_cache(tmp_path_factory):
    """The evaluation classifiers of image data, trained once per test session in a folder of
    its own (not the machine's cache): subprocesses inherit it through the environment."""
    folder = session_folder(tmp_path_factory, "classifier-cache")
    os.environ["GANCLI_CACHE"] = str(folder)
    return folder


@pytest.fixture(scope="session", autouse=True)
def compilation_cache(tmp_path_factory):
    """One JAX compilation cache for the test session, empty at its start, used in this process as
    the command line uses it: many tests compile the same small programs (the smoke preset's
    chunk, init and evaluation), and each compiles once. Subprocesses share it through `env`."""
    folder = session_folder(tmp_path_factory, "jax-cache")
    os.environ[CACHE_ENV] = str(folder)
    configure_jax()
    return folder


@pytest.fixture(scope="session")
def env(compilation_cache):
    """The environment of every subprocess: the session's compilation cache keeps them quick."""
    return {**os.environ, CACHE_ENV: str(compilation_cache)}


