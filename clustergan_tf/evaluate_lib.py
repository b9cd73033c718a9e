"""Clusters a split with a trained model and scores it: argmax of softmax(z_c) and k-means on the latents.

The latents are the encoder's; a plain GAN (trained with use_encoder=False) has none,
so its latents are Algorithm 1's z* (backprop decoding) and its argmax is the winning
restart (onehot prior only): the paper's "GAN with bp" baselines.

`write` is the one writer of MODEL_DIR/metrics.json (one schema, whoever evaluates) and
MODEL_DIR/assignments.npz (arrays `labels`, `argmax`, `kmeans`, `outlier_score`; labels are -1 when
the data set has none; with text labels also `class_names`, id i being class_names[i]; for a directory of images
`files`, each row's path below it), so anyone can recompute the figures.
"""

import dataclasses
import json
import os

import numpy as np
import tensorflow as tf
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans

from clustergan_tf import batches, diagnostics, files, metrics, outliers, seeds
from clustergan_tf import data as data_lib

METHODS = ("argmax", "kmeans")
COLUMNS = ("acc", "purity", "nmi", "ari")  # the metrics of a results table, in order
LABEL_FREE_TRAIN_ROWS = 10000  # at most this many training rows join the evaluated split in the label-free score


def encode(encoder, x, batch_size=1000):
  """x [N, ...] -> (zn [N, latent_dim], probs = softmax(zc_logits) [N, K]) in inference mode."""
  chunks = batches.run(lambda t: encoder(t, training=False), x, batch_size)
  zn = [c["zn"].numpy() for c in chunks]
  probs = [tf.nn.softmax(c["zc_logits"]).numpy() for c in chunks]
  return np.concatenate(zn), np.concatenate(probs)


def latents(model, x, cfg):
  """(zn [N, latent_dim], probs [N, K] or None) of x: the encoder's, or z* of backprop decoding
  (probs = one-hot of the winning restart) for a plain GAN. probs is None where z_c carries no
  cluster (gaussian and uniform priors; a gmm prior without encoder)."""
  if cfg.use_encoder:
    zn, probs = encode(model.encoder, x)
  else:
    from clustergan_tf import decode_lib
    out = decode_lib.decode(model.generator, x, cfg.num_clusters, cfg.latent_dim, cfg.sigma, steps=cfg.decode_steps,
                            seed=cfg.seed, prior=cfg.prior)
    zn, probs = out["zn"], np.eye(cfg.num_clusters, dtype=np.float32)[out["restart"]]
  return zn, probs if cfg.has_cluster_readout else None


def label_free_rows(data, split, cfg):
  """(x [N, ...], splits): the rows the label-free score is computed on, as many rows E never trained on as there
  are. The paper's encoder learns from G's output only, so the training split is as unseen to it as the evaluated
  one: the evaluated split, then up to LABEL_FREE_TRAIN_ROWS training rows (one fixed sample, the same for every
  seed and step, so that seeds are compared on the same rows). The evaluated split alone with --real_data_weight > 0
  (E fitted the training rows), when it is the training split, or when both splits draw on the same rows
  (--dataset=vectors)."""
  x = data.split(split)[0]
  if split == "train" or data.one_set or cfg.real_data_weight > 0:
    return x, [split]
  x_train = data.split("train")[0]
  rows = np.sort(seeds.rows(len(x_train), LABEL_FREE_TRAIN_ROWS, seeds.LABEL_FREE_ROWS))
  return np.concatenate([x, x_train[rows]]), [split, "train"]


def kmeans_features(zn, probs, beta_n):
  """The authors' k-means input [N, F]: [z_n, softmax(z_c)], or softmax(z_c) alone when beta_n = 0
  (z_n alone when there is no z_c). numpy or tensors in, a tensor out (also used by the serving signature)."""
  if probs is None:
    return tf.convert_to_tensor(zn)
  return tf.concat([zn, probs], axis=1) if beta_n > 0 else tf.convert_to_tensor(probs)


def fit_kmeans(features, num_clusters, seed=0):
  """k-means with a fixed seed (10 inits); returns the fitted sklearn model."""
  return KMeans(n_clusters=num_clusters, n_init=10, random_state=seed).fit(features)


def fit_numbered_kmeans(zn, probs, num_clusters, beta_n):
  """(fitted k-means, its cluster ids [N]) on the latents of N rows; where there is an argmax, each k-means cluster
  takes the id of the encoder cluster it shares most rows with (one-to-one, Hungarian), so that k-means ids of any
  split, served or evaluated, name the same clusters as E's ids (a fit's own numbering is arbitrary)."""
  km = fit_kmeans(kmeans_features(zn, probs, beta_n).numpy(), num_clusters)
  if probs is None:
    return km, km.labels_.astype(np.int64)
  new_id = renumbering(km.labels_, probs.argmax(axis=1), num_clusters)
  km.cluster_centers_ = km.cluster_centers_[np.argsort(new_id)]  # centroid i is now the one of cluster id i
  km.labels_ = new_id[km.labels_]
  return km, km.labels_.astype(np.int64)


