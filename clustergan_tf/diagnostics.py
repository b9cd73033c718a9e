"""Diagnostics of a trained model beside test accuracy: mode purity (with labels) and label-free scores.

Mode purity asks whether each of G's modes (one z_c, many z_n) draws one class: a k-NN
classifier fitted on the labelled training split labels G's samples. The classifier only
watches; it never reaches training. The label-free scores need no labels at all, so a user
can choose among seeds (or K) without them.
"""

import numpy as np
import tensorflow as tf

from clustergan_tf import augment, metrics, model_selection, prior, seeds

ORACLE_ROWS = 20000  # training rows the k-NN labeller is fitted on


class ModeLabeller:
  """k-NN (k=3) on the first 50 principal components of the training split: labels G's samples."""

  def __init__(self, x_train, y_train, seed=0):
    from sklearn.decomposition import PCA
    from sklearn.neighbors import KNeighborsClassifier
    rows = seeds.rows(len(x_train), ORACLE_ROWS, seed)
    flat = x_train[rows].reshape(len(rows), -1)
    self.pca = PCA(n_components=min(50, *flat.shape), random_state=seed).fit(flat)
    self.knn = KNeighborsClassifier(n_neighbors=min(3, len(rows))).fit(self.pca.transform(flat), y_train[rows])

  def __call__(self, x):
    """Class labels [N] of samples x [N, ...]."""
    return self.knn.predict(self.pca.transform(np.asarray(x).reshape(len(x), -1)))


def labeller(cfg, data):
  """The ModeLabeller of a run's labelled training split, or None (unlabelled data, or no ClusterGAN to judge)."""
  x_train, y_train = data.split("train")
  if not cfg.is_clustergan or y_train is None:
    return None
  known = y_train != metrics.UNLABELLED  # the classifier learns from the rows with a label
  return ModeLabeller(x_train[known], y_train[known], seed=cfg.seed) if known.any() else None


def mode_purity(generator, labeller, latent_dim, num_clusters, sigma, per_mode=100, seed=0):
  """{"mode_purity": mean over modes of the majority class share of its samples,
  "mode_classes": how many classes are some mode's majority} for per_mode samples of each z_c."""
  k = np.repeat(np.arange(num_clusters), per_mode)
  zn, zc = prior.sample_cluster(k, latent_dim, num_clusters, sigma, seeds.key(seed, seeds.MODE_PURITY))
  labels = labeller(generator([zn, zc], training=False).numpy()).reshape(num_clusters, per_mode)
  majority = [np.unique(row, return_counts=True) for row in labels]
  majority = [values[counts.argmax()] for values, counts in majority]
  shares = [np.mean(row == m) for row, m in zip(labels, majority)]
  return {"mode_purity": float(np.mean(shares)), "mode_classes": int(len(set(majority)))}


STABILITY_MOVES = 16000  # moved rows the stability score aims at: each row moved about 16,000 / N times ...
MAX_MOVES_PER_ROW = 8  # ... but at most this many


def moves_per_row(num_rows):
  """How many independent moves of each of num_rows rows `stability` averages over: ceil(STABILITY_MOVES / N),
  between 1 (16,000 rows or more) and MAX_MOVES_PER_ROW (digits' 1,797 rows)."""
  return int(min(MAX_MOVES_PER_ROW, max(1, -(-STABILITY_MOVES // max(num_rows, 1)))))


def stability(encoder, x, clusters, max_shift=2.0, max_degrees=10.0, batch_size=1000, moves=None):
  """Share of rows of x whose argmax cluster (`clusters` [N], already known) survives a small random shift and
  rotation (images; vectors: small Gaussian noise), averaged over `moves` independent moves of every row (default
  `moves_per_row(N)`): the same share as one move each, measured with less noise on small data. Move d of the
  batch at row offset i is keyed by seeds.STABILITY + (d, i)."""
  moves = moves_per_row(len(x)) if moves is None else moves
  agree = []
  for i in range(0, len(x), batch_size):
    t = tf.constant(x[i:i + batch_size])
    for d in range(moves):
      seed = seeds.key(seeds.STABILITY[0] + d, seeds.STABILITY[1] + i)
      if len(t.shape) == 4:
        moved = augment.random_move(t, max_shift, max_degrees, seed)
      else:
        moved = t + 0.05 * tf.random.stateless_normal(tf.shape(t), seed)
      moved_clusters = tf.argmax(encoder(moved, training=False)["zc_logits"], 1).numpy()
      agree.append(moved_clusters == clusters[i:i + batch_size])
  return float(np.concatenate(agree).mean())


def label_free(encoder, x, probs, prior_shares=None):
  """Scores computed without labels from the encoder on data x [N, ...] and its softmax(z_c) probs [N, K].

  confidence: mean max probability; balance: `model_selection.balance` of the argmax clusters against the
  prior's shares [K] (uniform unless given: the entropy of the cluster shares / log K, 1 = even);
  stability: see `stability`; score = stability * balance (the column `reproduce` ranks seeds by). x: the rows
  scored (`evaluate_lib.label_free_rows`).
  """
  clusters = probs.argmax(1)
  balance = model_selection.balance(clusters, probs.shape[1], prior_shares)
  stable = stability(encoder, x, clusters)
  return {"confidence": float(probs.max(1).mean()), "balance": balance, "stability": stable,
          "score": stable * balance}
