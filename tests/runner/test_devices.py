"""Data parallel training (train.devices): the batch split over 4 host devices computes what one
device computes, and checkpoints move between device counts."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from gancli.errors import GancliError
from gancli.runner.devices import chosen_devices
from gancli.runner.trainer import train_and_evaluate
from tests.helpers import SMOKE, assert_one_line_error, assert_records_close, gancli, records

# Run in a process of its own: JAX fixes its CPU device count when it starts.
ON_FOUR_DEVICES = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import jax, numpy as np
    from tests.helpers import compose_config
    from gancli.training.chunk import make_train_chunk
    from gancli.runner.shared import Shared
    from gancli.runner.trainer import train_and_evaluate

    cfg = compose_config(*json.loads(sys.argv[1]))
    shared = Shared.of(cfg)
    state = shared.place(jax.jit(shared.init)())
    program = make_train_chunk(shared.problem, cfg.train.chunk).lower(state, np.int32(1)).compile().as_text()
    train_and_evaluate(cfg, Path(sys.argv[2]))
    print(json.dumps({"devices": len(jax.devices()), "mesh": shared.mesh.devices.size,
                      "all_reduce": "all-reduce" in program, "placed": len(state.step.sharding.device_set)}))
""")


def test_the_devices_chosen(monkeypatch):
    assert len(chosen_devices("auto", 256, 1)) == 1 and len(chosen_devices("all", 256, 1)) == 1
    with pytest.raises(GancliError, match="train.devices=2 asks for 2 devices and JAX sees 1 .* JAX_NUM_CPU_DEVICES=2"):
        chosen_devices(2, 256, 1)
    monkeypatch.setattr("jax.devices", lambda: ["d0", "d1", "d2", "d3"])
    assert chosen_devices("all", 256, 2) == ["d0", "d1", "d2", "d3"] and chosen_devices(2, 256, 1) == ["d0", "d1"]
    with pytest.raises(GancliError, match="batch_size=100 does not split into whole packs of 2 over 4 devices: pass a "
                                          "batch size that is a multiple of 8"):
        chosen_devices("all", 100, 2)


def test_a_bad_devices_value_is_one_line(env, tmp_path):
    assert_one_line_error(gancli(env, "train", *SMOKE, "train.devices=most", f"hydra.run.dir={tmp_path}"),
                          "config key 'train.devices' is 'most'; one of auto, all, or an integer >= 1")


@pytest.mark.slow
def test_four_devices_train_what_one_trains(env, smoke_config, tmp_path):
    """JAX_NUM_CPU_DEVICES=4: the program splits the batch (its gradients are all-reduced, the
    parameters are on every device), and the run matches one device's to float tolerance;
    resumed on one device, then on two, it goes on from its checkpoints."""
    overrides = [*SMOKE, "train.devices=all", "train.batch_size=64"]
    four = subprocess.run([sys.executable, "-c", ON_FOUR_DEVICES, json.dumps(overrides), str(tmp_path / "four")],
                          env={**env, "JAX_NUM_CPU_DEVICES": "4"}, capture_output=True, text=True, timeout=300)
    assert four.returncode == 0, four.stderr
    assert json.loads(four.stdout.splitlines()[-1]) == {"devices": 4, "mesh": 4, "all_reduce": True, "placed": 4}
    train_and_evaluate(smoke_config("train.batch_size=64"), tmp_path / "one")
    assert_records_close(records(tmp_path / "four"), records(tmp_path / "one"))

    into = f"hydra.run.dir={tmp_path / 'four'}"
    on_one = gancli(env, "train", *overrides, "train.steps=60", "train.devices=auto", into)
    assert on_one.returncode == 0, on_one.stderr
    on_two = gancli({**env, "JAX_NUM_CPU_DEVICES": "2"}, "train", *overrides, "train.steps=80", "train.devices=2", into)
    assert on_two.returncode == 0, on_two.stderr
    assert [r["step"] for r in records(tmp_path / "four")][-1] == 80
    assert np.isfinite(json.loads((tmp_path / "four" / "summary.json").read_text())["d_loss"])
