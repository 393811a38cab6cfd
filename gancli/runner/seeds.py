"""Seeds trained together (`train.num_seeds=S`): the runs they make, and what they add up to.

The S seeds from `seed` on train side by side in one compiled program (their states stacked,
the step `vmap`ped), which keeps an accelerator busy where one small GAN leaves it almost idle.
Each seed is still a run of its own, in <run_dir>/seed_<seed>, with the config of that seed
trained alone (train.num_seeds=1): `gancli resume`, `sample`, `eval` and `report` take it as
any other run.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from gancli.config.train import RunConfig
from gancli.errors import GancliError
from gancli.run_dir.layout import RunDir

SEED_BOUND = 2**31 - 1  # the largest seed: RunConfig.seed's bound


def seed_runs(cfg: RunConfig, run_dir: Path) -> list[tuple[RunConfig, Path]]:
    """(config, run dir) of each seed of cfg's group, or a GancliError for a group that cannot train."""
    count, tc = cfg.train.num_seeds, cfg.train
    if tc.on_nonfinite == "rollback":
        raise GancliError("train.on_nonfinite=rollback takes one run back to its checkpoint, which seeds trained in "
                          "one program cannot do alone: drop it (with train.num_seeds, a seed whose loss turns "
                          "non-finite stops alone and the others go on), or sweep the seeds: -m seed=0,1,2")
    if cfg.seed + count - 1 > SEED_BOUND:
        raise GancliError(f"seed={cfg.seed} with train.num_seeds={count} reaches seed {cfg.seed + count - 1}, past "
                          f"the largest seed {SEED_BOUND}: lower seed")
    return [(dataclasses.replace(cfg, seed=cfg.seed + i, train=dataclasses.replace(tc, num_seeds=1)),
             RunDir(run_dir).seed_run(cfg.seed + i).path) for i in range(count)]


def combined_summary(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The seeds' summaries as one, with the seed count: each metric the mean over the seeds,
    or None if a seed has none (mode_kl of a run with no high-quality sample: a sweeper then
    takes the group as the worst, not as its lucky seeds)."""
    combined: dict[str, Any] = {"num_seeds": len(summaries)}
    for key in summaries[0]:
        values = [s.get(key) for s in summaries]
        if any(v is None or isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
            combined[key] = None
        elif all(v == values[0] for v in values):  # the step, say: kept as it is
            combined[key] = values[0]
        else:
            combined[key] = math.fsum(values) / len(values)
    return combined
