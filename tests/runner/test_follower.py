"""A follower process of a run over several, in one process: it abandons a run it cannot build
(so the primary stops too), follows the primary's orders, and exits with the primary's status."""

from __future__ import annotations

import numpy as np
import pytest

import gancli.runner.distributed
import gancli.runner.follower
from gancli.errors import GancliError
from gancli.runner.follower import StoppedByPrimary, follow_run
from tests.helpers import SMOKE, compose_config


def test_a_follower_stopped_by_the_primary_exits_with_its_status_and_says_where_to_look():
    stopped = StoppedByPrimary(3)
    assert isinstance(stopped, GancliError) and stopped.exit_status == 3
    assert str(stopped) == "process 0 stopped the run with exit status 3; its output says why"
    assert stopped.reported_elsewhere  # process 0 reports it and writes failure.json, not every follower


def test_a_follower_that_cannot_build_the_run_abandons_it_then_raises(monkeypatch, tmp_path):
    abandoned = []
    monkeypatch.setattr(gancli.runner.distributed, "abandon", lambda: abandoned.append(True))
    with pytest.raises(GancliError, match="fit it with divergence=mle"):
        follow_run(compose_config(*SMOKE, "model=gmm"), tmp_path)  # a pairing build refuses
    assert abandoned == [True]  # the primary learns of it at its first order, rather than wait forever


@pytest.mark.parametrize("status", [0, 1])
def test_a_follower_follows_the_primary_and_exits_with_its_status(monkeypatch, tmp_path, status):
    followed = {}

    def follow(chunk, template, sharding, checkpointer):
        followed.update(template=template, sharding=sharding, directory=checkpointer.directory)
        checkpointer.close()  # what the primary's END order makes the real follow do
        return status

    monkeypatch.setattr(gancli.runner.distributed, "follow", follow)
    monkeypatch.setattr(gancli.runner.distributed, "abandon", lambda: pytest.fail("a built run was abandoned"))
    # One process has no mesh to replicate over; the followers of a real run always have one.
    monkeypatch.setattr(gancli.runner.follower, "replicated", lambda mesh: "replicated")
    cfg = compose_config(*SMOKE)  # its initialiser compiled once for the suite, shared through the session's cache
    if status:
        with pytest.raises(StoppedByPrimary, match=f"exit status {status}") as stopped:
            follow_run(cfg, tmp_path)
        assert stopped.value.exit_status == status
    else:
        assert follow_run(cfg, tmp_path) is None
    # The template is the initial state's layout (its values the primary's to replace).
    assert int(followed["template"].step) == 0 and followed["template"].d is not None
    assert np.asarray(followed["template"].lr_scale).shape == ()
    assert followed["sharding"] == "replicated" and followed["directory"] == tmp_path / "checkpoints"
