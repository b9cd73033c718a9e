"""model_selection: agreement between seeds' clusterings, balance, the score per K and the pick rule."""

import numpy as np
import pytest

from clustergan_tf import model_selection as ms


def partition(n=1000, k=10, seed=0):
  return np.random.default_rng(seed).integers(0, k, size=n)


def test_identical_and_relabelled_partitions_agree_fully():
  a = partition()
  assert ms.pairwise_agreement([a, a.copy()]) == pytest.approx(1.0)
  relabelled = np.random.default_rng(1).permutation(10)[a]  # the same partition under other cluster ids
  assert ms.pairwise_agreement([a, relabelled, a]) == pytest.approx(1.0)


def test_independent_random_partitions_agree_by_chance_only():
  runs = [partition(n=5000, k=k, seed=s) for s, k in enumerate((2, 10, 14))]
  assert abs(ms.pairwise_agreement(runs)) < 0.01  # ARI is corrected for chance, whatever K


def test_pairwise_ari_lists_every_pair_and_rejects_bad_input():
  a = partition()
  assert len(ms.pairwise_ari([a, a, a, a])) == 6
  with pytest.raises(ValueError, match="at least 2"):
    ms.pairwise_ari([a])
  with pytest.raises(ValueError, match="different splits"):
    ms.pairwise_ari([a, a[:-1]])


def test_balance_and_used_clusters():
  even = np.repeat(np.arange(4), 25)
  assert ms.balance(even, 4) == pytest.approx(1.0)
  assert ms.balance(even, 5) == pytest.approx(np.log(4) / np.log(5))  # an empty cluster costs
  assert ms.balance(np.zeros(10, int), 3) == 0.0
  assert ms.used_clusters(even, 5) == 4


def test_balance_against_learned_prior_shares():
  a = np.array([0, 0, 0, 1])  # shares (3/4, 1/4)
  assert ms.balance(a, 2, [0.75, 0.25]) == 1.0  # as the prior's
  assert ms.balance(a, 2, [0.5, 0.5]) == pytest.approx(ms.balance(a, 2))  # uniform: the entropy form, 0.8113
  assert ms.balance(a, 2) == pytest.approx(0.811278, rel=1e-5)
  # prior (1/4, 3/4): KL = 3/4 log 3 + 1/4 log(1/3) = 1/2 log 3; 1 - 0.5493 / log 2 = 0.2075
  assert ms.balance(a, 2, [0.25, 0.75]) == pytest.approx(1 - 0.5 * np.log(3) / np.log(2))
  assert ms.balance(a, 2, [0.001, 0.999]) == 0.0  # floored
  even = np.repeat(np.arange(4), 5)
  out = ms.score_k([even, even], 4, prior_shares=[[0.25] * 4, [0.7, 0.1, 0.1, 0.1]])
  assert out["balance"] == pytest.approx((1.0 + ms.balance(even, 4, [0.7, 0.1, 0.1, 0.1])) / 2)
  assert out["balance"] < ms.score_k([even, even], 4)["balance"] == pytest.approx(1.0)
  ten = np.repeat(np.arange(10), 3)
  assert ms.balance(ten, 10, np.full(10, 0.1, np.float32)) == 1.0  # float32 tenths sum past 1: capped
  with pytest.raises(ValueError, match="shape"):
    ms.balance(a, 3, [0.5, 0.5])
  with pytest.raises(ValueError, match="prior_shares for 2 clusterings"):
    ms.score_k([even, even], 4, prior_shares=[[0.25] * 4])


def test_score_k_with_seeds_is_agreement_times_balance():
  a = np.repeat(np.arange(10), 10)
  out = ms.score_k([a, a], 10, label_free_scores=[0.5, 0.7])
  assert out["criterion"] == ms.AGREEMENT
  assert out["score"] == pytest.approx(1.0) and out["agreement"] == pytest.approx(1.0)
  assert out["label_free"] == pytest.approx(0.6) and out["used"] == 10
  # the same partition found at K=12 (two clusters left empty) scores lower than at K=10
  assert ms.score_k([a, a], 12)["score"] < out["score"]


def test_score_k_with_one_seed_falls_back_to_the_label_free_score():
  a = partition()
  out = ms.score_k([a], 10, label_free_scores=[0.8])
  assert out["criterion"] == ms.ONE_SEED and out["score"] == 0.8 and out["agreement"] is None
  with pytest.raises(ValueError, match="label_free_score"):
    ms.score_k([a], 10)


def test_pick_takes_the_best_and_ties_go_to_the_smaller_k():
  assert ms.pick([6, 8, 10, 12], [0.5, 0.7, 0.9, 0.8]) == 10
  assert ms.pick([6, 8, 10, 12], [0.5, 0.9, 0.9, 0.8]) == 8
  assert ms.pick([6, 8, 10, 12], [0.5, 0.89, 0.9, 0.8], tolerance=0.02) == 8
  with pytest.raises(ValueError, match="one score per K"):
    ms.pick([6, 8], [0.5])


def simulated_runs(truth, k, seed):
  """A seed's clustering of 10 true clusters with K clusters: at K < 10 it merges random true clusters,
  at K > 10 it cuts random true clusters in two at random, at K = 10 it finds them (1% of rows wrong)."""
  rng = np.random.default_rng(seed)
  if k <= 10:
    out = rng.permutation(np.arange(10) % k)[truth]  # true cluster -> one of k clusters, each used
  else:
    out, extra = truth.copy(), 10
    for c in rng.choice(10, size=k - 10, replace=False):
      rows = np.flatnonzero(truth == c)
      out[rng.choice(rows, size=len(rows) // 2, replace=False)] = extra
      extra += 1
  wrong = rng.random(len(out)) < 0.01
  out[wrong] = rng.integers(0, k, size=wrong.sum())
  return out


def test_the_criterion_peaks_at_the_true_k_when_merges_and_splits_vary_between_seeds():
  truth = np.repeat(np.arange(10), 200)
  ks = [6, 8, 10, 12, 14]
  scores = [ms.score_k([simulated_runs(truth, k, s) for s in (0, 1, 2)], k)["score"] for k in ks]
  assert ms.pick(ks, scores) == 10
