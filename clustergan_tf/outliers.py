"""Per-input outlier scores: how unlike anything G makes an input is, how unsure E is about it, and how far outside
the prior E puts it.

  reconstruction  RMS of x - G(E_n(x), softmax(E_c(x))) over the input's values: G cannot make x
  uncertainty     1 - max softmax(E_c(x)) (the other clusters' probabilities summed): x sits between clusters
  latent          ||E_n(x)||^2: E maps x where the prior puts no z_n (noise, garbage, data far off)
  outlier_score   each part taken as its log, standardised by the log's mean and std on the training rows
                  (the parts are positive and right-skewed, E being nearly certain of most training rows: on the
                  log scale a z-score counts orders of magnitude instead of being set by the few largest values),
                  counted only above its MARGIN, and summed. A part below its training mean vouches for nothing
                  (noise that E assigns with full confidence is no less an outlier), and the latent part counts only
                  beyond 1.5 std, where few training rows lie, so that it flags inputs far off without blurring the
                  other two parts' view of a class never seen (BUILD_NOTES, "Twenty-fourth session").

Threshold rule (documented in the README): an input whose score exceeds `threshold` (the 99th
percentile of the training rows' scores, written to metrics.json) is flagged; by construction
about 1% of inputs like the training data are.
"""

import numpy as np
import tensorflow as tf

from clustergan_tf import batches, seeds

PARTS = ("reconstruction", "uncertainty", "latent")
MARGIN = {"reconstruction": 0.0, "uncertainty": 0.0, "latent": 1.5}  # a part's z-score counts above this
REFERENCE_ROWS = 5000  # training rows the standardisation and the threshold are measured on
FLOOR = 1e-6  # parts are floored here before the log (E can be certain to float32 precision: uncertainty 0)
THRESHOLD_QUANTILE = 0.99
QUANTILES = (0.9, 0.95, THRESHOLD_QUANTILE, 0.999)  # training-score percentiles reported, for a looser or stricter rule


def parts_of(generator, encoder, x):
  """{"reconstruction": [B], "uncertainty": [B], "latent": [B]} of a batch x [B, ...] (tensors; also inside
  serving)."""
  out = encoder(x, training=False)
  probs = tf.nn.softmax(out["zc_logits"])
  x_hat = generator([out["zn"], probs], training=False)
  diff = tf.reshape(tf.cast(x, tf.float32) - tf.cast(x_hat, tf.float32), [tf.shape(x)[0], -1])
  # 1 - max p summed as the other clusters' probabilities: near 1e-6 the difference 1 - p keeps a few bits in float32,
  # and the log made a row's score depend on the batch it was served in (by up to 0.02); the sum keeps full precision.
  others = 1.0 - tf.one_hot(tf.argmax(probs, axis=1), probs.shape[1], dtype=probs.dtype)
  return {"reconstruction": tf.sqrt(tf.reduce_mean(tf.square(diff), axis=1)),
          "uncertainty": tf.reduce_sum(probs * others, axis=1),
          "latent": tf.reduce_sum(tf.square(tf.cast(out["zn"], tf.float32)), axis=1)}


def parts(generator, encoder, x, batch_size=1000):
  """parts_of over x [N, ...] in batches: {part: np.ndarray [N]}."""
  chunks = batches.run(lambda t: parts_of(generator, encoder, t), x, batch_size)
  return {p: np.concatenate([c[p].numpy() for c in chunks]) for p in PARTS}


def _log(part):
  """log(max(part, FLOOR)) of a numpy array or a tensor."""
  if isinstance(part, np.ndarray):
    return np.log(np.maximum(part, FLOOR))
  return tf.math.log(tf.maximum(part, FLOOR))


def reference(train_parts):
  """Standardisation of each part and the flagging threshold, from the training rows' parts:
  {"mean": {part: m}, "std": {part: s} of log(part), "threshold": 99th percentile of their scores,
  "thresholds": {"q": the q-quantile of their scores, for q in QUANTILES}}."""
  logs = {p: _log(np.asarray(train_parts[p], np.float64)) for p in PARTS}
  ref = {"mean": {p: float(np.mean(v)) for p, v in logs.items()},
         "std": {p: float(max(np.std(v), 1e-8)) for p, v in logs.items()}}
  values = np.quantile(score(train_parts, ref), QUANTILES)
  ref["thresholds"] = {f"{q:g}": float(v) for q, v in zip(QUANTILES, values)}
  ref["threshold"] = ref["thresholds"][f"{THRESHOLD_QUANTILE:g}"]
  return ref


def score(parts_, ref):
  """outlier_score [N]: the sum over the parts of their z-score on the log scale above its MARGIN (numpy arrays or
  tensors)."""
  excess = [(_log(parts_[p]) - ref["mean"][p]) / ref["std"][p] - MARGIN[p] for p in PARTS]
  if isinstance(excess[0], np.ndarray):
    return sum(np.maximum(e, 0.0) for e in excess)
  return tf.add_n([tf.maximum(e, 0.0) for e in excess])


def fit(generator, encoder, x_train, seed=0):
  """The reference of a trained model, measured on up to REFERENCE_ROWS training rows (seeded choice)."""
  rows = seeds.rows(len(x_train), REFERENCE_ROWS, seed)
  return reference(parts(generator, encoder, x_train[rows]))


def auroc(scores, is_outlier):
  """Area under the ROC curve of scores [N] separating is_outlier [N] (bool) from the rest."""
  from sklearn.metrics import roc_auc_score
  return float(roc_auc_score(np.asarray(is_outlier, bool), scores))
