"""Learning curves of trained runs: test ACC against training minutes, as a table and a PNG.

  python -m clustergan_tf.curves --runs=new=runs/repro_mnist/seed0,old=runs/old/seed0 [--output=curve.png]

Reads MODEL_DIR/curve.jsonl (one line per evaluation, written by training with --eval_every).
The PNG needs matplotlib (pip install -e '.[plot]').
"""

from clustergan_tf import cli  # noqa: F401  (quiet TF start-up first)

import json
import os

from absl import flags

FLAGS = flags.FLAGS


def define_flags():
  """This command's flags (defined only when it runs, so that importing its functions defines none)."""
  flags.DEFINE_list("runs", None, "NAME=MODEL_DIR pairs (or bare MODEL_DIRs), comma-separated.")
  flags.DEFINE_string("output", None, "PNG to write (test ACC against training minutes); none: table only.")
  flags.DEFINE_string("metric", "argmax_acc",
                      "Column of curve.jsonl to plot (argmax_acc, argmax_nmi, mode_purity, ...).")


def read_curve(model_dir):
  """The evaluations of a run: a list of dicts (step, train_minutes, argmax_acc, ...), in step order."""
  from clustergan_tf.errors import UsageError
  path = os.path.join(model_dir, "curve.jsonl")
  if not os.path.exists(path):
    raise UsageError(f"--runs: {model_dir} has no curve.jsonl; train it with --eval_every=N first")
  with open(path) as f:
    points = [json.loads(line) for line in f if line.strip()]
  by_step = {p["step"]: p for p in points}  # a resumed run may repeat a step: keep the last
  return [by_step[s] for s in sorted(by_step)]


def parse_runs(specs):
  """['name=dir', 'dir'] -> [(name, dir)]."""
  return [tuple(s.split("=", 1)) if "=" in s else (os.path.basename(os.path.normpath(s)), s) for s in specs]


def table(runs, metric):
  """Markdown rows: run, step, training minutes, metric (and mode purity where measured)."""
  lines = [f"| run | step | train minutes | {metric} | mode purity |", "|---|---|---|---|---|"]
  for name, points in runs:
    for p in points:
      purity = f"{p['mode_purity']:.3f}" if "mode_purity" in p else ""
      value = p.get(metric, float("nan"))
      lines.append(f"| {name} | {p['step']} | {p['train_minutes']:.1f} | {value:.4f} | {purity} |")
  return lines


def plot(runs, metric, output):
  """Writes a PNG of metric against training minutes, one line per run."""
  from clustergan_tf.errors import UsageError
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
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  fig.savefig(output)
  return output


def main(argv):
  from clustergan_tf.errors import UsageError
  if not FLAGS.runs:
    raise UsageError("--runs is required: NAME=MODEL_DIR pairs, comma-separated")
  runs = [(name, read_curve(d)) for name, d in parse_runs(FLAGS.runs)]
  print("\n".join(table(runs, FLAGS.metric)))
  if FLAGS.output:
    print(f"wrote {plot(runs, FLAGS.metric, FLAGS.output)}")


if __name__ == "__main__":
  define_flags()
  cli.run(main)
