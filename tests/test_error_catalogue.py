"""Every bad input of docs/errors.md: gancli says exactly what the table says, in one or two
lines without a traceback, exits non-zero, and changes nothing on disk."""

from __future__ import annotations

import pytest

from .conftest import GANCLI
from .error_catalogue import CASES, Case, documented, prepare, run_case, snapshot


@pytest.fixture(scope="module")
def scratch(tmp_path_factory, env):
    path = tmp_path_factory.mktemp("catalogue")
    prepare(path, GANCLI, env)
    return path


def test_the_catalogue_has_thirty_cases_or_more_and_the_doc_lists_each_once():
    assert len(CASES) >= 30
    assert len({c.args for c in CASES}) == len(CASES)
    assert set(documented()) == {c.args for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=[" ".join(c.args) for c in CASES])
def test_bad_input_is_refused_as_documented(scratch, case):
    before = snapshot(scratch)
    status, stderr = run_case(case, scratch)
    assert status != 0
    assert "Traceback" not in stderr
    assert 1 <= len(stderr.strip().splitlines()) <= 2, stderr
    assert (status, stderr.strip()) == documented()[case.args], "docs/errors.md is out of date: run `make errors`"
    assert snapshot(scratch) == before


def test_gancli_debug_shows_the_traceback_behind_the_line(scratch, monkeypatch):
    monkeypatch.setenv("GANCLI_DEBUG", "1")
    status, stderr = run_case(Case("", ("eval", "run", "samples=pickled.npy")), scratch)
    assert status == 2
    assert "Traceback" in stderr and "in load_samples" in stderr  # where it was refused, then the line
    assert stderr.strip().splitlines()[-1] == documented()[("eval", "run", "samples=pickled.npy")][1]
