"""Every bad input of docs/errors.md: gancli says exactly what the table says, in one or two
lines without a traceback, exits non-zero, and changes nothing on disk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.end_to_end.error_catalogue import CASES, DOC, documented, prepare
from tests.helpers import GANCLI, gancli

# Every case is a subprocess, and preparing them trains a few runs: about a minute (make test-slow,
# and make errors, which rewrites docs/errors.md from the same cases).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scratch(tmp_path_factory, env):
    path = tmp_path_factory.mktemp("catalogue")
    prepare(path, GANCLI, env)
    return path


@pytest.fixture(scope="module")
def results(scratch, env):
    """{args: result} of every case, run in a process of their own (see error_catalogue)."""
    script = Path(__file__).with_name("error_catalogue.py")
    run = subprocess.run([sys.executable, str(script), str(scratch)], env={**env, "GANCLI_JAX_CACHE": ""},
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    return {tuple(r["args"]): r for r in map(json.loads, run.stdout.splitlines())}


def test_the_catalogue_has_thirty_cases_or_more_and_the_doc_lists_each_once():
    assert len(CASES) >= 30
    assert len({c.args for c in CASES}) == len(CASES)
    assert set(documented()) == {c.args for c in CASES}
    assert f"lists {len(CASES)} such mistakes" in (DOC.parents[1] / "README.md").read_text()


@pytest.mark.parametrize("case", CASES, ids=[" ".join(c.args) for c in CASES])
def test_bad_input_is_refused_as_documented(results, case):
    result = results[case.args]
    stderr = result["stderr"]
    assert result["status"] != 0
    assert "Traceback" not in stderr
    assert 1 <= len(stderr.strip().splitlines()) <= 2, stderr
    assert (result["status"], stderr.strip()) == documented()[case.args], "docs/errors.md is out of date: make errors"
    assert result["unchanged"], "the command changed files on disk"


def test_gancli_debug_shows_the_traceback_behind_the_line(scratch, env):
    result = gancli({**env, "GANCLI_DEBUG": "1"}, "eval", "run", "samples=pickled.npy", cwd=scratch)
    assert result.returncode == 2
    assert "Traceback" in result.stderr and "in load_samples" in result.stderr  # where it was refused
    assert result.stderr.strip().splitlines()[-1] == documented()[("eval", "run", "samples=pickled.npy")][1]
