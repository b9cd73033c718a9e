"""Evaluates the latest checkpoint: `python -m clustergan_tf.evaluate --model_dir=DIR [--split=test]`.

Writes MODEL_DIR/metrics.json and MODEL_DIR/assignments.npz, as training does (the same schema, mode purity
included where the training split has labels), and the pictures of the clusters to MODEL_DIR/images/.
"""

import os

from clustergan_tf import cli  # noqa: F401  (quiet TF start-up first)

from absl import flags

FLAGS = flags.FLAGS


def define_flags():
  from clustergan_tf import data as data_lib
  flags.DEFINE_string("model_dir", None, "Directory of a trained model (holds config.json and ckpt/).")
  from clustergan_tf import config_flags
  config_flags.define_moved_data_flags()
  flags.adopt_module_key_flags(config_flags)  # listed by --help
  flags.DEFINE_enum("split", "test", data_lib.SPLITS, "Split to cluster and score.")


def main(argv):
  from clustergan_tf import checkpoint, config_flags, diagnostics, evaluate_lib, summaries
  from clustergan_tf.errors import UsageError
  if not FLAGS.model_dir:
    raise UsageError("--model_dir is required: the directory a training run wrote")
  t = checkpoint.load(FLAGS.model_dir, moved=config_flags.moved_data())
  evaluation = evaluate_lib.evaluate(t.model, t.data, FLAGS.split, t.cfg, int(t.model.step),
                                     diagnostics.labeller(t.cfg, t.data))  # mode purity, as training reports it
  report = evaluate_lib.write(FLAGS.model_dir, evaluation, t.train_minutes, t.weights_sha256)
  print(evaluate_lib.format_report(report))
  x = t.data.split(FLAGS.split)[0]
  pictures = summaries.save_pngs(FLAGS.model_dir, summaries.pictures(t.model, t.data, t.cfg, x))
  drawn = f" and the pictures in {os.path.join(FLAGS.model_dir, 'images')}" if pictures else ""
  print(f"wrote {os.path.join(FLAGS.model_dir, 'metrics.json')} and assignments.npz of the {FLAGS.split} split"
        f"{drawn} (they replace what training or an earlier evaluate wrote there)")


if __name__ == "__main__":
  define_flags()
  cli.run(main)
