"""seeds: named streams are distinct keys, and folding a step stream is a pure function of the key."""

import numpy as np
import tensorflow as tf

from clustergan_tf import seeds


def test_key_is_seed_and_stream():
  np.testing.assert_array_equal(seeds.key(5, seeds.CYCLE_ERRORS).numpy(), [5, 3])
  assert seeds.key(5, 3).dtype == tf.int64


def test_streams_outside_training_are_distinct_except_the_documented_pair():
  streams = {name: getattr(seeds, name) for name in ("SAMPLE_GRID", "INTERPOLATION", "CYCLE_ERRORS", "PRIOR_SAMPLES",
                                                     "LEMMA_SAMPLES", "MODE_PURITY", "DECODE_START", "SERVE_SAMPLE")}
  shared = {v for v in streams.values() if list(streams.values()).count(v) > 1}
  assert {n for n, v in streams.items() if v in shared} == {"DECODE_START", "SERVE_SAMPLE"}  # the pair: 0, 0
  steps = [seeds.STEP_INTERPOLATION, seeds.STEP_CYCLE_MOVE, seeds.STEP_REAL_MOVE, seeds.STEP_SMOOTHNESS]
  assert len(set(steps)) == len(steps)
  fixed = [seeds.GMM_MEANS, seeds.STABILITY, seeds.LABEL_FREE_ROWS, seeds.SHOWN_ROWS]
  assert len(set(fixed)) == len(fixed)


def test_fold_is_deterministic_and_differs_per_stream():
  k = tf.constant([7, 123], tf.int64)
  a = seeds.fold(k, seeds.STEP_CYCLE_MOVE).numpy()
  np.testing.assert_array_equal(a, seeds.fold(k, seeds.STEP_CYCLE_MOVE).numpy())
  assert not np.array_equal(a, seeds.fold(k, seeds.STEP_REAL_MOVE).numpy())


def test_rows_is_a_fixed_seeded_choice_of_distinct_indices():
  # The literal values pin the subsamples that diagnostics, outlier references and the label-free score use.
  np.testing.assert_array_equal(seeds.rows(10, 4, 0), [4, 6, 2, 7])
  np.testing.assert_array_equal(seeds.rows(10, 4, seeds.LABEL_FREE_ROWS), [0, 4, 5, 3])
  assert sorted(seeds.rows(5, 100, 3)) == [0, 1, 2, 3, 4]  # k > n: every row once
  assert not np.array_equal(seeds.rows(1000, 10, 1), seeds.rows(1000, 10, 2))


def test_shown_rows_are_sorted_spread_over_the_split_and_all_of_a_small_one():
  shown = seeds.shown_rows(1000, 100)
  assert len(set(shown)) == 100 and np.all(np.diff(shown) > 0)
  np.testing.assert_array_equal(np.bincount(shown // 100, minlength=10) > 0, [True] * 10)  # every tenth of it
  np.testing.assert_array_equal(seeds.shown_rows(7, 100), np.arange(7))
  np.testing.assert_array_equal(seeds.shown_rows(1000, 100), shown)  # the same for every model
