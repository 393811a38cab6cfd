"""The files a run leaves beside its checkpoints: metrics.jsonl and summary.json."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def _write_atomically(path: Path, text: str) -> None:
    # Write then rename, so a crash leaves either the old file or the new one, never half.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class MetricsLog:
    """metrics.jsonl: one JSON object per logged step, appended as training goes."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def truncate_after(self, step: int) -> None:
        """Drop lines past `step`: a resumed run logs those steps again, identically."""
        if not self.path.exists():
            return
        lines = self.path.read_text().splitlines()
        kept = [line for line in lines if line.strip() and json.loads(line)["step"] <= step]
        _write_atomically(self.path, "".join(line + "\n" for line in kept))

    def append(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        with self.path.open("a") as f:
            f.write("".join(json.dumps(r) + "\n" for r in records))
            f.flush()

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    _write_atomically(Path(path), json.dumps(summary, indent=2) + "\n")


def read_summary(path: Path) -> dict[str, Any] | None:
    """summary.json's contents; None if the run has not written one (it has not finished)."""
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else None