def renumbering(clusters, reference, num_clusters):
  """new_id [K]: the one-to-one map of cluster ids 0..K-1 onto the reference ids (both [N]) that keeps the most rows
  under the same id."""
  overlap = np.zeros((num_clusters, num_clusters), np.int64)
  np.add.at(overlap, (np.asarray(clusters), np.asarray(reference)), 1)
  rows, cols = linear_sum_assignment(overlap, maximize=True)
  new_id = np.empty(num_clusters, np.int64)
  new_id[rows] = cols
  return new_id


def assign(zn, probs, num_clusters, beta_n):
  """Cluster ids from latents: {"argmax": [N], "kmeans": [N]} ("kmeans" alone when probs is None), k-means ids
  numbered after E's (fit_numbered_kmeans)."""
  kmeans = fit_numbered_kmeans(zn, probs, num_clusters, beta_n)[1]
  return {"kmeans": kmeans} if probs is None else {"argmax": probs.argmax(axis=1).astype(np.int64), "kmeans": kmeans}


@dataclasses.dataclass
class Evaluation:
  """One split clustered and scored."""
  report: dict  # what metrics.json holds (without the training fields that `write` adds)
  assignments: dict  # assignments.npz: labels [N] (-1: none), argmax, kmeans, outlier_score [N][, class_names, files]
  zn: np.ndarray  # [N, latent_dim]
  probs: np.ndarray | None  # softmax(z_c) [N, K]; None where the latents carry no cluster


def evaluate(model, data, split, cfg, step, labeller=None):
  """Clusters and scores one split. ClusterGAN models also get the label-free scores
  (`diagnostics.label_free`, on `label_free_rows`); with a `diagnostics.ModeLabeller`, the generator's mode purity.
  Where the latents carry no z_c (see `latents`) only k-means is scored."""
  x, y = data.split(split)
  zn, probs = latents(model, x, cfg)
  beta_n = cfg.beta_n if cfg.use_encoder else 1.0  # z* always holds a recovered z_n
  clusters = assign(zn, probs, cfg.num_clusters, beta_n)
  scored = y is not None and bool(np.any(y != metrics.UNLABELLED))  # rows without a label (-1) are not scored
  results = {m: metrics.all_metrics(y, clusters[m]) for m in clusters} if scored else {}
  sizes = {m: np.bincount(clusters[m], minlength=cfg.num_clusters).tolist() for m in clusters}
  report = {"dataset": data.name, "latents": "encoder" if cfg.use_encoder else "backprop decoding", "split": split,
            "step": int(step), "num_clusters": cfg.num_clusters, "num_examples": int(len(x)), "results": results,
            "cluster_sizes": sizes}
  if scored and np.any(y == metrics.UNLABELLED):
    report["num_labelled"] = int(np.sum(y != metrics.UNLABELLED))  # the rows the results score
  if cfg.is_clustergan:
    x_free, free_splits = label_free_rows(data, split, cfg)
    probs_free = probs if len(x_free) == len(x) else np.concatenate([probs, encode(model.encoder, x_free[len(x):])[1]])
    scores = diagnostics.label_free(model.encoder, x_free, probs_free, model.learned_share_values())
    report["label_free_score"] = scores.pop("score")
    report["label_free"] = scores
    report["label_free_sample"] = {"splits": free_splits, "num_rows": int(len(x_free)),
                                   "moves_per_row": diagnostics.moves_per_row(len(x_free))}
    if labeller is not None:
      report["diagnostics"] = diagnostics.mode_purity(model.generator, labeller, cfg.latent_dim, cfg.num_clusters,
                                                      cfg.sigma, seed=cfg.seed)
    report["prior_shares"] = [round(float(s), 6) for s in model.shares.numpy()]
    if scored:  # judged with labels, never used by the method
      report["prior_shares_error"] = metrics.share_error(y, clusters["argmax"], report["prior_shares"])
    report["outliers"], clusters["outlier_score"] = outlier_report(model, data, x, y, cfg)
  labels = y if y is not None else np.full(len(x), -1, np.int64)
  arrays = {"labels": labels, **clusters, **data.name_arrays(split)}
  if data.class_names:  # text labels: id i of `labels` is class_names[i]
    report["class_names"] = list(data.class_names)
  return Evaluation(report, arrays, zn, probs)


