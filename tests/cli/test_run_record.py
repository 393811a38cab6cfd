"""A failed command into an existing run keeps the run's record (.hydra/*.yaml) as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from gancli.cli.errors import fail
from gancli.cli.positional import quote
from gancli.cli.run_record import kept_on_failure, run_dir_of


def test_run_dir_of_reads_the_last_override_and_unquotes_it():
    resumed = train_arguments_for("it's a dir")
    assert run_dir_of(["a=1", "hydra.run.dir=x", resumed]) == Path("it's a dir")
    assert run_dir_of(["hydra.run.dir=plain/dir"]) == Path("plain/dir")
    assert run_dir_of(["train.steps=3"]) is None
    assert run_dir_of(["-m", "hydra.run.dir=x"]) is None  # a sweep writes to its sweep dir


def train_arguments_for(path: str) -> str:
    """The hydra.run.dir override `gancli resume` passes for `path`."""
    return f"hydra.run.dir={quote(path)}"


@pytest.fixture
def record(tmp_path):
    hydra = tmp_path / ".hydra"
    hydra.mkdir()
    (hydra / "overrides.yaml").write_text("- seed=1\n")
    (hydra / "config.yaml").write_text("seed: 1\n")
    return hydra


def test_usage_error_puts_the_record_back(tmp_path, record):
    with pytest.raises(SystemExit) as exit_, kept_on_failure(tmp_path):
        (record / "overrides.yaml").write_text("- seed=2\n")  # what Hydra does before the task runs
        fail("gancli train", "refused")
    assert exit_.value.code == 2
    assert (record / "overrides.yaml").read_text() == "- seed=1\n"
    assert (record / "config.yaml").read_text() == "seed: 1\n"


def test_success_and_signals_keep_the_new_record(tmp_path, record):
    with kept_on_failure(tmp_path):
        (record / "overrides.yaml").write_text("- seed=2\n")
    assert (record / "overrides.yaml").read_text() == "- seed=2\n"
    with pytest.raises(SystemExit), kept_on_failure(tmp_path):  # 130: stopped after saving, config was in use
        (record / "overrides.yaml").write_text("- seed=3\n")
        raise SystemExit(130)
    assert (record / "overrides.yaml").read_text() == "- seed=3\n"


def test_a_new_run_dir_has_nothing_to_restore(tmp_path):
    with pytest.raises(SystemExit), kept_on_failure(tmp_path / "new"):
        fail("gancli train", "refused")
    assert not (tmp_path / "new").exists()
