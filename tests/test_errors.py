"""The exception types and the one error every registry gives for a name it lacks."""

from __future__ import annotations

import pytest

from gancli.config.train import PriorConfig
from gancli.errors import GancliError, StorageError, TrainingError, lookup, unknown
from gancli.players.priors import make_prior


def test_lookup_returns_the_entry_of_a_known_name():
    assert lookup({"a": 1, "b": 2}, "b", "thing") == 2


def test_lookup_of_an_unknown_name_lists_the_choices_in_the_registry_order():
    with pytest.raises(GancliError) as caught:
        lookup({"ring": 1, "grid": 2}, "rnig", "data")
    assert str(caught.value) == "unknown data 'rnig'; choose one of: ring, grid"
    assert caught.value.exit_status == 2


def test_a_registry_behind_a_builder_answers_with_that_error():
    with pytest.raises(GancliError, match=r"^unknown prior 'cauchy'; choose one of: gaussian, uniform"):
        make_prior(PriorConfig(name="cauchy", dim=2))


def test_failures_of_training_and_storage_exit_1_and_bad_input_2():
    assert (GancliError.exit_status, TrainingError.exit_status, StorageError.exit_status) == (2, 1, 1)


def test_unknown_names_every_choice():
    assert str(unknown("divergence", "kll", ("kl", "js"))) == "unknown divergence 'kll'; choose one of: kl, js"
