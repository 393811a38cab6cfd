"""Process-wide settings of the command line: where JAX caches compiled programs (GANCLI_JAX_CACHE),
and the library loggers kept quiet in run logs."""

from __future__ import annotations

import logging

import jax
import pytest

from gancli.cli.jax_setup import CACHE_ENV, configure_jax, quiet_library_logs

CACHE_SETTINGS = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
                  "jax_persistent_cache_min_entry_size_bytes")


@pytest.fixture
def jax_cache_settings():
    """JAX's cache settings as a test left them are put back: the test session's cache is in use."""
    saved = {name: getattr(jax.config, name) for name in CACHE_SETTINGS}
    # Values configure_jax must change, so that a test sees whether it did.
    jax.config.update("jax_compilation_cache_dir", "/nowhere/set/by/the/test")
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 1000)
    yield
    for name, value in saved.items():
        jax.config.update(name, value)


def test_the_cache_goes_where_the_environment_says_and_keeps_every_program(jax_cache_settings, monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    configure_jax()
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / "cache")
    # Small programs (init, evaluation) are cached too: no time or size threshold.
    assert jax.config.jax_persistent_cache_min_compile_time_secs == 0
    assert jax.config.jax_persistent_cache_min_entry_size_bytes == 0


def test_the_cache_defaults_to_the_users_cache_folder(jax_cache_settings, monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    configure_jax()
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / ".cache" / "gancli" / "jax")


def test_an_empty_cache_variable_turns_the_cache_off(jax_cache_settings, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, "")
    configure_jax()
    assert jax.config.jax_compilation_cache_dir == "/nowhere/set/by/the/test"  # left as it was
    assert jax.config.jax_persistent_cache_min_compile_time_secs == 1.0


@pytest.fixture
def logging_state(monkeypatch):
    """The library loggers' levels and logging.raiseExceptions are put back after the test."""
    levels = {name: logging.getLogger(name).level for name in ("jax", "absl", "matplotlib")}
    monkeypatch.setattr(logging, "raiseExceptions", True)
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_library_loggers_show_warnings_only(logging_state):
    for name in ("jax", "absl", "matplotlib"):
        logging.getLogger(name).setLevel(logging.DEBUG)  # as Hydra's INFO root would let through
    quiet_library_logs()
    for name in ("jax", "absl", "matplotlib"):
        logger = logging.getLogger(name)
        assert not logger.isEnabledFor(logging.INFO) and logger.isEnabledFor(logging.WARNING)


def test_a_log_line_that_cannot_be_written_is_dropped_without_a_traceback(logging_state, capsys):
    class FullDisk(logging.Handler):
        def emit(self, record):
            try:
                raise OSError(28, "No space left on device")
            except OSError:
                self.handleError(record)  # what logging's own handlers do when a write fails

    quiet_library_logs()
    logger = logging.getLogger("gancli.test.full_disk")
    handler = FullDisk()
    logger.addHandler(handler)
    try:
        logger.warning("a line")
    finally:
        logger.removeHandler(handler)
    assert "Traceback" not in capsys.readouterr().err
