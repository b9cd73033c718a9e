"""Evaluates the latest checkpoint: `python -m clustergan_tf.evaluate --model_dir=DIR [--split=test]`.

Writes MODEL_DIR/metrics.json and MODEL_DIR/assignments.npz, as training does.
"""

from clustergan_tf import cli  # noqa: F401  (quiet TF start-up first)

from absl import flags

from clustergan_tf import data as data_lib

flags.DEFINE_string("model_dir", None, "Directory of a trained model (holds config.json and ckpt/).")
flags.DEFINE_enum("split", "test", data_lib.SPLITS, "Split to cluster and score.")
FLAGS = flags.FLAGS


def main(argv):
  from clustergan_tf import evaluate_lib, train_lib
  from clustergan_tf.errors import UsageError
  if not FLAGS.model_dir:
    raise UsageError("--model_dir is required: the directory a training run wrote")
  cfg, data, model = train_lib.restore(FLAGS.model_dir)
  report, assignments, _ = evaluate_lib.evaluate(model, data, FLAGS.split, cfg, int(model.step))
  evaluate_lib.write(FLAGS.model_dir, report, assignments)
  print(evaluate_lib.format_report(report))


if __name__ == "__main__":
  cli.run(main)
