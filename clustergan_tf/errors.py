"""The one exception type for user mistakes (bad flag, bad file): CLIs print its message on one line and exit 2."""

EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_FAILED = 2, 3, 130, 1  # the exit statuses of every command


class UsageError(ValueError):
  """A mistake the user can fix; the message names the flag or file and the fix."""
