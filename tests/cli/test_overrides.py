"""The check of a command line's overrides against conf/ before Hydra runs: an unknown group option
or config key is one GancliError that names it and says what is allowed, for every Hydra app."""

from __future__ import annotations

from pathlib import Path

import pytest

from gancli.cli.overrides import _values, check_overrides, group_options, root_defaults
from gancli.errors import GancliError

CONF = Path(__file__).resolve().parents[2] / "conf"  # shipped as gancli.conf


def _yaml_stems(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.yaml"))


@pytest.mark.parametrize("group", ["divergence", "data", "prior", "hydra/launcher"])
def test_a_groups_options_are_its_yaml_files_sorted(group):
    options = group_options(group)
    assert options == _yaml_stems(CONF / group)
    assert options and not any(o.endswith(".yaml") for o in options)


def test_an_unknown_option_names_every_option_of_its_group():
    with pytest.raises(GancliError) as err:
        check_overrides("train", ["prior=gausian"])
    assert str(err.value) == f"unknown prior 'gausian'; choose one of: {', '.join(_yaml_stems(CONF / 'prior'))}"


def test_each_value_of_a_sweep_is_checked_and_spaces_around_them_are_ignored():
    check_overrides("train", ["-m", "divergence=kl, js ,gan"])
    with pytest.raises(GancliError, match="unknown data 'rnig'"):
        check_overrides("train", ["-m", "data=ring,rnig"])


@pytest.mark.parametrize(("text", "expected"), [
    ("kl,js", ["kl", "js"]),
    (" kl , ,js ", ["kl", "js"]),
    ("kl", ["kl"]),
    ("range(0,3)", []),  # a sweep function: Hydra checks what it expands to
    ("[kl,js]", []),
])
def test_sweep_values_are_split_into_the_options_they_name(text, expected):
    assert _values(text) == expected


def test_every_option_of_a_swept_group_brings_its_keys():
    check_overrides("train", ["-m", "divergence=kl,alpha", "divergence.alpha=3"])
    with pytest.raises(GancliError, match="unknown config key 'divergence.alpha'"):
        check_overrides("train", ["divergence=kl", "divergence.alpha=3"])  # kl has no alpha


def test_an_unknown_key_with_nothing_close_says_how_to_list_and_add_keys():
    with pytest.raises(GancliError) as err:
        check_overrides("train", ["zzzzzz=1"])
    message = str(err.value)
    assert "did you mean" not in message
    assert message == ("unknown config key 'zzzzzz'; (`gancli train --cfg job` lists every key; "
                       "add a new one with +zzzzzz=...)")


@pytest.mark.parametrize(("command", "args", "fragment"), [
    ("eval", ["steps=3"], "unknown config key 'steps'; did you mean step? (`gancli eval --cfg job`"),
    ("sample", ["run_dir=x", "nn=5"], "unknown config key 'nn'; did you mean n? (`gancli sample --cfg job`"),
    ("report", ["dirs=[a]", "metric=[recall]"], "did you mean metrics?"),
    ("estimate", ["q.sdt=[1.0]"], "did you mean q.std?"),
    ("estimate", ["divergence=kk"], "unknown divergence 'kk'; choose one of:"),
])
def test_every_app_checks_against_its_own_config(command, args, fragment):
    with pytest.raises(GancliError) as err:
        check_overrides(command, args)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("command", "args"), [
    ("eval", ["run_dir='runs/a'", "n=100", "step=20", "seed=1", "samples=x.npy"]),
    ("sample", ["run_dir=x", "n=5", "out=s.npy"]),
    ("report", ["dirs=[a,b]", "out=r", "metrics=[recall]"]),
    ("estimate", ["divergence=js", "p.mean=[0]", "q.std=[2]", "estimate.steps=10", "seed=3"]),
])
def test_the_keys_each_app_documents_are_accepted(command, args):
    check_overrides(command, args)


def test_overrides_that_are_not_plain_keys_are_left_to_hydra():
    # Appended (+), deleted (~) and Hydra's own keys and groups are Hydra's to check.
    check_overrides("train", ["+train.extra=1", "~train.plots", "~seed=0", "hydra.job.chdir=true",
                              "hydra/launcher=joblib", "--cfg", "job", "-m"])


@pytest.mark.parametrize("flag", ["-h", "--help", "-hh", "--hydra-help", "--info", "-i", "-sc", "--shell-completion"])
def test_help_and_completion_skip_the_check(flag):
    # `gancli train -sc query=bash` completes a line that may hold half-typed keys.
    check_overrides("train", [flag, "train.stpes=5", "divergence=klx"])


def test_the_root_configs_groups_and_own_keys_are_read_from_its_yaml():
    groups, own = root_defaults("train")
    assert groups["divergence"] == "gan" and groups["experiment"] is None  # a null default: no option chosen
    assert all(group_options(g) for g in groups)  # each names a folder of conf/
    assert {"seed", "train", "distributed"} <= own.keys()
    assert "defaults" not in own and "hydra" not in own


def test_hydras_own_groups_are_not_the_apps():
    groups, own = root_defaults("eval")  # `override hydra/job_logging: stdout` only
    assert groups == {}
    assert set(own) == {"run_dir", "n", "step", "seed", "samples"}
