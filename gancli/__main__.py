"""`python -m gancli`: the same as the `gancli` command."""

import sys

from gancli.cli.main import main

sys.exit(main())
