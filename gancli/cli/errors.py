"""How the command line reports a user error: one line on stderr, exit status 2, no traceback.

GANCLI_DEBUG=1 in the environment also prints the traceback of the error being reported.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import NoReturn

USAGE_ERROR = 2  # the input was wrong: the run's record of how it was started is kept as it was
DEBUG_ENV = "GANCLI_DEBUG"


def fail(command: str, message: str, status: int = USAGE_ERROR) -> NoReturn:
    if os.environ.get(DEBUG_ENV) and sys.exc_info()[0] is not None:
        traceback.print_exc()
    print(f"{command}: error: {message}", file=sys.stderr)
    raise SystemExit(status)
