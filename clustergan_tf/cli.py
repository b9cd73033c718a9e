"""What every command-line module shares: quiet TensorFlow start-up (`quiet`, imported first) and one-line
errors for user mistakes."""

import sys

from clustergan_tf import quiet  # noqa: F401  (before TensorFlow is imported anywhere)


def run(main):
  """absl.app.run(main), printing UsageError (and bad flag values) as one line with exit status 2."""
  from absl import app, flags, logging

  from clustergan_tf.errors import UsageError
  logging.set_verbosity(logging.WARNING)  # TF's savers log at INFO on every checkpoint

  def wrapped(argv):
    try:
      if len(argv) > 1:
        raise UsageError(f"unexpected arguments {argv[1:]}; every setting is a --flag (see --help)")
      return main(argv)
    except UsageError as e:
      print(f"error: {e}", file=sys.stderr)
      sys.exit(2)

  def parse(argv):  # absl's own parser, with flag errors as one line
    try:
      return flags.FLAGS(argv)
    except flags.Error as e:
      print(f"error: {e}", file=sys.stderr)
      sys.exit(2)

  app.run(wrapped, argv=sys.argv, flags_parser=parse)
