"""`gancli train`: the Hydra app over conf/train.yaml that hands a validated config to the trainer."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from gancli.cli.apps.resume import merge_overrides
from gancli.cli.task import hydra_app
from gancli.config.train import RunConfig, parse_config, to_dict
from gancli.run_dir.files import write_atomically
from gancli.run_dir.layout import RunDir

log = logging.getLogger(__name__)


def _finished(cfg: RunConfig, run_dir: Path) -> dict[str, Any] | None:
    """The summary of a run (or of every seed of a group) that already finished with this config."""
    from gancli.run_dir.reader import finished_summary  # imports JAX: keep --help fast
    from gancli.runner.seeds import combined_summary, seed_runs

    if cfg.train.num_seeds == 1:
        return finished_summary(cfg, run_dir)
    summaries = [finished_summary(seed_cfg, seed_dir) for seed_cfg, seed_dir in seed_runs(cfg, run_dir)]
    return combined_summary(summaries) if all(s is not None for s in summaries) else None


def _record_seed_runs(runs: list[Any]) -> None:
    """Give each seed's run of a group the record Hydra gives a run (.hydra/config.yaml and
    overrides.yaml, as if it had been trained alone), so that `gancli resume <run_dir>/seed_<seed>`
    and `gancli report` take it as any other run."""
    hydra_cfg = HydraConfig.get()
    task = list(hydra_cfg.overrides.task)
    # The group's config as Hydra recorded it (only the keys its choices have), else every key.
    group_record = Path(hydra_cfg.runtime.output_dir) / str(hydra_cfg.output_subdir) / "config.yaml"
    composed = yaml.safe_load(group_record.read_text()) if group_record.is_file() else to_dict(runs[0].cfg)
    for run in runs:
        files = RunDir(run.run_dir)
        files.record.mkdir(parents=True, exist_ok=True)
        own = merge_overrides(task, [f"seed={run.cfg.seed}", "train.num_seeds=1"])
        config = {**composed, "seed": run.cfg.seed, "train": {**composed["train"], "num_seeds": 1}}
        write_atomically(files.overrides_file, lambda tmp, own=own: tmp.write_text(yaml.safe_dump(own)))
        write_atomically(files.config_file,
                         lambda tmp, config=config: tmp.write_text(yaml.safe_dump(config, sort_keys=False)))


def _train(cfg: RunConfig, run_dir: Path) -> float:
    from gancli.runner import distributed  # imports JAX: keep --help fast
    from gancli.runner.follower import follow_run
    from gancli.runner.loop import exit_status

    distributed.initialize(cfg.distributed)
    if not distributed.is_primary():  # one of a run's several processes: process 0 leads
        follow_run(cfg, run_dir)
        return float("nan")
    try:
        value = _train_here(cfg, run_dir)
    except BaseException as err:  # the followers wait for an order: tell them to stop, as this process does
        distributed.end(exit_status(err))
        raise
    distributed.end(0)  # a job of a sweep run again may have had nothing to train
    return value


def _train_here(cfg: RunConfig, run_dir: Path) -> float:
    from gancli.runner.trainer import train_and_evaluate

    # A sweep run again into its directory resumes its unfinished jobs and skips finished ones.
    in_sweep = HydraConfig.get().mode == RunMode.MULTIRUN
    summary = _finished(cfg, run_dir) if in_sweep else None
    if summary is not None:
        log.info("%s already finished at step %d with this config: skipped", run_dir, cfg.train.steps)
    else:
        on_start = _record_seed_runs if cfg.train.num_seeds > 1 else None
        summary = train_and_evaluate(cfg, run_dir, same_run_only=in_sweep, on_start=on_start)
    value = summary[cfg.train.objective]
    return float("nan") if value is None else float(value)  # mode_kl is None with no high-quality sample


app = hydra_app("train", parse_config, _train)  # returns the run's train.objective to sweepers
