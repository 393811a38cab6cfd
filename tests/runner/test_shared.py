"""What the runs of one config share: the problem, its initialiser and the state's layout, the
devices a run spans, and the refusals of what a run over several processes or devices cannot do."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import gancli.runner.distributed
from gancli.errors import GancliError
from gancli.runner.shared import Shared
from tests.helpers import SMOKE, compose_config


def test_a_one_device_run_shares_its_problem_and_the_states_layout():
    cfg = compose_config(*SMOKE, "train.batch_size=8")
    shared = Shared.of(cfg)
    assert shared.mesh is None and not shared.several and shared.problem.batch_sharding is None
    assert shared.problem.batch_size == 8 and shared.data_digest is None  # toy data: no images to hash
    assert shared.evaluator is not None
    # The abstract state is init's layout, for every seed: what a checkpoint is restored into.
    state = jax.eval_shape(shared.init, np.int32(cfg.seed + 1))
    assert jax.tree.structure(shared.abstract_state) == jax.tree.structure(state)
    assert [(a.shape, a.dtype) for a in jax.tree.leaves(shared.abstract_state)] == \
        [(a.shape, a.dtype) for a in jax.tree.leaves(state)]
    # One device, one process: placing a state and taking this process's copy change nothing.
    placed = {"step": np.int32(3)}
    assert shared.place(placed) is placed and shared.local(placed) is placed


def test_image_data_is_known_by_a_digest_of_its_images():
    """Kept with each checkpoint: a resume onto other images is refused."""
    digests = [Shared.of(compose_config(*SMOKE, "data=digits", *size)).data_digest
               for size in ((), (), ("data.image_size=4",))]
    assert isinstance(digests[0], str) and len(digests[0]) == 64  # a sha256 in hex
    assert digests[0] == digests[1] != digests[2]  # the same images, the same digest; resized, another


@pytest.mark.parametrize("override", ["train.num_seeds=2", "train.on_nonfinite=rollback"])
def test_a_run_over_several_processes_refuses_seeds_together_and_rollback(monkeypatch, override):
    monkeypatch.setattr(gancli.runner.distributed, "several_processes", lambda: True)
    with pytest.raises(GancliError, match="a run over several processes trains one seed and stops on a non-finite "
                                          "loss: drop train.num_seeds and train.on_nonfinite=rollback, or train in "
                                          "one process"):
        Shared.of(compose_config(*SMOKE, override))


def test_a_run_over_several_processes_must_split_its_batch_over_every_device(monkeypatch):
    monkeypatch.setattr(gancli.runner.distributed, "several_processes", lambda: True)
    monkeypatch.setattr(jax, "device_count", lambda: 2)  # another process's device besides this one's
    with pytest.raises(GancliError, match=r"splits its batch over every device of every process: drop "
                                          r"train.devices=1 \(or pass train.devices=all\)"):
        Shared.of(compose_config(*SMOKE, "train.devices=1"))


def test_seeds_trained_together_cannot_split_a_batch_over_devices(monkeypatch):
    monkeypatch.setattr(jax, "devices", lambda: ["d0", "d1"])  # refused before any mesh is made of them
    with pytest.raises(GancliError, match=r"seeds trained together \(train.num_seeds\) share one device: drop one of "
                                          r"the two"):
        Shared.of(compose_config(*SMOKE, "train.num_seeds=2", "train.devices=all"))
