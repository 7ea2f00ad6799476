"""User-facing failures: one line on stderr, a non-zero exit, never a traceback."""


class UserError(Exception):
    """Bad input or an unusable environment; the message says what was wrong and what would work."""

    exit_code = 2


class Diverged(UserError):
    """Training produced a non-finite loss; the run's record is still written (``status: diverged``)."""

    exit_code = 3
