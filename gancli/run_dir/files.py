"""The formats of a run's files (gancli.run_dir.layout names them): JSON lines appended as
training goes, JSON written whole, and the pictures of evaluation steps."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gancli.errors import GancliError

TMP_SUFFIX = ".tmp"  # before the suffix of a file being written (write_atomically)
STEP_PICTURE = re.compile(r"(samples|critic)_(\d{7,})\.(png|npy)")  # plots/ files of one evaluation step


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """write(tmp) then rename tmp to path, so a reader (or a crash) sees the old file or the whole
    new one, never half of one. tmp is a hidden file of its own in path's folder, so writers of
    the same path in several processes do not meet, and keeps path's suffix (np.save and PIL go
    by it)."""
    path = Path(path)
    tmp = None
    try:
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f"{TMP_SUFFIX}{path.suffix}")
        os.close(handle)
        tmp = Path(name)
        write(tmp)
        os.chmod(tmp, 0o644)  # as a file made by open() is with the usual umask: mkstemp makes it 0600
        os.replace(tmp, path)
    except OSError as err:  # name the file the caller asked for, not the temporary one
        raise OSError(err.errno, err.strerror, str(path)) from err
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _write_text_atomically(path: Path, text: str) -> None:
    write_atomically(path, lambda tmp: tmp.write_text(text))


class MetricsLog:
    """metrics.jsonl: one JSON object per logged step, appended as training goes."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def truncate_after(self, step: int) -> None:
        """Drop lines past `step`: a resumed run logs those steps again, identically."""
        if not self.path.exists():
            return
        self._rewrite([r for r in self.read() if r["step"] <= step])

    def keep_first(self, count: int) -> None:
        """Drop every record after the first `count`."""
        if self.path.exists():
            self._rewrite(self.read()[:count])

    def _rewrite(self, records: list[dict[str, Any]]) -> None:
        _write_text_atomically(self.path, "".join(json.dumps(r) + "\n" for r in records))

    def append(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        with self.path.open("a") as f:
            f.write("".join(json.dumps(r) + "\n" for r in records))
            f.flush()

    def read(self) -> list[dict[str, Any]]:
        """The records; a last line cut short (a process killed mid-append) is left out."""
        if not self.path.exists():
            return []
        lines = [line for line in self.path.read_text().splitlines() if line.strip()]
        records = []
        for i, line in enumerate(lines):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                if i < len(lines) - 1:
                    raise GancliError(f"{self.path} line {i + 1} is not JSON; restore the file or delete that "
                                      "line") from None
        return records


def write_json(path: Path, content: dict[str, Any]) -> None:
    """summary.json, eval.json: written whole or not at all."""
    _write_text_atomically(Path(path), json.dumps(content, indent=2) + "\n")


def step_pictures(plots_dir: Path) -> list[tuple[int, Path]]:
    """(step, path) of every picture of an evaluation step in plots_dir."""
    if not Path(plots_dir).is_dir():
        return []
    return [(int(m.group(2)), p) for p in Path(plots_dir).iterdir() if (m := STEP_PICTURE.fullmatch(p.name))]


def snapshot_file(plots_dir: Path, step: int) -> Path:
    """The fixed noise's generated points at `step` (the picture's numbers: samples_<step>.png)."""
    return Path(plots_dir) / f"samples_{step:07d}.npy"


def snapshot_steps(plots_dir: Path) -> list[int]:
    """The steps of the sample snapshots in plots_dir, in order."""
    return sorted(step for step, p in step_pictures(plots_dir) if p.name.startswith("samples_") and p.suffix == ".png")
