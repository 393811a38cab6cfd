"""Checks a command line's overrides against conf/ before Hydra runs, for one-line errors.

Hydra reports an unknown group option or key in several lines; here the same mistakes get one
line that names the key and what is allowed. Sweep values (a,b,c) are checked one by one.
"""

from __future__ import annotations

import difflib
from importlib import resources
from typing import Any

import yaml

from gancli.cli.hparams_search import missing_sweeper
from gancli.errors import GancliError, unknown

# Flags after which the command line is not a list of overrides to check.
SKIP_CHECK_FLAGS = {"-sc", "--shell-completion", "-h", "--help", "-hh", "--hydra-help", "--info", "-i"}


def conf_root() -> Any:
    return resources.files("gancli.conf")


def _load(path: Any) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def _is_preset(group: str, option: str) -> bool:
    """A `# @package _global_` option (experiment=..., hparams_search=..., image data): it sets
    keys anywhere in the config, and may swap other groups' options."""
    return (conf_root() / group / f"{option}.yaml").read_text().startswith("# @package _global_")


def _preset_choices(group: str, option: str) -> dict[str, str]:
    """{group: option} of a preset's `override /group: option` lines (Hydra's own groups included)."""
    choices = {}
    for entry in _load(conf_root() / group / f"{option}.yaml").get("defaults", []):
        for target, chosen in (entry.items() if isinstance(entry, dict) else []):
            choices[target.removeprefix("override").strip().lstrip("/")] = chosen
    return choices


def group_options(group: str) -> list[str]:
    folder = conf_root() / group
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def root_defaults(config_name: str) -> tuple[dict[str, str | None], dict[str, Any]]:
    """({group: default option}, the root config's own keys) of conf/<config_name>.yaml."""
    root = _load(conf_root() / f"{config_name}.yaml")
    groups: dict[str, str | None] = {}
    for entry in root.pop("defaults", []):
        if isinstance(entry, dict):  # Hydra's own groups (`override hydra/...`) are not the app's, nor
            # a preset's per-model settings (`optional experiment/players@model: ${experiment}_${model}`)
            groups.update({g: o for g, o in entry.items() if not g.startswith(("override", "hydra/", "optional"))})
    root.pop("hydra", None)
    return groups, root


def _keys(tree: dict[str, Any], prefix: str = "") -> set[str]:
    out = set()
    for key, value in tree.items():
        out.add(prefix + key)
        if isinstance(value, dict):
            out |= _keys(value, f"{prefix}{key}.")
    return out


def _values(text: str) -> list[str]:
    """The options a sweep value names: 'kl,js' -> ['kl', 'js']; a function like range() is left alone."""
    if "(" in text or "[" in text:
        return []
    return [v.strip() for v in text.split(",") if v.strip()]


def check_overrides(config_name: str, args: list[str]) -> None:
    """Raise GancliError for the first override naming an unknown group option or config key."""
    if any(a in SKIP_CHECK_FLAGS for a in args):
        return
    groups, root = root_defaults(config_name)
    plain = [a for a in args if "=" in a and not a.startswith(("-", "+", "~", "hydra.", "hydra/"))]
    chosen: dict[str, list[str]] = {g: [o] for g, o in groups.items() if o}
    for arg in plain:
        key, value = arg.split("=", 1)
        if key in groups:
            options = group_options(key)
            for option in _values(value):
                if option not in options:
                    raise unknown(key, option, options)
            chosen[key] = _values(value)
    cli_groups = {arg.split("=", 1)[0] for arg in plain}
    presets = [(g, o) for g, options in list(chosen.items()) for o in options if _is_preset(g, o)]
    for preset_group, preset in presets:  # a preset may swap options: `override /data: bimodal`
        for group, option in _preset_choices(preset_group, preset).items():
            if group in groups and group not in cli_groups:  # the command line wins over a preset
                chosen[group] = [option]
            install = missing_sweeper(option) if group == "hydra/sweeper" else None
            if install:
                raise GancliError(f"{preset_group}={preset} needs Hydra's {option} sweeper, which is not installed: "
                                  f"{install}")
    known = _keys(root)
    for group, options in chosen.items():
        for option in options:
            own = _load(conf_root() / group / f"{option}.yaml")
            own.pop("defaults", None)
            # A preset's keys are global ones (data=mnist sets data.*, prior.dim and train.*).
            known |= _keys(own if _is_preset(group, option) else {group: own})
    for arg in plain:
        key = arg.split("=", 1)[0]
        if key not in groups and key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise GancliError(f"unknown config key {key!r}; {hint}"
                              f"(`gancli {config_name} --cfg job` lists every key; add a new one with +{key}=...)")
