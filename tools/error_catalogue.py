"""Rewrite docs/errors.md: run every bad input of tests/end_to_end/error_catalogue.py and record what
gancli says. `make errors` runs it; tests/end_to_end/test_error_catalogue.py checks the page stays true."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.end_to_end.error_catalogue import CASES, DOC, prepare, render, run_all  # noqa: E402


def main() -> int:
    gancli = str(Path(sys.executable).parent / "gancli")
    with tempfile.TemporaryDirectory() as scratch:
        prepare(Path(scratch), gancli, dict(os.environ))
        rows = []
        for case, result in zip(CASES, run_all(Path(scratch).resolve()), strict=True):
            if not result["unchanged"]:
                print(f"warning: gancli {' '.join(case.args)} changed files on disk", flush=True)
            rows.append((case, result["status"], result["stderr"]))
            print(f"{result['status']}  gancli {' '.join(case.args)}\n   {str(result['stderr']).strip()}", flush=True)
    DOC.write_text(render(rows))
    print(f"wrote {DOC} ({len(rows)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
