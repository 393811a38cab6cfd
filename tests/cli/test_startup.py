"""What a run imports before its first training steps: nothing it does not need yet.

matplotlib (~0.5 s), Orbax (~0.3 s) and, through tensorboardX, PyTorch (~1.8 s when installed)
are imported when first used, so that `gancli train` starts training sooner (see BENCHMARKS.md).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gancli.config.train import to_dict

FIRST_STEPS = """
import json, sys
from pathlib import Path
import numpy as np
from gancli.config.train import parse_config
from gancli.run_dir.tensorboard import TensorBoardLog
from gancli.runner.trainer import Trainer
from gancli.training.chunk import make_train_chunk

trainer = Trainer(parse_config(json.loads(sys.argv[1])), Path(sys.argv[2]))
state, _ = trainer._restore_or_init()
TensorBoardLog(Path(sys.argv[2]) / "tb", trainer.problem.metric_names, resumed_from=None).close()
make_train_chunk(trainer.problem, 10)(state, np.int32(10))
print(json.dumps(sorted(m for m in ("matplotlib", "orbax", "torch") if m in sys.modules)))
"""


@pytest.mark.slow  # a subprocess that trains
def test_training_starts_without_importing_what_it_needs_later(smoke_config, tmp_path):
    # A stand-in torch that fails loudly if imported: tensorboardX must be imported without it.
    fake = tmp_path / "site" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise RuntimeError('torch was imported')\n")
    result = subprocess.run([sys.executable, "-c", FIRST_STEPS, json.dumps(to_dict(smoke_config())),
                             str(tmp_path / "run")], capture_output=True, text=True, timeout=300,
                            env={**_env(), "PYTHONPATH": str(tmp_path / "site")})
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_python_dash_m_gancli_is_the_gancli_command():
    result = subprocess.run([sys.executable, "-m", "gancli", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "usage: gancli <command>" in result.stdout


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
