"""The path arguments of sample, eval and report become the overrides their Hydra apps take."""

from __future__ import annotations

import pytest

from gancli.cli.positional import with_path_overrides
from gancli.errors import GancliError


def test_a_run_dir_becomes_the_last_override():
    assert with_path_overrides("eval", ["runs/a", "n=10"]) == ["n=10", "run_dir='runs/a'"]


def test_several_dirs_become_a_list():
    assert with_path_overrides("report", ["a", "b c", "out=r"]) == ["out=r", "dirs=['a','b c']"]


def test_flags_may_come_first_and_their_values_are_not_paths():
    """Hydra's parser takes overrides after flags but not flags after overrides: the path goes last."""
    assert with_path_overrides("eval", ["-m", "runs/a", "n=50,60"]) == ["-m", "n=50,60", "run_dir='runs/a'"]
    assert with_path_overrides("eval", ["--cfg", "job", "runs/a"]) == ["--cfg", "job", "run_dir='runs/a'"]


def test_a_folder_named_like_an_override_is_a_path(tmp_path, monkeypatch):
    """Hydra's hydra.sweep.subdir=${hydra.job.override_dirname} names job folders `divergence=gan,seed=0`."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "divergence=gan,seed=0").mkdir()
    assert with_path_overrides("eval", ["divergence=gan,seed=0", "n=7"]) == ["n=7", "run_dir='divergence=gan,seed=0'"]


def test_help_and_explicit_keys_need_no_path():
    assert with_path_overrides("sample", ["--help"]) == ["--help"]
    assert with_path_overrides("sample", ["run_dir=x", "n=3"]) == ["run_dir=x", "n=3"]


@pytest.mark.parametrize(("command", "args", "fragment"), [
    ("eval", ["n=3"], "name the run directory to read"),
    ("report", [], "name the directories to read"),
    ("sample", ["a", "b"], "reads one run directory, got 2: a b"),
])
def test_missing_or_extra_paths_are_refused(command, args, fragment):
    with pytest.raises(GancliError, match=fragment):
        with_path_overrides(command, args)
