"""Print a Markdown table of a sweep's jobs: seed, modes captured, high-quality fraction, speed.

    python docs/evidence.py outputs/multirun/train/<timestamp>

Reads only the files a run leaves (.hydra/config.yaml, summary.json); used by `make evidence`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml


def rows(sweep_dir: Path) -> list[str]:
    out = []
    jobs = sorted((p for p in sweep_dir.iterdir() if (p / "summary.json").exists()), key=lambda p: int(p.name))
    for job in jobs:
        cfg = yaml.safe_load((job / ".hydra" / "config.yaml").read_text())
        summary = json.loads((job / "summary.json").read_text())
        out.append(f"| {cfg['data']['name']} | {cfg['seed']} | {summary['modes_captured']}/{summary['modes_total']} "
                   f"| {summary['high_quality_fraction']:.3f} | {summary['steps_per_s']:.0f} |")
    return out


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: python docs/evidence.py <sweep dir> [<sweep dir> ...]")
    print("| data | seed | modes captured | high-quality fraction | steps/s |")
    print("|---|---|---|---|---|")
    for arg in sys.argv[1:]:
        print("\n".join(rows(Path(arg))))


if __name__ == "__main__":
    main()
