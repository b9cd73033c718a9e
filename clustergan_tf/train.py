"""Trains ClusterGAN: `python -m clustergan_tf.train --flagfile=mnist.flags [--train_steps=...]`.

Later flags override the flag file. Writes checkpoints, TensorBoard logs,
metrics.json and assignments.npz under --model_dir; rerunning resumes.
"""

from clustergan_tf import cli  # noqa: F401  (quiet TF start-up first)

import signal
import sys

from absl import flags

from clustergan_tf import config_flags


def define_flags():
  """One flag per Config field (see clustergan_tf/config.py for every setting and its help)."""
  config_flags.define_config_flags()
  flags.adopt_module_key_flags(config_flags)  # listed by --help, not only --helpfull


def main(argv):
  from clustergan_tf import checkpoint, train_lib
  signal.signal(signal.SIGTERM, signal.default_int_handler)  # preemption: checkpoint, then exit
  cfg = config_flags.config_from_flags()
  try:
    train_lib.train(cfg)
  except train_lib.TrainingDiverged as e:
    print(f"error: training diverged: {e}", file=sys.stderr)
    sys.exit(3)
  except train_lib.TrainingInterrupted as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(130)
  except KeyboardInterrupt:  # outside the training loop: loading data, building the model, final evaluation
    saved = checkpoint.latest(cfg.model_dir)
    print("error: " + (f"interrupted outside the training loop; no training step was lost: rerunning the same "
                       f"command continues from {saved}" if saved else
                       "interrupted before training started (loading data or building the model); nothing was saved"),
          file=sys.stderr)
    sys.exit(130)


if __name__ == "__main__":
  define_flags()
  cli.run(main)
