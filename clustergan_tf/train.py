"""Trains ClusterGAN: `python -m clustergan_tf.train --flagfile=mnist.flags [--train_steps=...]`.

Later flags override the flag file. Writes checkpoints, TensorBoard logs,
metrics.json and assignments.npz under --model_dir; rerunning resumes.
"""

from clustergan_tf import cli  # noqa: F401  (quiet TF start-up first)

from absl import flags

from clustergan_tf import config_flags


def define_flags():
  """One flag per Config field (see clustergan_tf/config.py for every setting and its help)."""
  config_flags.define_config_flags()
  flags.adopt_module_key_flags(config_flags)  # listed by --help, not only --helpfull


def main(argv):
  from clustergan_tf import train_lib
  train_lib.train(config_flags.config_from_flags())


if __name__ == "__main__":
  define_flags()
  cli.run(main, trains=True)
