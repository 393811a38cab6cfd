"""Hyperparameter search (`hparams_search=...`, Hydra's Optuna sweeper): what a trial returns to
the sweeper, and the checks that make the plugin usable with the optuna that `make install-search`
installs.

hydra-optuna-sweeper 1.3.0 was written for optuna 2, which current SQLAlchemy breaks; with optuna
5.0.0 it works, except in two ways handled here:
- optuna 5 refuses NaN as a trial's value, and the plugin, recording the trial as failed instead,
  raises again: the whole search would stop with a traceback at the first job without a value
  (a failed run, or mode_kl with no high-quality sample). Such a job returns the worst value of
  the search's direction instead (+inf when minimising): the trial counts as done, is never the
  best, and the sampler learns to stay away from it. The job is still reported as failed.
- the plugin passes TPE options and distributions that optuna 5 has deprecated: a screen of
  FutureWarnings at every start that a user can do nothing about, so those are filtered.
"""

from __future__ import annotations

import importlib.util
import math
import warnings
from typing import Any

# A sweeper a preset may pick that is not installed with gancli: the modules it needs, and how to get them.
SWEEPER_PLUGINS = {
    "optuna": (("optuna", "hydra_plugins.hydra_optuna_sweeper"),
               "make install-search (or: pip install optuna==5.0.0 && "
               "pip install --no-deps hydra-optuna-sweeper==1.3.0)"),
}


def missing_sweeper(sweeper: str) -> str | None:
    """How to install `sweeper` if a module it needs is missing, else None."""
    modules, install = SWEEPER_PLUGINS.get(sweeper, ((), ""))
    return install if not all(_importable(m) for m in modules) else None


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


def value_for_sweeper(value: Any, hydra_sweeper: Any) -> Any:
    """The job's return value as the sweeper should see it: a NaN becomes the worst value of the
    sweeper's direction (+inf for minimize, -inf for maximize) where it has one."""
    if not isinstance(value, float) or not math.isnan(value):
        return value
    direction = hydra_sweeper.get("direction") if hydra_sweeper is not None else None
    direction = getattr(direction, "name", direction)  # an Enum in the plugin's structured config
    worst = {"minimize": math.inf, "maximize": -math.inf}
    return worst.get(direction, value) if isinstance(direction, str) else value


def quiet_plugin_deprecations() -> None:
    """Hide the FutureWarnings optuna 5 gives about the plugin's own calls (TPE options such as
    consider_prior, LogUniformDistribution): they are not about anything the user wrote."""
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"optuna\.samplers\.")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"hydra_plugins\.hydra_optuna_sweeper\.")
