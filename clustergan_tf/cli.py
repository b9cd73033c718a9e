"""What every command-line module shares: quiet TensorFlow start-up (`quiet`, imported first), one-line
errors for user mistakes, and for the commands that train, preemption (SIGTERM) handled like Ctrl-C."""

import glob
import os
import signal
import sys

from clustergan_tf import quiet  # noqa: F401  (before TensorFlow is imported anywhere)


def run(main, trains=False):
  """absl.app.run(main), printing UsageError (and bad flag values) as one line with exit status 2, and
  Ctrl-C as one line with status 130. trains=True (commands that call train_lib.train): SIGTERM raises
  KeyboardInterrupt too, so the training loop checkpoints before exiting, and divergence exits 3."""
  from absl import app, flags, logging

  from clustergan_tf.errors import UsageError
  logging.set_verbosity(logging.WARNING)  # TF's savers log at INFO on every checkpoint

  def wrapped(argv):
    if trains:
      signal.signal(signal.SIGTERM, signal.default_int_handler)  # preemption: checkpoint, then exit
    try:
      if len(argv) > 1:
        raise UsageError(f"unexpected arguments {argv[1:]}; every setting is a --flag (see --help)")
      return main(argv)
    except UsageError as e:
      print(f"error: {e}", file=sys.stderr)
      sys.exit(2)
    except KeyboardInterrupt:
      print(f"error: {interrupted_message(flags.FLAGS['model_dir'].value) if trains else 'interrupted'}",
            file=sys.stderr)
      sys.exit(130)
    except Exception as e:  # the training loop's own one-line endings; anything else is a bug: traceback
      if not trains:
        raise
      from clustergan_tf import train_lib
      if not isinstance(e, (train_lib.TrainingDiverged, train_lib.TrainingInterrupted)):
        raise
      diverged = isinstance(e, train_lib.TrainingDiverged)
      print(f"error: {'training diverged: ' * diverged}{e}", file=sys.stderr)
      sys.exit(3 if diverged else 130)

  def parse(argv):  # absl's own parser, with flag errors as one line
    try:
      return flags.FLAGS(argv)
    except flags.Error as e:
      print(f"error: {e}", file=sys.stderr)
      sys.exit(2)

  app.run(wrapped, argv=sys.argv, flags_parser=parse)


def interrupted_message(model_dir):
  """What an interruption outside the training loop (loading data, building the model, evaluating) means
  for the checkpoints under model_dir (train writes MODEL_DIR/ckpt; reproduce and select_k one per run)."""
  import tensorflow as tf
  dirs = sorted(glob.glob(os.path.join(glob.escape(model_dir), "**", "ckpt"), recursive=True))
  saved = [c for c in map(tf.train.latest_checkpoint, dirs) if c]
  if not saved:
    return "interrupted before training started (loading data or building the model); nothing was saved"
  where = saved[0] if len(saved) == 1 else f"the {len(saved)} checkpoints under {model_dir}"
  return ("interrupted outside the training loop; no training step was lost: rerunning the same command "
          f"continues from {where}")
