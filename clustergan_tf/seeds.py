"""Named streams of stateless random numbers: every draw is a pure function of a [2] int64 key.

Training noise is keyed by (seed, generator step * (n_critic + 1) + update); the draws within
one update are told apart by folding in a STEP_* stream. Pictures, diagnostics and other
draws outside training use the key (seed, stream) of their own stream. Changing a number here
changes results: they are part of what makes a run reproducible.
"""

import numpy as np
import tensorflow as tf

# Folded into the key of one update of a training step.
STEP_INTERPOLATION = 1  # WGAN-GP's interpolation coefficients eps
STEP_CYCLE_MOVE = 2  # the shift/rotation of G(z) in the z_c cycle loss (--augment_*)
STEP_REAL_MOVE = 3  # the move of real data in the real-data consistency term
STEP_SMOOTHNESS = 4  # the z_n directions of the --zn_smoothness_weight penalty

# Second half of the key (seed, stream) of draws outside training.
DECODE_START = 0  # backprop decoding's starting points
SERVE_SAMPLE = 0  # the exported generator's `sample` signature: key (its seed input, 0)
SAMPLE_GRID = 1  # z_n of the K-row sample grid
INTERPOLATION = 2  # z_n of the interpolation pictures
CYCLE_ERRORS = 3  # prior draws of the cycle-error summaries
PRIOR_SAMPLES = 4  # the sample grid of plain-GAN baselines
LEMMA_SAMPLES = 9  # the linear-generator experiment's samples
MODE_PURITY = 11  # G's samples that the mode labeller labels

# Keys fixed for every run, so that every model is measured with the same draws.
GMM_MEANS = (20190127, 0)  # the gmm prior's component means
STABILITY = (20190127, 7)  # the moves of the label-free stability score (+ the row offset)
LABEL_FREE_ROWS = (20190127, 8)  # the training rows the label-free score adds to the evaluated split
SHOWN_ROWS = (20190127, 9)  # the rows taken where fewer than a split's all are decoded, drawn or projected


def key(seed, stream):
  """The [2] int64 key of `stream` under `seed`."""
  return tf.constant([seed, stream], tf.int64)


def fold(step_key, stream):
  """A STEP_* stream within one update's key [2]."""
  return tf.random.experimental.stateless_fold_in(step_key, stream)


def rows(n, k, seed):
  """Up to k of the indices 0..n-1 [min(n, k)], a seeded random choice: the fixed subsample of a host array that
  diagnostics, references and representative data are computed on (seed: an int or a key such as LABEL_FREE_ROWS)."""
  return np.random.default_rng(seed).permutation(n)[:k]


def shown_rows(n, k):
  """Up to k of the indices 0..n-1 in increasing order [min(n, k)], the same for every model: the rows that
  decode --num_samples, the cycle errors, the reconstruction picture and the projector take from a split, spread over
  it (its first rows would be one class of a split sorted by class, such as a directory of images)."""
  return np.sort(rows(n, k, SHOWN_ROWS))
