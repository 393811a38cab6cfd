"""gancli.config.schema: plain dicts become frozen dataclasses, and every bad value is refused with
one line that names the dotted key and what it may be. The dataclasses here are hand-built, so
each rule of the schema is checked on its own, apart from gancli's real configs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from gancli.config.schema import bounds, flatten, parse
from gancli.errors import GancliError


@dataclass(frozen=True)
class Inner:
    rate: float = field(default=0.5, metadata=bounds(0, 1, lo_open=True))  # (0, 1]
    count: int = field(default=1, metadata=bounds(1))  # [1, inf)


@dataclass(frozen=True)
class Outer:
    name: Literal["a", "b"]
    inner: Inner = Inner()
    flag: bool = False
    label: str = "x"
    size: int | None = field(default=None, metadata=bounds(2))
    sizes: list[float] | None = field(default=None, metadata=bounds(0, lo_open=True))
    devices: Literal["auto", "all"] | int = field(default="auto", metadata=bounds(1))
    window: float = field(default=0.0, metadata=bounds(-1, 1, lo_open=True, hi_open=True))  # (-1, 1)


def refusal(raw) -> str:
    """The one-line message parse(Outer, raw) refuses raw with."""
    with pytest.raises(GancliError) as err:
        parse(Outer, raw)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_a_valid_dict_builds_the_nested_dataclasses_with_defaults_for_what_it_leaves_out():
    cfg = parse(Outer, {"name": "b", "inner": {"count": 3}, "sizes": [1, 2.5]})
    assert cfg == Outer(name="b", inner=Inner(rate=0.5, count=3), sizes=[1.0, 2.5])


def test_an_integer_given_for_a_float_becomes_a_float():
    cfg = parse(Outer, {"name": "a", "inner": {"rate": 1}, "sizes": [3]})
    assert type(cfg.inner.rate) is float and type(cfg.sizes[0]) is float


def test_a_missing_required_key_says_how_to_set_it():
    assert refusal({}) == "config key 'name' is missing; set it with name=<value>"


def test_an_unknown_key_is_named_with_its_prefix_and_the_valid_keys_listed():
    assert refusal({"name": "a", "inner": {"rat": 0.1}}) == (
        "unknown config key 'inner.rat'; valid keys here: inner.rate, inner.count")


def test_a_section_that_is_not_a_mapping_is_refused():
    assert refusal({"name": "a", "inner": 3}) == "config key 'inner' must be a mapping, got 3"
    with pytest.raises(GancliError, match="config key '<root>' must be a mapping"):
        parse(Outer, [1, 2])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"flag": 1}, "config key 'flag' must be true or false, got 1"),
        ({"flag": "yes"}, "config key 'flag' must be true or false, got 'yes'"),
        ({"inner": {"count": True}}, "config key 'inner.count' must be an integer, got True"),  # bool is no int
        ({"inner": {"count": 1.5}}, "config key 'inner.count' must be an integer, got 1.5"),
        ({"inner": {"rate": "0.1"}}, "config key 'inner.rate' must be a number, got '0.1'"),
        ({"inner": {"rate": False}}, "config key 'inner.rate' must be a number, got False"),
        ({"label": 3}, "config key 'label' must be a string, got 3"),
        ({"name": "c"}, "config key 'name' is 'c'; allowed values: a, b"),
    ],
)
def test_a_value_of_the_wrong_type_names_the_key_and_the_type(raw, expected):
    assert refusal({"name": "a", **raw}) == expected


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        ({"inner": {"rate": 0.0}}, False),  # lo_open: 0 itself is out
        ({"inner": {"rate": 1e-9}}, True),
        ({"inner": {"rate": 1.0}}, True),  # hi closed: 1 itself is in
        ({"inner": {"rate": 1.0001}}, False),
        ({"inner": {"count": 1}}, True),  # lo closed
        ({"inner": {"count": 0}}, False),
        ({"window": -1.0}, False),
        ({"window": 0.999}, True),
        ({"window": 1.0}, False),
    ],
)
def test_bounds_include_or_exclude_their_ends_as_declared(raw, ok):
    if ok:
        parse(Outer, {"name": "a", **raw})
    else:
        assert "it must lie in" in refusal({"name": "a", **raw})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"inner": {"rate": 0.0}}, "config key 'inner.rate' is 0.0; it must lie in (0, 1]"),
        ({"inner": {"count": 0}}, "config key 'inner.count' is 0; it must lie in [1, inf]"),
        ({"window": 1.0}, "config key 'window' is 1.0; it must lie in (-1, 1)"),
    ],
)
def test_an_out_of_range_value_shows_the_interval_with_its_open_and_closed_ends(raw, expected):
    assert refusal({"name": "a", **raw}) == expected


def test_an_optional_key_takes_none_and_checks_a_value():
    assert parse(Outer, {"name": "a", "size": None}).size is None
    assert parse(Outer, {"name": "a", "size": 2}).size == 2
    assert refusal({"name": "a", "size": 1}) == "config key 'size' is 1; it must lie in [2, inf]"


def test_list_items_are_checked_one_by_one_and_named_by_index():
    assert refusal({"name": "a", "sizes": [1.0, 0.0]}) == "config key 'sizes[1]' is 0.0; it must lie in (0, inf]"
    assert refusal({"name": "a", "sizes": [1.0, "x"]}) == "config key 'sizes[1]' must be a number, got 'x'"


def test_a_list_key_given_one_value_shows_how_to_write_a_list():
    assert refusal({"name": "a", "sizes": 2.0}) == "config key 'sizes' must be a list, e.g. sizes=[1.0,2.0], got 2.0"


def test_a_union_takes_the_first_type_its_value_fits():
    assert parse(Outer, {"name": "a", "devices": "all"}).devices == "all"
    assert parse(Outer, {"name": "a", "devices": 4}).devices == 4


def test_a_value_that_fits_no_type_of_a_union_lists_every_alternative():
    assert refusal({"name": "a", "devices": "some"}) == (
        "config key 'devices' is 'some'; one of auto, all, or an integer >= 1")
    assert refusal({"name": "a", "devices": 0}) == "config key 'devices' is 0; one of auto, all, or an integer >= 1"


def test_flatten_gives_the_dotted_names_of_the_command_line():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None}) == {"a.b": 1, "a.c.d": [1, 2], "e": None}
    assert flatten({}) == {}
