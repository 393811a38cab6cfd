"""`gancli report <dir> [<dir> ...]`: the Hydra app over conf/report.yaml; prints the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gancli.cli.task import hydra_app


def _parse(raw: dict[str, Any]) -> Any:
    from gancli.commands.report import parse_report_config

    return parse_report_config(raw)


def _report(cfg: Any, _output_dir: Path) -> None:
    from gancli.commands.report import write_report

    written = write_report(cfg)
    print(written["markdown"], flush=True)
    print(f"(written to {written['report']}, {written['csv']} and {written['png']})", flush=True)


app = hydra_app("report", _parse, _report)
