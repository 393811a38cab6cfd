"""`gancli resume <run_dir>`: the `gancli train` command line it builds from the run's saved
overrides and the new ones, and the run directories it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gancli.cli.apps.resume import merge_overrides, override_key, train_arguments
from gancli.cli.run_record import run_dir_of


@pytest.mark.parametrize(("override", "key"), [
    ("seed=1", "seed"),
    ("+train.extra=1", "train.extra"),
    ("++train.extra=1", "train.extra"),
    ("~train.plots", "train.plots"),
    ("~train.plots=true", "train.plots"),
    ("data.path=a=b.npy", "data.path"),  # only the first '=' ends the key
])
def test_the_key_of_an_override_whatever_its_prefix(override, key):
    assert override_key(override) == key


def test_new_overrides_replace_the_saved_ones_of_the_same_key_and_come_last():
    saved = ["seed=1", "train.steps=40", "+train.extra=2", "divergence=kl"]
    new = ["train.steps=80", "~train.extra", "model.hidden=32"]
    assert merge_overrides(saved, new) == ["seed=1", "divergence=kl", "train.steps=80", "~train.extra",
                                           "model.hidden=32"]
    assert merge_overrides(saved, []) == saved


def _run(tmp_path: Path, name: str, overrides: list[str] | None) -> Path:
    run_dir = tmp_path / name
    (run_dir / ".hydra").mkdir(parents=True)
    text = "" if overrides is None else yaml.safe_dump(overrides)
    (run_dir / ".hydra" / "overrides.yaml").write_text(text)
    return run_dir


def test_the_train_command_line_replays_the_run_and_points_hydra_at_it(tmp_path):
    run_dir = _run(tmp_path, "run", ["experiment=smoke", "seed=3", "train.steps=40"])
    assert train_arguments([str(run_dir), "train.steps=80", "train.log_every=5"]) == [
        "experiment=smoke", "seed=3", "train.steps=80", "train.log_every=5", f"hydra.run.dir='{run_dir}'"]


def test_a_run_dir_with_quotes_and_spaces_reaches_hydra_as_the_same_path(tmp_path):
    run_dir = _run(tmp_path, "it's a run, really", ["seed=0"])
    args = train_arguments([str(run_dir)])
    assert args[-1] == "hydra.run.dir='" + str(run_dir).replace("'", "\\'") + "'"
    assert run_dir_of(args) == run_dir  # what keeps its record on a refused resume reads it back


def test_a_run_started_with_no_overrides_resumes_with_the_new_ones_only(tmp_path):
    run_dir = _run(tmp_path, "run", None)  # an empty overrides.yaml: `gancli train` alone
    assert train_arguments([str(run_dir), "seed=2"]) == ["seed=2", f"hydra.run.dir='{run_dir}'"]


def test_how_the_first_launchs_processes_met_is_not_replayed(tmp_path):
    run_dir = _run(tmp_path, "run", ["seed=1", "distributed.coordinator=node1:1234", "distributed.num_processes=2"])
    assert train_arguments([str(run_dir)]) == ["seed=1", f"hydra.run.dir='{run_dir}'"]


def test_a_missing_run_dir_is_refused(tmp_path):
    with pytest.raises(ValueError, match=f"^run directory {tmp_path / 'gone'} does not exist$"):
        train_arguments([str(tmp_path / "gone")])


def test_a_directory_gancli_did_not_make_is_refused_with_what_to_pass(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(ValueError) as err:
        train_arguments([str(tmp_path / "plain")])
    message = str(err.value)
    assert "is not a gancli run directory (it has no .hydra/overrides.yaml)" in message
    assert "outputs/train/<timestamp>" in message and "\n" not in message


@pytest.mark.parametrize("flag", ["-m", "--multirun"])
def test_a_sweep_is_refused(tmp_path, flag):
    run_dir = _run(tmp_path, "run", ["seed=0"])
    with pytest.raises(ValueError, match="resume continues one run: drop -m/--multirun"):
        train_arguments([str(run_dir), flag, "seed=0,1"])

