"""The one exception type whose message is shown to the user as a one-line error."""


class GancliError(Exception):
    """A failure the user can act on: printed as one line, no traceback, non-zero exit."""
