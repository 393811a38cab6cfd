"""Helpers the tests share: real configs composed from conf/ through Hydra's compose API, the CLI
run as a subprocess, and what runs leave read back (checkpoints, metrics, TensorBoard events)."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest
from tensorboardX.proto import event_pb2

from gancli.config.compose import compose_raw as compose_command
from gancli.config.compose import train_config
from gancli.config.train import RunConfig
from gancli.run_dir.checkpoints import Checkpointer
from gancli.training.problem import build
from gancli.training.state import from_tree, to_tree

SMOKE = ["experiment=smoke", "train.progress=false", "train.plots=false"]  # tests of pictures turn them on
PLOTS = "train.plots=true"

GANCLI = str(Path(sys.executable).parent / "gancli")


def slow_except(keep, cases):
    """Parameters for pytest.mark.parametrize: the cases `keep(*case)` picks as they are, every other
    marked slow. A few cases stand for the family in the fast suite; make test-slow runs them all."""
    params = []
    for case in cases:
        args = case if isinstance(case, tuple) else (case,)
        params.append(case if keep(*args) else pytest.param(*args, marks=pytest.mark.slow))
    return params


def saved_state(cfg, run_dir, step=None):
    """The train state in run_dir's checkpoint at `step` (default: the newest)."""
    _, init = build(cfg)
    checkpointer = Checkpointer(run_dir / "checkpoints", keep=10)
    try:
        return from_tree(checkpointer.restore(step or checkpointer.latest_step(), to_tree(jax.eval_shape(init))))
    finally:
        checkpointer.close()


def _host(x):
    """A leaf as a NumPy array; a typed PRNG key as its raw key data."""
    return np.asarray(jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x)


def assert_states_equal(a, b):
    leaves_a, tree_a = jax.tree.flatten(jax.tree.map(_host, a))
    leaves_b, tree_b = jax.tree.flatten(jax.tree.map(_host, b))
    assert tree_a == tree_b
    for x, y in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(x, y)  # bit-identical, not merely close


def records(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def assert_records_close(a, b):
    assert [r.keys() for r in a] == [r.keys() for r in b]
    for x, y in zip(a, b, strict=True):
        for key, value in x.items():
            if isinstance(value, float):
                assert np.isclose(value, y[key], rtol=1e-4, atol=1e-5), (key, x["step"], value, y[key])
            else:
                assert value == y[key], (key, x["step"])


def events(tb_dir):
    """Every Event in the TFRecord files of tb_dir, the oldest file first (a record: length, crc,
    data, crc)."""
    files = []
    for path in tb_dir.glob("events.out.tfevents.*"):
        raw, offset, found = path.read_bytes(), 0, []
        while offset < len(raw):
            (length,) = struct.unpack_from("<Q", raw, offset)
            found.append(event_pb2.Event.FromString(raw[offset + 12: offset + 12 + length]))
            offset += 12 + length + 4
        files.append(found)
    return [event for found in sorted(files, key=lambda f: f[0].wall_time) for event in found]


def visible(found):
    """The events TensorBoard shows: a purge marker (SessionLog START at step S) hides the
    events before it in the stream whose step is S or more."""
    shown = []
    for event in found:
        if event.HasField("session_log") and event.session_log.status == event.session_log.START:
            shown = [e for e in shown if e.step < event.step]
        shown.append(event)
    return shown


def scalar_steps(found, tag):
    return [e.step for e in found if e.HasField("summary") for v in e.summary.value if v.tag == tag and
            v.HasField("simple_value")]


def compose_raw(*overrides: str) -> dict[str, Any]:
    """The plain dict `gancli train <overrides>` would build, composed from the real conf/."""
    return compose_command("train", *overrides)


def compose_config(*overrides: str) -> RunConfig:
    return train_config(*overrides)


def command_config(command: str, **keys: Any) -> Any:
    """The config of `gancli sample`, `eval` or `report` as conf/ composes it, with `keys` in place
    of its own (run_dir, dirs: the required ones)."""
    from gancli.commands.evaluate import parse_eval_config
    from gancli.commands.report import parse_report_config
    from gancli.commands.sample import parse_sample_config

    parse = {"sample": parse_sample_config, "eval": parse_eval_config, "report": parse_report_config}[command]
    return parse({**compose_command(command), **keys})


def gancli(env, *args, cwd=None, timeout=180):
    return subprocess.run([GANCLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
