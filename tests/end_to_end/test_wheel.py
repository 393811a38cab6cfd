"""The built wheel works on its own: conf/ ships inside it, found from any directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_environment_and_trains(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    (wheel,) = dist.glob("gancli-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)], check=True, timeout=900)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["GANCLI_JAX_CACHE"] = ""
    result = subprocess.run([str(venv / "bin" / "gancli"), "train", "experiment=smoke", "divergence=hellinger",
                             "train.progress=false"], cwd=elsewhere, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    (run_dir,) = (elsewhere / "outputs" / "train").iterdir()
    assert json.loads((run_dir / "summary.json").read_text())["step"] == 40
    # The package ran from the wheel, not from this checkout.
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import gancli.conf, os; print(gancli.conf.__file__)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True).stdout
    assert str(venv) in where
