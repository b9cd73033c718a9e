"""Learning curves of trained runs: test ACC against training minutes, as a table and a PNG.

  python -m clustergan_tf.curves --runs=new=runs/repro_mnist/seed0,old=runs/old/seed0 [--output=curve.png]

Reads MODEL_DIR/curve.jsonl (one line per evaluation, written by training with --eval_every).
The image (--output) needs matplotlib (pip install -e '.[plot]').
"""

from clustergan_tf import cli  # noqa: F401  (quiet TF start-up first)

import os

from absl import flags

from clustergan_tf import files
from clustergan_tf.errors import UsageError

FLAGS = flags.FLAGS
IMAGE_TYPES = ("png", "pdf", "svg", "jpg", "jpeg")  # --output's extensions, written by matplotlib (jpg: by Pillow)


def define_flags():
  """This command's flags (defined only when it runs, so that importing its functions defines none)."""
  flags.DEFINE_list("runs", None, "NAME=MODEL_DIR pairs (or bare MODEL_DIRs), comma-separated.")
  flags.DEFINE_string("output", None, f"Image to write (.{', .'.join(IMAGE_TYPES)}): the metric against training "
                      "minutes; none: table only.")
  flags.DEFINE_string("metric", "argmax_acc",
                      "Column of curve.jsonl to plot (argmax_acc, argmax_nmi, mode_purity, ...).")


def read_curve(model_dir):
  """The evaluations of a run: a list of dicts (step, train_minutes, argmax_acc, ...), in step order."""
  path = os.path.join(model_dir, "curve.jsonl")
  if not os.path.isfile(path):
    raise UsageError(f"--runs: {model_dir} has no curve.jsonl; train it with --eval_every=N first")
  with open(path, "rb") as f:  # bytes: a torn line may end inside a UTF-8 character
    points = [p for p in files.json_lines(f) if {"step", "train_minutes"} <= p.keys()]
  if not points:
    raise UsageError(f"--runs: {path} holds no evaluation; train {model_dir} with --eval_every=N first")
  by_step = {p["step"]: p for p in points}  # a resumed run may repeat a step: keep the last
  return [by_step[s] for s in sorted(by_step)]


def parse_runs(specs):
  """['name=dir', 'dir'] -> [(name, dir)]."""
  return [tuple(s.split("=", 1)) if "=" in s else (os.path.basename(os.path.normpath(s)), s) for s in specs]


def check_metric(runs, metric):
  """Raises UsageError naming --metric unless some evaluation of the runs holds it as a number."""
  held = sorted({k for _, points in runs for p in points for k, v in p.items() if _is_number(v)}
                - {"step", "train_minutes"})
  if metric not in held:
    raise UsageError(f"--metric={metric} is not in the runs' curve.jsonl; choose from {', '.join(held) or '(none)'}")


def _is_number(value):
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_output(output):
  """Raises UsageError naming --output unless a file can be written there and its extension is an image type
  (matplotlib would add .png to a path without one, and `wrote PATH` would name a file that does not exist)."""
  files.check_output_path(output, "output", IMAGE_TYPES)


def table(runs, metric):
  """Markdown rows: run, step, training minutes, metric (and mode purity where measured)."""
  lines = [f"| run | step | train minutes | {metric} | mode purity |", "|---|---|---|---|---|"]
  for name, points in runs:
    for p in points:
      purity = f"{p['mode_purity']:.3f}" if "mode_purity" in p else ""
      value = p[metric] if _is_number(p.get(metric)) else float("nan")  # not measured in this evaluation
      lines.append(f"| {name} | {p['step']} | {p['train_minutes']:.1f} | {value:.4f} | {purity} |")
  return lines


def plot(runs, metric, output):
  """Writes an image (its type by output's extension) of metric against training minutes, one line per run."""
  try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
  except ImportError:
    raise UsageError("--output needs matplotlib: pip install -e '.[plot]'") from None
  fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
  for name, points in runs:
    ax.plot([p["train_minutes"] for p in points], [p.get(metric) for p in points], marker="o", ms=3, label=name)
  ax.set_xlabel("training minutes (evaluations excluded)")
  ax.set_ylabel(metric.replace("_", " "))
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  fig.tight_layout()
  files.make_parent(output)
  fig.savefig(output)
  plt.close(fig)
  return output


def main(argv):
  if not FLAGS.runs:
    raise UsageError("--runs is required: NAME=MODEL_DIR pairs, comma-separated")
  if FLAGS.output:
    check_output(FLAGS.output)
  runs = [(name, read_curve(d)) for name, d in parse_runs(FLAGS.runs)]
  check_metric(runs, FLAGS.metric)
  print("\n".join(table(runs, FLAGS.metric)))
  if FLAGS.output:
    print(f"wrote {plot(runs, FLAGS.metric, FLAGS.output)}")


if __name__ == "__main__":
  define_flags()
  cli.run(main)
