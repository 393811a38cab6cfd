"""How the command line reports a user error: one line on stderr, exit status 2, no traceback."""

from __future__ import annotations

import sys
from typing import NoReturn

USAGE_ERROR = 2


def fail(command: str, message: str) -> NoReturn:
    print(f"{command}: error: {message}", file=sys.stderr)
    raise SystemExit(USAGE_ERROR)