def outlier_report(model, data, x, y, cfg):
  """({"threshold", "thresholds", "flagged_share", "reference"[, "auroc..." and "flagged_share_..." of the
  --exclude_classes]}, outlier_score [N]) of split x; the reference (standardisation, thresholds) is measured on
  the training rows."""
  ref = outliers.fit(model.generator, model.encoder, data.split("train")[0], seed=cfg.seed)
  parts = outliers.parts(model.generator, model.encoder, x)
  scores = outliers.score(parts, ref).astype(np.float32)
  flagged = scores > ref["threshold"]
  report = {"threshold": ref["threshold"], "thresholds": ref["thresholds"], "flagged_share": float(np.mean(flagged)),
            "reference": {"mean": ref["mean"], "std": ref["std"]}}
  if cfg.exclude_classes and y is not None:
    known = y != metrics.UNLABELLED  # rows without a label are neither seen nor unseen: left out
    unseen = np.isin(y[known], cfg.exclude_classes)
    if 0 < unseen.sum() < len(unseen):
      report["auroc_excluded"] = outliers.auroc(scores[known], unseen)
      report.update({f"auroc_excluded_{p}": outliers.auroc(v[known], unseen) for p, v in parts.items()})
      # Above the threshold: the share of the never-seen classes caught, and of the seen classes flagged.
      report["flagged_share_excluded"] = float(np.mean(flagged[known][unseen]))
      report["flagged_share_seen"] = float(np.mean(flagged[known][~unseen]))
  return report, scores


def write(model_dir, evaluation, train_minutes, weights_sha256):
  """Writes MODEL_DIR/metrics.json (the evaluation's report + `train_minutes` and `weights_sha256`, the
  same schema whoever evaluates) and MODEL_DIR/assignments.npz, each atomically. Returns the report."""
  report = dict(evaluation.report, train_minutes=train_minutes, weights_sha256=weights_sha256)
  files.atomic_json(os.path.join(model_dir, "metrics.json"), report)
  files.atomic_write(os.path.join(model_dir, "assignments.npz"), lambda f: np.savez(f, **evaluation.assignments))
  return report


def read(model_dir):
  """MODEL_DIR/metrics.json as `write` wrote it (the report), or None where there is none."""
  path = os.path.join(model_dir, "metrics.json")
  if not os.path.exists(path):
    return None
  return files.read_json(path, "delete it and rerun the training command that made it (it evaluates its last "
                         "checkpoint again, without training)")


def raw_kmeans(data, split, num_clusters):
  """Metrics of k-means on the raw data of a split (flattened): the baseline to beat."""
  x, y = data.split(split)
  return metrics.all_metrics(y, fit_kmeans(x.reshape(len(x), -1), num_clusters).labels_)


def table_row(name, values, *extra):
  """A markdown row: name, the COLUMNS of `values` (floats to 4 places; strings as they are), then extra cells."""
  cells = [f"{values[c] + 0.0:.4f}" if isinstance(values[c], float) else str(values[c]) for c in COLUMNS]
  return "| " + " | ".join([name, *cells, *map(str, extra)]) + " |"


def format_report(report):
  """One line per method: 'argmax  acc 0.9912  purity ...' (+ 0.0: a -0.0 prints as 0.0000)."""
  labelled = f", {report['num_labelled']} labelled" if "num_labelled" in report else ""
  held_out = "; --data_path's rows: no held-out split" if report["dataset"] in data_lib.FILE_DATASETS else ""
  rows = f"n={report['num_examples']}{labelled}{held_out}"
  lines = [f"{report['dataset']} {report['split']} ({rows}) at step {report['step']}:"]
  for m, r in report["results"].items():
    lines.append(f"  {m:7s} " + "  ".join(f"{k} {v + 0.0:.4f}" for k, v in r.items()))
  extra = [f"label_free_score {report['label_free_score'] + 0.0:.4f}"] if "label_free_score" in report else []
  if "auroc_excluded" in report.get("outliers", {}):
    extra.append(f"outlier AUROC (excluded classes) {report['outliers']['auroc_excluded']:.4f}")
  extra += [f"{k} {v:.4g}" for k, v in report.get("diagnostics", {}).items()]
  if extra:
    lines.append("  " + "  ".join(extra))
  if not report["results"]:
    sizes = report["cluster_sizes"]
    lines.append("  (no labels: cluster sizes " + str(sizes.get("argmax", sizes["kmeans"])) + ")")
  return "\n".join(lines)


def append_curve(model_dir, report, train_minutes):
  """One JSON line per evaluation in MODEL_DIR/curve.jsonl: step, training minutes, metrics per read-out,
  label-free score and mode purity, for learning curves (accuracy against minutes). Lines of this step or
  later are dropped first: a resumed run evaluates again from its checkpoint, a reused finished run its last step."""
  line = {"step": report["step"], "train_minutes": train_minutes}
  for method, values in report["results"].items():
    line.update({f"{method}_{k}": v for k, v in values.items()})
  if "label_free_score" in report:
    line["label_free_score"] = report["label_free_score"]
  line.update(report.get("diagnostics", {}))
  if "auroc_excluded" in report.get("outliers", {}):
    line["outlier_auroc"] = report["outliers"]["auroc_excluded"]
  path = os.path.join(model_dir, "curve.jsonl")
  kept = []
  if os.path.exists(path):
    with open(path, "rb") as f:  # a torn line (a crash mid-write by an older version) is dropped
      kept = [p for p in files.json_lines(f) if isinstance(p.get("step"), (int, float)) and p["step"] < report["step"]]
  files.atomic_bytes(path, "".join(json.dumps(p) + "\n" for p in [*kept, line]).encode())
