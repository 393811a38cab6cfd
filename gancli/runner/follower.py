"""A follower process of a run over several (see gancli.runner.distributed): it builds the same
program as the primary, then does the primary's device work as the primary orders it, and exits
with the primary's status.
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from gancli.config.train import RunConfig
from gancli.errors import GancliError
from gancli.run_dir.checkpoints import Checkpointer
from gancli.run_dir.layout import RunDir
from gancli.runner import distributed
from gancli.runner.devices import replicated
from gancli.runner.shared import Shared
from gancli.training.chunk import make_train_chunk


def follow_run(cfg: RunConfig, run_dir: Path) -> None:
    """A follower process of a run over several (see gancli.runner.distributed): the primary's device
    work, as the primary orders it; exits with the primary's status."""
    try:
        shared = Shared.of(cfg)
        template = jax.jit(shared.init)(np.int32(cfg.seed))  # its layout only: the primary's values replace it
        chunk = make_train_chunk(shared.problem, cfg.train.chunk)
    except BaseException:
        distributed.abandon()  # the primary learns of it at its first order, and stops too
        raise
    checkpointer = Checkpointer(RunDir(run_dir).checkpoints, cfg.train.keep)
    status = distributed.follow(chunk, template, replicated(shared.mesh), checkpointer)
    if status:
        raise StoppedByPrimary(status)


class StoppedByPrimary(GancliError):
    """A follower's run ended as process 0's did, with its exit status (process 0 said why)."""

    reported_elsewhere = True

    def __init__(self, status: int):
        super().__init__(f"process 0 stopped the run with exit status {status}; its output says why")
        self.exit_status = status
