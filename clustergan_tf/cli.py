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
  KeyboardInterrupt too, so the training loop checkpoints before exiting, and divergence exits 3. Only the first
  signal counts (interrupt_once)."""
  from absl import app, flags, logging

  from clustergan_tf.errors import EXIT_USAGE, UsageError
  logging.set_verbosity(logging.WARNING)  # TF's savers log at INFO on every checkpoint

  def wrapped(argv):
    for signum in (signal.SIGINT,) + ((signal.SIGTERM,) if trains else ()):  # SIGTERM: preemption, checkpoint
      if signal.getsignal(signum) is not signal.SIG_IGN:  # a background job of a script keeps its ignored Ctrl-C
        signal.signal(signum, interrupt_once)
    try:
      if len(argv) > 1:
        raise UsageError(f"unexpected arguments {argv[1:]}; every setting is a --flag (see --help)")
      return main(argv)
    except BaseException as e:
      end = ending(e, flags.FLAGS["model_dir"].value if trains else None)
      if end is None:  # anything else is a bug: traceback
        raise
      print(f"error: {end[0]}", file=sys.stderr)
      sys.exit(end[1])

  def parse(argv):  # absl's own parser, with flag errors as one line
    try:
      return flags.FLAGS(argv)
    except flags.Error as e:
      print(f"error: {flag_error(str(e))}", file=sys.stderr)
      sys.exit(EXIT_USAGE)

  app.run(wrapped, argv=sys.argv, flags_parser=parse)


def interrupt_once(signum, frame):
  """The commands' handler of Ctrl-C (and of SIGTERM where they train): KeyboardInterrupt the first time, then the
  signals it handles ignored, so that a second one cannot cut the checkpoint, the one-line ending or the
  interpreter's exit short (it had given a traceback, or exit 143 after the line). A command that does not train
  keeps SIGTERM's default: `kill` still ends it."""
  for s in (signal.SIGINT, signal.SIGTERM):
    if signal.getsignal(s) is interrupt_once or s == signum:
      signal.signal(s, signal.SIG_IGN)
  raise KeyboardInterrupt


def flag_error(message):
  """absl's parser message as our one line: its 'ERROR:: ' prefix dropped, a fix added for a missing flag file."""
  message = message.removeprefix("ERROR:: ")
  if message.startswith("Unable to open flagfile"):
    message += ("; the project's flag files (digits.flags, mnist_cpu.flags, ...) are in the repository's root: "
                "run from there or give the file's path")
  return message


def ending(e, model_dir=None):
  """(one-line message, exit status) of the exceptions a command ends on without a traceback: user mistakes,
  Ctrl-C, and with model_dir (a command that trains) the training loop's own endings; None for anything else.
  Shared with the child processes of `parallel`."""
  from clustergan_tf.errors import EXIT_DIVERGED, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, UsageError
  if isinstance(e, UsageError):
    return str(e), EXIT_USAGE
  if isinstance(e, KeyboardInterrupt):
    return (interrupted_message(model_dir) if model_dir is not None else "interrupted"), EXIT_INTERRUPTED
  if model_dir is None:
    return None
  from clustergan_tf import parallel, train_lib
  if isinstance(e, train_lib.TrainingDiverged):
    return f"training diverged: {e}", EXIT_DIVERGED
  if isinstance(e, train_lib.TrainingInterrupted):
    return str(e), EXIT_INTERRUPTED
  if isinstance(e, parallel.ChildFailed):
    return str(e), EXIT_FAILED
  return None


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
