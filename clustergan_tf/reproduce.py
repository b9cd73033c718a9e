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

from clustergan_tf import config_flags

FLAGS = flags.FLAGS
HEADER = ("| run | Hungarian ACC | purity | NMI | ARI | train minutes | steps | label_free |\n"
          "|---|---|---|---|---|---|---|---|")


def define_flags():
  from clustergan_tf import evaluate_lib
  config_flags.define_config_flags()
  config_flags.define_processes_flag()
  flags.adopt_module_key_flags(config_flags)  # listed by --help, not only --helpfull
  flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds to train, comma-separated and distinct.")
  flags.DEFINE_enum("method", "argmax", list(evaluate_lib.METHODS),
                    "Clustering read-out to tabulate (both are in metrics.json).")
  flags.DEFINE_boolean("kmeans_baseline", True, "Add a row for k-means (10 inits) on the raw data of the same split.")


def seed_rows(seeds, reports, method):
  """One table row per seed and the mean ± std row (means over all seeds, never best-of-N)."""
  from clustergan_tf.evaluate_lib import COLUMNS, table_row
  rows = []
  for seed, r in zip(seeds, reports):
    score = r.get("label_free_score")
    rows.append(table_row(f"seed {seed}", r["results"][method], f"{r['train_minutes']:.1f}", r["step"],
                          "" if score is None else f"{score:.4f}"))
  values = {c: [r["results"][method][c] for r in reports] for c in COLUMNS}
  mean = {c: f"**{np.mean(v):.4f}** ± {np.std(v):.4f}" for c, v in values.items()}
  rows.append(table_row("**mean ± std**", mean, f"{np.mean([r['train_minutes'] for r in reports]):.1f}",
                        f"{np.mean([r['step'] for r in reports]):.0f}", ""))
  return rows


def label_free_summary(seeds, scores, accs):
  """How well the label-free score ranks the seeds: Spearman's rho against test ACC, and the ACC of
  the seed it picks against the best seed's (labels are used here to judge the score, never to pick)."""
  from scipy.stats import spearmanr
  picked, best = int(np.argmax(scores)), int(np.argmax(accs))
  ranked = len(seeds) >= 3 and np.ptp(scores) > 0 and np.ptp(accs) > 0
  rank = f"Spearman rho {spearmanr(scores, accs)[0]:.2f} against ACC" if ranked else \
      "no rank correlation (needs 3 seeds that differ)"
  return (f"\nlabel-free choice: {rank} over {len(seeds)} seed{'s' * (len(seeds) != 1)}; picked seed "
          f"{seeds[picked]} (ACC {accs[picked]:.4f}), best seed {seeds[best]} (ACC {accs[best]:.4f}), "
          f"gap {accs[best] - accs[picked]:.4f}")


def main(argv):
  from clustergan_tf import data as data_lib
  from clustergan_tf import evaluate_lib, parallel
  from clustergan_tf.errors import UsageError
  seeds = list(config_flags.int_list("seeds", FLAGS.seeds, distinct=True))
  base = config_flags.config_from_flags()
  missing = data_lib.labels_missing(base.dataset, base.data_path, base.labels_path)
  if missing:
    raise UsageError(f"reproduce scores against labels: {missing}")
  method = FLAGS.method if base.has_cluster_readout else "kmeans"  # plain-GAN priors: k-means only
  cfgs = [dataclasses.replace(base, seed=s, model_dir=os.path.join(base.model_dir, f"seed{s}")) for s in seeds]
  reports = parallel.train_all(cfgs, FLAGS.processes)
  print(f"\n{base.dataset}, split {base.eval_split}, clusters by {method}, {len(seeds)} seeds:\n\n{HEADER}")
  print("\n".join(seed_rows(seeds, reports, method)))
  if FLAGS.kmeans_baseline:
    data = base.load_data()
    print(evaluate_lib.table_row("k-means on the data", evaluate_lib.raw_kmeans(data, base.eval_split,
                                                                                 base.num_clusters), "", "", ""))
  scores = [r.get("label_free_score") for r in reports]
  if all(s is not None for s in scores):
    print(label_free_summary(seeds, scores, [r["results"][method]["acc"] for r in reports]))
    print(f"\npicked seed {seeds[int(np.argmax(scores))]} (label-free)")


if __name__ == "__main__":
  define_flags()
  cli.run(main, trains=True)
