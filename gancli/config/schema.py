"""Builds frozen dataclasses from plain dicts, rejecting bad input with one line naming the key.

Field constraints ride in dataclass field metadata (see `bounds`); Literal types list the
allowed values; nested dataclasses, optionals and lists are checked recursively.
"""

from __future__ import annotations

import contextlib
import dataclasses
import types
import typing
from typing import Any, Literal, TypeVar

from gancli.errors import GancliError

T = TypeVar("T")


def bounds(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
           hi_open: bool = False) -> dict[str, Any]:
    """Field metadata: the value (or each number of a list) must lie in [lo, hi], ( ) where open."""
    return {"lo": lo, "hi": hi, "lo_open": lo_open, "hi_open": hi_open}


def parse(cls: type[T], raw: Any, key: str = "") -> T:
    """Build `cls` (a dataclass, or a union of options, see `option_for`) from a plain nested dict,
    or raise GancliError naming the bad key (below `key`, e.g. "data", where given)."""
    if dataclasses.is_dataclass(cls):
        return _build(cls, raw, prefix=f"{key}." if key else "")
    return _check(cls, raw, key, {})


def options(hint: Any) -> tuple[type, ...] | None:
    """The option classes of a union of dataclasses told apart by their `name` (e.g. data=ring or
    data=grid), in order; None if `hint` is no such union."""
    if typing.get_origin(hint) not in (typing.Union, types.UnionType):
        return None
    args = typing.get_args(hint)
    return args if all(dataclasses.is_dataclass(a) for a in args) else None


def option_for(hint: Any, name: Any) -> type | None:
    """The option of `hint` that takes `name`: the first whose `name` is a Literal holding it, else
    the first whose `name` is any string (the registry checks it later); None if none takes it."""
    found = options(hint) or ()
    for option in found:
        allowed = typing.get_args(typing.get_type_hints(option)["name"])
        if name in allowed:
            return option
    return next((o for o in found if typing.get_type_hints(o)["name"] is str and isinstance(name, str)), None)


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}: the dotted names a user types on the command line."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise GancliError(f"config key '{prefix.rstrip('.') or '<root>'}' must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown and hasattr(cls, "UNKNOWN_KEYS"):  # the option's own words for a key it does not take
        raise GancliError(cls.UNKNOWN_KEYS.format(name=raw.get("name"), keys=", ".join(unknown)))
    if unknown:
        raise GancliError(f"unknown config key '{prefix}{unknown[0]}'; valid keys here: "
                          f"{', '.join(prefix + k for k in fields)}")
    values = {}
    for name, f in fields.items():
        key = prefix + name
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise GancliError(f"config key '{key}' is missing; set it with {key}=<value>")
            continue
        values[name] = _check(hints[name], raw[name], key, f.metadata)
    return cls(**values)


def _check(hint: Any, value: Any, key: str, limits: Any) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key + ".")
    if options(hint):
        return _build_option(hint, value, key)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None and len(args) < len(typing.get_args(hint)):
            return None
        if len(args) == 1:
            return _check(args[0], value, key, limits)
        for arg in args:  # the first type the value fits
            with contextlib.suppress(GancliError):
                return _check(arg, value, key, limits)
        raise GancliError(f"config key '{key}' is {value!r}; " + ", or ".join(_described(a, limits) for a in args))
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            example = "[a,b]" if item is str else "[1.0,2.0]"
            raise GancliError(f"config key '{key}' must be a list, e.g. {key}={example}, got {value!r}")
        return [_check(item, v, f"{key}[{i}]", limits) for i, v in enumerate(value)]
    if origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise GancliError(f"config key '{key}' is {value!r}; allowed values: {', '.join(map(str, allowed))}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise GancliError(f"config key '{key}' must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise GancliError(f"config key '{key}' must be an integer, got {value!r}")
    elif hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise GancliError(f"config key '{key}' must be a number, got {value!r}")
        value = float(value)
    elif hint is str:
        if not isinstance(value, str):
            raise GancliError(f"config key '{key}' must be a string, got {value!r}")
        return value
    _check_range(value, key, limits)
    return value


def _build_option(hint: Any, value: Any, key: str) -> Any:
    """The option `value["name"]` picks, built from `value`."""
    if not isinstance(value, dict):
        raise GancliError(f"config key '{key}' must be a mapping, got {value!r}")
    if "name" not in value:
        raise GancliError(f"config key '{key}.name' is missing; set it with {key}=<option>")
    option = option_for(hint, value["name"])
    if option is None:
        names = [n for o in options(hint) for n in typing.get_args(typing.get_type_hints(o)["name"])]
        raise GancliError(f"config key '{key}.name' is {value['name']!r}; allowed values: {', '.join(names)}")
    return _build(option, value, key + ".")


def _described(hint: Any, limits: Any) -> str:
    """What a value of `hint` may be, for the error of a value that fits no type of a union."""
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(hint)))
    what = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(hint, str(hint))
    lo = limits.get("lo") if limits else None
    return what if lo is None else f"{what} {'>' if limits['lo_open'] else '>='} {lo}"


def _check_range(value: float, key: str, limits: Any) -> None:
    if not limits:
        return
    lo, hi = limits.get("lo"), limits.get("hi")
    too_low = lo is not None and (value <= lo if limits["lo_open"] else value < lo)
    too_high = hi is not None and (value >= hi if limits["hi_open"] else value > hi)
    if too_low or too_high:
        left = "(" if limits["lo_open"] else "["
        right = ")" if limits["hi_open"] else "]"
        bounds = f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"
        raise GancliError(f"config key '{key}' is {value!r}; it must lie in {bounds}")
