"""seeds: named streams are distinct keys, and folding a step stream is a pure function of the key."""

import numpy as np
import tensorflow as tf

from clustergan_tf import seeds


def test_key_is_seed_and_stream():
  np.testing.assert_array_equal(seeds.key(5, seeds.CYCLE_ERRORS).numpy(), [5, 3])
  assert seeds.key(5, 3).dtype == tf.int64


def test_streams_outside_training_are_distinct_except_the_documented_pair():
  values = [seeds.SAMPLE_GRID, seeds.INTERPOLATION, seeds.CYCLE_ERRORS, seeds.PRIOR_SAMPLES, seeds.LEMMA_SAMPLES,
            seeds.MODE_PURITY, seeds.DECODE_START]
  assert len(set(values)) == len(values)
  steps = [seeds.STEP_INTERPOLATION, seeds.STEP_CYCLE_MOVE, seeds.STEP_REAL_MOVE]
  assert len(set(steps)) == len(steps)


def test_fold_is_deterministic_and_differs_per_stream():
  k = tf.constant([7, 123], tf.int64)
  a = seeds.fold(k, seeds.STEP_CYCLE_MOVE).numpy()
  np.testing.assert_array_equal(a, seeds.fold(k, seeds.STEP_CYCLE_MOVE).numpy())
  assert not np.array_equal(a, seeds.fold(k, seeds.STEP_REAL_MOVE).numpy())
