"""Chooses the number of clusters K without labels: trains every K for several seeds and scores each K by
how well the seeds agree on the clusters of the same split.

  python -m clustergan_tf.select_k --flagfile=synthetic.flags --k=6,8,10,12,14 --seeds=0,1 --model_dir=runs/select_k

Every training flag of `clustergan_tf.train` applies (--num_clusters is replaced by each --k); K and
seed s train into MODEL_DIR/k<K>/seed<s> (rerunning resumes or reuses finished runs). Prints a table
per K and `picked K=N`, writes MODEL_DIR/select_k.json and MODEL_DIR/select_k.png (needs matplotlib:
pip install -e '.[plot]'). The criterion is `model_selection`'s; labels, where the data set has them,
only fill the ACC column, never the choice.
"""

from clustergan_tf import cli  # noqa: F401  (quiet TF start-up first)

import dataclasses
import os
import sys

import numpy as np
from absl import flags

from clustergan_tf import config_flags

FLAGS = flags.FLAGS


def define_flags():
  from clustergan_tf import evaluate_lib
  config_flags.define_config_flags()
  config_flags.define_processes_flag()
  flags.adopt_module_key_flags(config_flags)  # listed by --help, not only --helpfull
  flags.DEFINE_list("k", ["6", "8", "10", "12", "14"], "Numbers of clusters to try, comma-separated (each >= 2).")
  flags.DEFINE_list("seeds", ["0", "1"], "Seeds to train for every K. 2 or more: K is scored by the agreement "
                    "between seeds; 1: by the model's own label_free_score (weaker).")
  flags.DEFINE_enum("method", "argmax", list(evaluate_lib.METHODS),
                    "Clusters compared between seeds: argmax of E's z_c, or k-means on the latents.")
  flags.DEFINE_float("tie_tolerance", 0.0, "Pick the smallest K whose score is within this of the best (0: the "
                     "best score; exact ties go to the smaller K).")


def run_dir(model_dir, k, seed):
  return os.path.join(model_dir, f"k{k}", f"seed{seed}")


def train_all(base, data, ks, seeds, train_fn, out, processes=1):
  """{K: [report per seed]}: trains (or resumes, or reuses) every (K, seed) on the same data, `processes` at once
  (train_fn: train_lib.train when None)."""
  from clustergan_tf import parallel
  cfgs = [dataclasses.replace(base, num_clusters=k, seed=s, model_dir=run_dir(base.model_dir, k, s))
          for k in ks for s in seeds]
  reports = parallel.train_all(cfgs, processes, data, out, train_fn)
  return {k: reports[i * len(seeds):(i + 1) * len(seeds)] for i, k in enumerate(ks)}


def load_assignments(model_dir, method):
  """The cluster ids [N] of one run's evaluation split (MODEL_DIR/assignments.npz)."""
  with np.load(os.path.join(model_dir, "assignments.npz")) as saved:
    return saved[method]


def score_all(model_dir, ks, seeds, reports, method, learned=False):
  """One `model_selection.score_k` dict per K, plus `acc`: mean ACC over seeds where labels exist (else None).
  learned: the runs learned their cluster shares, so balance is judged against each run's prior_shares."""
  from clustergan_tf import model_selection
  scored = []
  for k in ks:
    clusters = [load_assignments(run_dir(model_dir, k, s), method) for s in seeds]
    label_free = [r.get("label_free_score") for r in reports[k]]
    shares = [r.get("prior_shares") for r in reports[k]] if learned else None
    part = model_selection.score_k(clusters, k, None if None in label_free else label_free, shares)
    accs = [r["results"][method]["acc"] for r in reports[k] if r["results"]]
    scored.append(dict(part, acc=float(np.mean(accs)) if accs else None))
  return scored


def table(ks, scored):
  """Markdown lines: one row per K with the score, its parts and (labels only, not used) the mean ACC."""
  labelled = any(s["acc"] is not None for s in scored)
  header = ["K", "score", "agreement (mean pairwise ARI)", "min pairwise ARI", "balance", "used clusters",
            "label_free"] + (["mean ACC (labels: not used to pick)"] if labelled else [])
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

  def cell(v):
    return "" if v is None else f"{v:.4f}"
  for k, s in zip(ks, scored):
    cells = [str(k), cell(s["score"]), cell(s["agreement"]), cell(s["min_agreement"]), cell(s["balance"]),
             f"{s['used']:.1f}", cell(s["label_free"])] + ([cell(s["acc"])] if labelled else [])
    lines.append("| " + " | ".join(cells) + " |")
  return lines


