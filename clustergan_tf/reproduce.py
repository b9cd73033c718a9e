"""Trains one configuration for several seeds and prints a markdown table per seed and the mean.

  python -m clustergan_tf.reproduce --flagfile=digits.flags --seeds=0,1,2 --model_dir=runs/repro_digits

Every training flag of `clustergan_tf.train` applies; seed s trains into MODEL_DIR/seed<s>
(rerunning resumes or reuses finished runs). Means are means over all seeds, never best-of-N.
"""

from clustergan_tf import cli  # noqa: F401  (quiet TF start-up first)

import dataclasses
import os

import numpy as np
from absl import flags

from clustergan_tf import train as train_cli  # defines the training flags

flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds to train, comma-separated.")
flags.DEFINE_enum("method", "argmax", ["argmax", "kmeans"], "Clustering read-out to tabulate (both are in metrics.json).")
flags.DEFINE_boolean("kmeans_baseline", True, "Add a row for k-means (10 inits) on the raw data of the same split.")
FLAGS = flags.FLAGS

COLUMNS = ("acc", "purity", "nmi", "ari")


def _row(name, m, minutes="", steps="", label_free=""):
  return f"| {name} | " + " | ".join(f"{m[c]:.4f}" if isinstance(m[c], float) else m[c] for c in COLUMNS) + \
      f" | {minutes} | {steps} | {label_free} |"


def raw_kmeans(data, split, num_clusters):
  """Hungarian ACC etc. of k-means on the raw data (flattened), the baseline to beat."""
  from clustergan_tf import evaluate_lib, metrics
  x, y = data.split(split)
  clusters = evaluate_lib.fit_kmeans(x.reshape(len(x), -1), num_clusters).labels_
  return metrics.all_metrics(y, clusters)


def main(argv):
  from clustergan_tf import data as data_lib
  from clustergan_tf import train_lib
  from clustergan_tf.errors import UsageError
  try:
    seeds = [int(s) for s in FLAGS.seeds]
  except ValueError:
    raise UsageError(f"--seeds={','.join(FLAGS.seeds)} must be comma-separated integers") from None
  base = train_cli.config_from_flags()
  if base.dataset == "vectors" and not base.labels_path:
    raise UsageError("reproduce scores against labels: --dataset=vectors needs --labels_path")
  # Models without a z_c read-out (plain-GAN priors) are scored by k-means only.
  method = FLAGS.method if base.prior == "onehot" else "kmeans"
  rows, reports = [], []
  for seed in seeds:
    cfg = dataclasses.replace(base, seed=seed, model_dir=os.path.join(base.model_dir, f"seed{seed}"))
    report = train_lib.train(cfg)
    m = report["results"][method]
    reports.append(report)
    score = report.get("label_free_score")
    rows.append(_row(f"seed {seed}", m, f"{report['train_minutes']:.1f}", str(report["step"]),
                     "" if score is None else f"{score:.4f}"))
  mean = {c: np.mean([r["results"][method][c] for r in reports]) for c in COLUMNS}
  std = {c: np.std([r["results"][method][c] for r in reports]) for c in COLUMNS}
  minutes = np.mean([r["train_minutes"] for r in reports])
  steps = np.mean([r["step"] for r in reports])
  print(f"\n{base.dataset}, split {base.eval_split}, clusters by {method}, {len(seeds)} seeds:\n")
  print("| run | Hungarian ACC | purity | NMI | ARI | train minutes | steps | label_free |")
  print("|---|---|---|---|---|---|---|---|")
  print("\n".join(rows))
  print(_row("**mean ± std**", {c: f"**{mean[c]:.4f}** ± {std[c]:.4f}" for c in COLUMNS}, f"{minutes:.1f}",
             f"{steps:.0f}"))
  if FLAGS.kmeans_baseline:
    data = data_lib.load(base.dataset, base.data_source, base.data_dir, base.data_path, base.labels_path)
    print(_row("k-means on the data", raw_kmeans(data, base.eval_split, base.num_clusters)))
  scores = [r.get("label_free_score") for r in reports]
  if all(s is not None for s in scores):
    print(label_free_summary(seeds, scores, [r["results"][method]["acc"] for r in reports]))
    print(f"\npicked seed {seeds[int(np.argmax(scores))]} (label-free)")


def label_free_summary(seeds, scores, accs):
  """How well the label-free score ranks the seeds: Spearman's rho against test ACC, and the ACC of
  the seed it picks against the best seed's (labels are used here to judge the score, never to pick)."""
  from scipy.stats import spearmanr
  picked, best = int(np.argmax(scores)), int(np.argmax(accs))
  rho = spearmanr(scores, accs)[0] if len(seeds) >= 3 else float("nan")
  return (f"\nlabel-free choice: Spearman rho {rho:.2f} against ACC over {len(seeds)} seeds; picked seed "
          f"{seeds[picked]} (ACC {accs[picked]:.4f}), best seed {seeds[best]} (ACC {accs[best]:.4f}), "
          f"gap {accs[best] - accs[picked]:.4f}")


if __name__ == "__main__":
  cli.run(main)
