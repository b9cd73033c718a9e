"""Clustering metrics, each named for what it is (pure numpy functions of label arrays [N]).

A label of UNLABELLED (-1) marks a row whose class is unknown: `all_metrics` and `share_error` score the other rows.
"""

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn import metrics as skm

UNLABELLED = -1  # the class id of a row without a label (also assignments.npz's labels of a data set without any)


def labelled(labels, clusters):
  """(labels, clusters) of the rows whose label is not UNLABELLED; ValueError where none is."""
  labels, clusters = np.asarray(labels), np.asarray(clusters)
  keep = labels != UNLABELLED
  if not keep.any():
    raise ValueError("every label is UNLABELLED (-1): nothing to score")
  return labels[keep], clusters[keep]


def contingency(labels, clusters):
  """Counts [num_clusters, num_labels]: how many points of each label fall in each cluster."""
  labels, clusters = np.asarray(labels), np.asarray(clusters)
  _, li = np.unique(labels, return_inverse=True)
  _, ci = np.unique(clusters, return_inverse=True)
  table = np.zeros((ci.max() + 1, li.max() + 1), np.int64)
  np.add.at(table, (ci, li), 1)
  return table


def hungarian_accuracy(labels, clusters):
  """Accuracy under the best one-to-one cluster->label map (scipy's linear_sum_assignment)."""
  table = contingency(labels, clusters)
  rows, cols = linear_sum_assignment(table, maximize=True)
  return float(table[rows, cols].sum() / len(labels))


def share_error(labels, clusters, shares):
  """Mean |shares[c] - share of label l| over the cluster->label pairs of the Hungarian map: how close
  cluster proportions shares [K] (indexed by cluster id) are to the true class proportions (labelled rows)."""
  labels, clusters = labelled(labels, clusters)
  label_ids, cluster_ids = np.unique(labels), np.unique(clusters)
  rows, cols = linear_sum_assignment(contingency(labels, clusters), maximize=True)
  true = {label: np.mean(labels == label) for label in label_ids}
  return float(np.mean([abs(shares[cluster_ids[r]] - true[label_ids[c]]) for r, c in zip(rows, cols)]))


def purity(labels, clusters):
  """Share of points carrying their cluster's majority label (the authors' 'ACC')."""
  return float(contingency(labels, clusters).max(axis=1).sum() / len(labels))


def nmi(labels, clusters):
  """Normalized mutual information (arithmetic normalisation, scikit-learn's default)."""
  return float(skm.normalized_mutual_info_score(labels, clusters))


def ari(labels, clusters):
  """Adjusted Rand index."""
  return float(skm.adjusted_rand_score(labels, clusters))


def all_metrics(labels, clusters):
  """{"acc": Hungarian accuracy, "purity", "nmi", "ari"} over the labelled rows."""
  labels, clusters = labelled(labels, clusters)
  return {"acc": hungarian_accuracy(labels, clusters), "purity": purity(labels, clusters),
          "nmi": nmi(labels, clusters), "ari": ari(labels, clusters)}
