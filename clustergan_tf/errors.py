"""The one exception type for user mistakes (bad flag, bad file): CLIs print its message on one line and exit 2."""


class UsageError(ValueError):
  """A mistake the user can fix; the message names the flag or file and the fix."""
