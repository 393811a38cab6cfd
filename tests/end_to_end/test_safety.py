"""Nothing gancli reads can run code, and nothing it runs goes through a shell."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from gancli.data.sample_file import load_samples
from gancli.errors import GancliError

PACKAGE = Path(__file__).resolve().parents[2] / "gancli"
FORBIDDEN = {
    r"\bimport (cloud)?pickle\b|\bfrom (cloud)?pickle\b": "unpickling runs code",
    r"allow_pickle\s*=\s*True": "a .npy of objects is unpickled",
    r"\byaml\.load\(|\byaml\.unsafe_load\(": "yaml.load can build any Python object; use yaml.safe_load",
    r"\binstantiate\(|_target_": "a config must not name objects to import",
    r"\bos\.system\(|shell\s*=\s*True|\bsubprocess\b": "paths from the command line never reach a shell",
    r"(?<![\w.])(eval|exec)\(": "no code from strings",
}


def _sources():
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("pattern", FORBIDDEN)
def test_the_package_has_no_way_to_run_what_it_reads(pattern):
    found = [f"{path.relative_to(PACKAGE)}:{n}" for path in _sources()
             for n, line in enumerate(path.read_text().splitlines(), 1) if re.search(pattern, line)]
    assert not found, f"{FORBIDDEN[pattern]}: {found}"


def test_every_numpy_load_refuses_pickles():
    calls = [(path, line) for path in _sources() for line in path.read_text().splitlines() if "np.load(" in line]
    assert calls, "the scan found no np.load at all: is it still looking in the right place?"
    assert all("allow_pickle=False" in line for _, line in calls), calls


def test_a_npy_of_pickled_objects_is_refused_unopened(tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}, {"b": 2}] * 5, dtype=object), allow_pickle=True)
    with pytest.raises(GancliError, match="holds pickled Python objects"):
        load_samples(path, dim=2, min_rows=6, max_rows=100)


def test_good_samples_load_as_float32(tmp_path):
    path = tmp_path / "good.npy"
    np.save(path, np.arange(20, dtype=np.int64).reshape(10, 2))
    loaded = load_samples(path, dim=2, min_rows=6, max_rows=100)
    assert loaded.dtype == np.float32 and loaded.shape == (10, 2) and loaded[9, 1] == 19
