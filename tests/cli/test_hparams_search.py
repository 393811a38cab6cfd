"""Hyperparameter search through Hydra's Optuna sweeper: how to install a sweeper that is missing,
what a job without a value returns to the sweeper, and the plugin's deprecation warnings hidden."""

from __future__ import annotations

import enum
import math
import warnings

import pytest

from gancli.cli.hparams_search import (
    SWEEPER_PLUGINS,
    _importable,
    missing_sweeper,
    quiet_plugin_deprecations,
    value_for_sweeper,
)


def test_a_sweeper_gancli_does_not_install_needs_nothing():
    assert missing_sweeper("basic") is None


def test_a_missing_plugin_module_gives_how_to_install_it(monkeypatch):
    monkeypatch.setitem(SWEEPER_PLUGINS, "optuna", (("json", "gancli_no_such_plugin"), "pip install it"))
    assert missing_sweeper("optuna") == "pip install it"
    monkeypatch.setitem(SWEEPER_PLUGINS, "optuna", (("json", "math"), "pip install it"))
    assert missing_sweeper("optuna") is None  # every module it needs is there


def test_the_optuna_install_line_names_the_versions_that_work_together():
    _, install = SWEEPER_PLUGINS["optuna"]
    assert "make install-search" in install
    assert "optuna==5.0.0" in install and "hydra-optuna-sweeper==1.3.0" in install


def test_a_module_whose_parent_package_is_missing_is_not_importable_rather_than_an_error():
    # find_spec("a.b") imports "a" first, and raises when it is missing.
    assert not _importable("gancli_no_such_package.plugin")
    assert not _importable("gancli_no_such_module")
    assert _importable("gancli.cli.hparams_search")


class Direction(enum.Enum):  # the Optuna sweeper's structured config holds its direction as an Enum
    minimize = 1
    maximize = 2


@pytest.mark.parametrize(("sweeper", "expected"), [
    ({"direction": Direction.maximize}, -math.inf),
    ({"direction": "minimize"}, math.inf),
])
def test_nan_is_the_worst_value_of_the_searchs_direction(sweeper, expected):
    assert value_for_sweeper(float("nan"), sweeper) == expected


@pytest.mark.parametrize("sweeper", [None, {"direction": None}, {"direction": "sideways"},
                                     {"direction": ["minimize", "maximize"]}])
def test_nan_stays_nan_without_one_direction_to_optimise(sweeper):
    # No sweeper config (a plain run), or one with no single direction: nothing to be worst in.
    assert math.isnan(value_for_sweeper(float("nan"), sweeper))


@pytest.mark.parametrize("value", [0.0, -math.inf, 3, "done"])
def test_a_value_that_is_not_nan_reaches_the_sweeper_unchanged(value):
    assert value_for_sweeper(value, {"direction": "minimize"}) == value


@pytest.fixture
def warning_filters():
    """Warnings recorded, with the filters quiet_plugin_deprecations adds undone after the test."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


def _warn_from(module: str, category: type[Warning]) -> None:
    warnings.warn_explicit("deprecated", category, filename="x.py", lineno=1, module=module)


def test_the_plugins_future_warnings_are_hidden_and_others_are_not(warning_filters):
    quiet_plugin_deprecations()
    _warn_from("optuna.samplers._tpe.sampler", FutureWarning)
    _warn_from("hydra_plugins.hydra_optuna_sweeper._impl", FutureWarning)
    assert warning_filters == []
    _warn_from("gancli.training.chunk", FutureWarning)  # gancli's own: shown
    _warn_from("optuna.samplers._tpe.sampler", DeprecationWarning)  # another kind: shown
    _warn_from("optuna.storages", FutureWarning)  # another part of optuna: shown
    assert [(w.category, w.filename) for w in warning_filters] == [(FutureWarning, "x.py"),
                                                                    (DeprecationWarning, "x.py"),
                                                                    (FutureWarning, "x.py")]

