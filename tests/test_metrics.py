import numpy as np
import pytest

from clustergan_tf import metrics


def test_permuted_labels_score_one():
  y = np.array([0, 0, 1, 1, 2, 2, 2])
  c = np.array([5, 5, 3, 3, 9, 9, 9])
  m = metrics.all_metrics(y, c)
  assert m == {"acc": 1.0, "purity": 1.0, "nmi": 1.0, "ari": 1.0}


def test_hand_computed_case():
  # clusters: A = {0,0,1}, B = {1,1,0}; Hungarian maps A->0, B->1: 4/6 correct.
  y = np.array([0, 0, 1, 1, 1, 0])
  c = np.array([0, 0, 0, 1, 1, 1])
  assert metrics.hungarian_accuracy(y, c) == 4 / 6
  assert metrics.purity(y, c) == 4 / 6


def test_purity_exceeds_hungarian_when_clusters_share_a_label():
  # both clusters are mostly label 0: purity counts 0 twice, Hungarian cannot.
  y = np.array([0, 0, 1, 0, 0, 1])
  c = np.array([0, 0, 0, 1, 1, 1])
  assert metrics.purity(y, c) == 4 / 6
  assert metrics.hungarian_accuracy(y, c) == 3 / 6


def test_single_cluster_has_zero_nmi_and_ari():
  y = np.array([0, 1, 0, 1])
  c = np.zeros(4, int)
  assert metrics.nmi(y, c) == 0.0 and metrics.ari(y, c) == 0.0
  assert metrics.hungarian_accuracy(y, c) == 0.5


def test_contingency():
  t = metrics.contingency([0, 1, 1], [2, 2, 7])
  np.testing.assert_array_equal(t, [[1, 1], [0, 1]])


def test_share_error_matches_clusters_to_labels_first():
  labels = [0, 0, 0, 1]  # true shares 0.75, 0.25
  clusters = [1, 1, 1, 0]  # cluster 1 is label 0, cluster 0 is label 1
  assert metrics.share_error(labels, clusters, [0.25, 0.75]) == 0.0
  assert metrics.share_error(labels, clusters, [0.5, 0.5]) == 0.25


def test_unlabelled_rows_are_left_out():
  # The hand-computed case above with two unlabelled rows (-1) placed in cluster 1: the same 4/6.
  y = np.array([0, 0, 1, -1, 1, 1, 0, -1])
  c = np.array([0, 0, 0, 1, 1, 1, 1, 1])
  m = metrics.all_metrics(y, c)
  assert m["acc"] == 4 / 6 and m["purity"] == 4 / 6
  assert m == metrics.all_metrics([0, 0, 1, 1, 1, 0], [0, 0, 0, 1, 1, 1])
  # true shares over the labelled rows: 0.75 / 0.25
  assert metrics.share_error([0, -1, 0, 0, 1, -1], [1, 0, 1, 1, 0, 0], [0.25, 0.75]) == 0.0


def test_no_labelled_row_is_an_error():
  with pytest.raises(ValueError, match="UNLABELLED"):
    metrics.all_metrics([-1, -1], [0, 1])
