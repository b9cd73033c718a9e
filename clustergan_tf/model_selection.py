"""Choosing K without labels: agreement of the clusterings that different seeds find (pure functions).

For each K, models trained with different seeds cluster the same split; the score is the mean
pairwise adjusted Rand index (ARI) of their cluster assignments, times the balance of the cluster
shares (Ben-Hur, Elisseeff & Guyon 2002; Lange et al. 2004). With too few clusters, which true
clusters get merged varies from seed to seed; with too many, how a true cluster is split varies;
at the true K every seed finds the same partition. ARI is corrected for chance (0 for independent
partitions with the given cluster sizes, whatever K), so no K gains from agreement by chance;
balance (entropy of the shares / log K; with learned prior shares, how close the shares come to
them) makes a K whose extra clusters stay empty lose to the K that is used. With one seed there is
nothing to compare: the score falls back to the model's own label-free score (stability under small
moves x balance, `diagnostics.label_free`).
"""

import itertools

import numpy as np
from sklearn.metrics import adjusted_rand_score

AGREEMENT = "agreement x balance"  # the criterion with two or more seeds
ONE_SEED = "label_free_score (one seed: stability under small moves x balance)"


def pairwise_ari(assignments_list):
  """ARI of every pair of assignments ([N] cluster ids each, same rows in the same order): a list of
  len(list) * (len(list) - 1) / 2 floats. Cluster ids need not match between runs."""
  if len(assignments_list) < 2:
    raise ValueError(f"pairwise agreement needs at least 2 clusterings, got {len(assignments_list)}")
  lengths = {len(a) for a in assignments_list}
  if len(lengths) != 1:
    raise ValueError(f"clusterings of different splits (lengths {sorted(lengths)}): evaluate every run on one split")
  return [float(adjusted_rand_score(a, b)) for a, b in itertools.combinations(assignments_list, 2)]


def pairwise_agreement(assignments_list):
  """Mean pairwise ARI of the assignments: 1 when every run finds the same partition (whatever its
  cluster ids), about 0 for independent partitions."""
  return float(np.mean(pairwise_ari(assignments_list)))


def balance(assignments, k, prior_shares=None):
  """How well the cluster shares of assignments [N] (ids in [0, k)) match the prior's: entropy of the
  shares / log k for a uniform prior (None): 1 when all k clusters are the same size, lower when some
  are small or empty; with learned prior shares [k], 1 - KL(shares || prior_shares) / log k, kept in
  [0, 1] (for uniform prior shares the same number up to rounding)."""
  shares = np.bincount(np.asarray(assignments), minlength=k) / len(assignments)
  if prior_shares is None:
    return float(-(shares * np.log(np.maximum(shares, 1e-12))).sum() / np.log(k))
  prior_shares = np.asarray(prior_shares, np.float64)
  if prior_shares.shape != (k,):
    raise ValueError(f"prior_shares of shape {prior_shares.shape} for k={k} clusters")
  kl = float((shares * np.log(np.maximum(shares, 1e-12) / (prior_shares / prior_shares.sum()))).sum())
  return min(1.0, max(0.0, 1.0 - kl / np.log(k)))


def used_clusters(assignments, k):
  """How many of the k clusters hold at least one row."""
  return int(np.count_nonzero(np.bincount(np.asarray(assignments), minlength=k)))


def score_k(assignments_list, k, label_free_scores=None, prior_shares=None):
  """The criterion for one K from its runs (one [N] assignment per seed): a dict with `score` and its
  parts: agreement (mean pairwise ARI; None with one run), min_agreement, balance (mean over runs;
  against each run's learned prior shares when prior_shares lists them), used (mean count of non-empty
  clusters), label_free (mean of label_free_scores, if given) and `criterion`, the rule that gave
  `score`. One run: score = its label-free score (needs label_free_scores)."""
  prior_shares = [None] * len(assignments_list) if prior_shares is None else prior_shares
  if len(prior_shares) != len(assignments_list):
    raise ValueError(f"{len(prior_shares)} prior_shares for {len(assignments_list)} clusterings")
  parts = {"balance": float(np.mean([balance(a, k, p) for a, p in zip(assignments_list, prior_shares)])),
           "used": float(np.mean([used_clusters(a, k) for a in assignments_list])),
           "label_free": None if label_free_scores is None else float(np.mean(label_free_scores))}
  if len(assignments_list) >= 2:
    aris = pairwise_ari(assignments_list)
    return dict(parts, agreement=float(np.mean(aris)), min_agreement=float(np.min(aris)),
                score=float(np.mean(aris)) * parts["balance"], criterion=AGREEMENT)
  if label_free_scores is None:
    raise ValueError("one run per K: the fallback score needs its label_free_score")
  return dict(parts, agreement=None, min_agreement=None, score=parts["label_free"], criterion=ONE_SEED)


def pick(ks, scores, tolerance=0.0):
  """The chosen K: the smallest K whose score is within `tolerance` of the best (exact ties: the
  smaller K, the simpler model; a larger K as good adds clusters the data do not support)."""
  if len(ks) != len(scores) or not ks:
    raise ValueError(f"need one score per K, got {len(ks)} Ks and {len(scores)} scores")
  best = max(scores)
  return min(k for k, s in zip(ks, scores) if s >= best - tolerance)
