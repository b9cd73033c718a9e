"""outliers: the parts, their standardisation, the threshold rule and AUROC, on hand-made values."""

import numpy as np
import pytest
import tensorflow as tf

from clustergan_tf import outliers


def test_parts_of_a_batch():
  encoder = lambda x, training=False: {"zn": x[:, :1], "zc_logits": tf.constant([[0.0, 0.0], [10.0, -10.0]])}
  generator = lambda z, training=False: tf.zeros([2, 4])  # G makes zeros
  x = tf.constant([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 2.0]])
  parts = outliers.parts_of(generator, encoder, x)
  np.testing.assert_allclose(parts["reconstruction"].numpy(), [1.0, 1.0])  # RMS: sqrt(4/4), sqrt(4/4)
  np.testing.assert_allclose(parts["uncertainty"].numpy(), [0.5, 0.0], atol=1e-6)


def test_score_standardises_and_sums_and_threshold_is_the_99th_percentile():
  train = {"reconstruction": np.arange(100, dtype=np.float64), "uncertainty": np.zeros(100)}
  ref = outliers.reference(train)
  assert ref["mean"]["reconstruction"] == 49.5 and ref["std"]["reconstruction"] == pytest.approx(np.std(np.arange(100)))
  assert ref["std"]["uncertainty"] == 1e-8  # a constant part does not divide by zero
  z = (np.arange(100) - 49.5) / np.std(np.arange(100))
  assert ref["threshold"] == pytest.approx(np.quantile(z, 0.99))
  new = {"reconstruction": np.array([49.5, 200.0]), "uncertainty": np.array([0.0, 0.0])}
  np.testing.assert_allclose(outliers.score(new, ref), [0.0, (200 - 49.5) / np.std(np.arange(100))])


def test_auroc():
  assert outliers.auroc([0.1, 0.2, 0.9, 0.8], [False, False, True, True]) == 1.0
  assert outliers.auroc([0.9, 0.2, 0.1, 0.8], [False, False, True, True]) == 0.25
