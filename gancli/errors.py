"""The one exception type whose message is shown to the user as a one-line error."""


class GancliError(Exception):
    """A failure the user can act on: printed as one line, no traceback, non-zero exit (2: the
    input was wrong)."""


class TrainingError(GancliError):
    """Training itself failed (a non-finite loss), not the input: exit status 1."""
