"""Process-wide settings for the command line: the JAX compilation cache and library log levels."""

from __future__ import annotations

import logging
import os
from pathlib import Path

CACHE_ENV = "GANCLI_JAX_CACHE"


def configure_jax() -> None:
    """Cache compiled programs on disk so a second run of the same config starts in ~2 s.

    GANCLI_JAX_CACHE=<dir> moves the cache; GANCLI_JAX_CACHE= (empty) turns it off.
    """
    import jax

    cache = os.environ.get(CACHE_ENV, str(Path.home() / ".cache" / "gancli" / "jax"))
    if not cache:
        return
    jax.config.update("jax_compilation_cache_dir", cache)
    # Cache every program, not only slow ones: the init and eval programs are small but many.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def quiet_library_logs() -> None:
    """Hydra sets the root logger to INFO; keep JAX's, absl's and matplotlib's chatter out of run logs."""
    for name in ("jax", "absl", "matplotlib"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # A log line that cannot be written (a full disk) is dropped, not printed as a traceback:
    # the write that matters fails too, with its own one-line error.
    logging.raiseExceptions = False