def summary(ks, seeds, scored, picked, method, split):
  """What select_k.json holds: k, score, picked, and the parts of each score."""
  out = {"k": list(ks), "score": [s["score"] for s in scored], "picked": int(picked),
         "criterion": scored[0]["criterion"], "seeds": list(seeds), "method": method, "split": split}
  for part in ("agreement", "min_agreement", "balance", "used", "label_free"):
    out[part] = [s[part] for s in scored]
  if any(s["acc"] is not None for s in scored):
    out["acc_not_used"] = [s["acc"] for s in scored]  # labels judge the choice, never make it
  return out


def plot(result, path):
  """Writes a PNG of the score (and its parts) against K; returns the path, or None without matplotlib."""
  try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
  except ImportError:
    return None
  fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
  ax.plot(result["k"], result["score"], marker="o", lw=2, label=f"score ({result['criterion']})")
  for part in ("agreement", "balance"):
    if None not in result[part]:
      ax.plot(result["k"], result[part], marker=".", ls="--", lw=1, label=part)
  if "acc_not_used" in result and None not in result["acc_not_used"]:
    ax.plot(result["k"], result["acc_not_used"], marker=".", ls=":", color="gray", label="ACC (labels; not used)")
  ax.axvline(result["picked"], color="k", alpha=0.3, label=f"picked K={result['picked']}")
  ax.set_xlabel("K (number of clusters)")
  ax.set_xticks(result["k"])
  ax.set_ylabel("label-free score (higher: better K)")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)
  return path


def select(base, ks, seeds, method="argmax", tolerance=0.0, data=None, train_fn=None, out=None, processes=1):
  """Trains every (K, seed) under base.model_dir (`processes` at once), scores every K, prints the table and
  `picked K=N`, writes select_k.json and select_k.png. Returns what select_k.json holds."""
  from clustergan_tf import files, hardware, model_selection
  out = sys.stdout if out is None else out
  hardware.set_threads(base, out)  # before the data start TensorFlow's runtime
  data = base.load_data() if data is None else data  # one split for every run, so that their rows match
  reports = train_all(base, data, ks, seeds, train_fn, out, processes)
  scored = score_all(base.model_dir, ks, seeds, reports, method, base.cluster_shares == "learned")
  picked = model_selection.pick(ks, [s["score"] for s in scored], tolerance)
  result = summary(ks, seeds, scored, picked, method, base.eval_split)
  print(f"\n{data.name}, split {base.eval_split}, clusters by {method}, seeds {','.join(map(str, seeds))}; "
        f"score = {result['criterion']}:\n", file=out)
  print("\n".join(table(ks, scored)), file=out)
  if len(seeds) == 1:
    print("\none seed: K is scored by the model's own label_free_score; train 2 or more --seeds for the "
          "agreement between seeds", file=out)
  os.makedirs(base.model_dir, exist_ok=True)
  files.atomic_json(os.path.join(base.model_dir, "select_k.json"), result)
  png = plot(result, os.path.join(base.model_dir, "select_k.png"))
  print(f"\nwrote {png}" if png else "\nno select_k.png: matplotlib is not installed (pip install -e '.[plot]')",
        file=out)
  print(f"picked K={picked}", file=out, flush=True)
  return result


def main(argv):
  from clustergan_tf.errors import UsageError
  ks = sorted(config_flags.int_list("k", FLAGS.k, distinct=True, low=2))
  seeds = sorted(config_flags.int_list("seeds", FLAGS.seeds, distinct=True))
  if FLAGS.tie_tolerance < 0:
    raise UsageError(f"--tie_tolerance={FLAGS.tie_tolerance:g} must be >= 0 (0: the best score wins)")
  base = config_flags.config_from_flags()
  if len(seeds) == 1 and not base.is_clustergan:
    raise UsageError(f"--seeds={seeds[0]}: one seed scores K by the label_free_score, which only ClusterGAN "
                     "models have (--prior=onehot --use_encoder); train 2 or more seeds")
  method = FLAGS.method if base.has_cluster_readout else "kmeans"  # plain-GAN priors: k-means only
  select(base, ks, seeds, method, FLAGS.tie_tolerance, processes=FLAGS.processes)


if __name__ == "__main__":
  define_flags()
  cli.run(main, trains=True)
