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


def test_uncertainty_of_a_confident_encoder_keeps_its_precision_in_any_batch():
  """Logits 0 and 14, 15, 16: 1 - max p is 1e-6..1e-7, where 1 - p in float32 keeps about 2 significant bits."""
  logits = np.array([[0.0, 14.0], [0.0, 15.0], [16.0, 0.0], [1.0, 0.0]], np.float32)

  def encoder(x, training=False):
    return {"zn": x[:, :1] * 0.0, "zc_logits": x}

  def generator(z, training=False):
    return z[1]
  exact = 1.0 / (1.0 + np.exp(np.abs(logits[:, 0] - logits[:, 1]).astype(np.float64)))
  together = outliers.parts_of(generator, encoder, tf.constant(logits))["uncertainty"].numpy()
  one_by_one = [outliers.parts_of(generator, encoder, tf.constant(logits[i:i + 1]))["uncertainty"].numpy()[0]
                for i in range(4)]
  np.testing.assert_allclose(together, exact, rtol=1e-5)
  np.testing.assert_allclose(one_by_one, exact, rtol=1e-5)


def test_score_standardises_the_logs_and_sums_and_threshold_is_the_99th_percentile():
  logs = np.arange(100.0) / 50  # log of the training rows' reconstruction errors
  train = {"reconstruction": np.exp(logs), "uncertainty": np.zeros(100)}  # E certain of every training row
  ref = outliers.reference(train)
  assert ref["mean"]["reconstruction"] == pytest.approx(0.99) and ref["std"]["reconstruction"] == pytest.approx(
      np.std(logs))
  assert ref["mean"]["uncertainty"] == pytest.approx(np.log(outliers.FLOOR))  # 0 is floored before the log
  assert ref["std"]["uncertainty"] == 1e-8  # a constant part does not divide by zero
  z = (logs - 0.99) / np.std(logs)
  assert ref["threshold"] == pytest.approx(np.quantile(z, 0.99))
  assert ref["thresholds"] == pytest.approx({"0.9": np.quantile(z, 0.9), "0.95": np.quantile(z, 0.95),
                                             "0.99": ref["threshold"], "0.999": np.quantile(z, 0.999)})
  new = {"reconstruction": np.array([np.exp(0.99), np.exp(0.99) * 10.0]), "uncertainty": np.array([0.0, 0.0])}
  np.testing.assert_allclose(outliers.score(new, ref), [0.0, np.log(10.0) / np.std(logs)], atol=1e-6)
  served = outliers.score({k: tf.constant(v, tf.float32) for k, v in new.items()}, ref)  # inside a signature
  np.testing.assert_allclose(served.numpy(), outliers.score(new, ref), rtol=1e-5, atol=1e-5)


def test_auroc():
  assert outliers.auroc([0.1, 0.2, 0.9, 0.8], [False, False, True, True]) == 1.0
  assert outliers.auroc([0.9, 0.2, 0.1, 0.8], [False, False, True, True]) == 0.25
