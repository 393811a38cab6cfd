"""How the command line reports a user error: one line on stderr, exit status 2, no traceback."""

from __future__ import annotations

import sys
from typing import NoReturn

USAGE_ERROR = 2  # the input was wrong: the run's record of how it was started is kept as it was
TRAINING_FAILED = 1  # training failed on its own (a non-finite loss): its checkpoints moved on


def fail(command: str, message: str, status: int = USAGE_ERROR) -> NoReturn:
    print(f"{command}: error: {message}", file=sys.stderr)
    raise SystemExit(status)
