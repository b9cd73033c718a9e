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
  np.testing.assert_allclose(parts["latent"].numpy(), [1.0, 0.0])  # ||z_n||^2: z_n is the first value


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


def test_reference_floors_a_part_of_zeros_and_never_divides_by_zero():
  train = {"reconstruction": np.exp(np.arange(100.0) / 50), "uncertainty": np.zeros(100), "latent": np.ones(100)}
  ref = outliers.reference(train)  # E certain of every training row
  assert ref["mean"]["uncertainty"] == pytest.approx(np.log(outliers.FLOOR))  # 0 is floored before the log
  assert ref["std"]["uncertainty"] == 1e-8 and ref["std"]["latent"] == 1e-8  # a constant part


def test_score_counts_each_standardised_log_above_its_margin_and_threshold_is_the_99th_percentile():
  logs = np.arange(100.0) / 50  # log of the training rows' reconstruction errors: mean 0.99
  s = np.std(logs)
  train = {"reconstruction": np.exp(logs), "uncertainty": 1e-3 * np.exp(-logs), "latent": np.exp(logs / 2)}
  ref = outliers.reference(train)
  assert ref["mean"]["reconstruction"] == pytest.approx(0.99) and ref["std"]["reconstruction"] == pytest.approx(s)
  assert ref["mean"]["latent"] == pytest.approx(0.495) and ref["std"]["latent"] == pytest.approx(s / 2)
  z = (logs - 0.99) / s  # a training row's z-score of reconstruction; uncertainty's is -z, latent's z
  train_scores = np.maximum(z, 0) + np.maximum(-z, 0) + np.maximum(z - 1.5, 0)
  assert ref["threshold"] == pytest.approx(np.quantile(train_scores, 0.99))
  assert ref["thresholds"] == pytest.approx({"0.9": np.quantile(train_scores, 0.9), "0.95": np.quantile(
      train_scores, 0.95), "0.99": ref["threshold"], "0.999": np.quantile(train_scores, 0.999)})
  typical = {"reconstruction": np.exp(0.99), "uncertainty": 1e-3 * np.exp(-0.99), "latent": np.exp(0.495)}
  new = {k: np.full(4, v) for k, v in typical.items()}
  new["reconstruction"][1] *= 10.0  # G misses it 10x worse than usual: log(10) / s
  new["reconstruction"][2] /= 10.0  # G makes it 10x better than usual: vouches for nothing (0, not -log(10) / s)
  new["latent"][3] *= np.exp(s)  # E_n 2 std out on the log scale (log ||z_n||^2 std s / 2): counts 2 - 1.5
  np.testing.assert_allclose(outliers.score(new, ref), [0.0, np.log(10.0) / s, 0.0, 0.5], atol=1e-6)
  served = outliers.score({k: tf.constant(v, tf.float32) for k, v in new.items()}, ref)  # inside a signature
  np.testing.assert_allclose(served.numpy(), outliers.score(new, ref), rtol=1e-5, atol=1e-5)


def test_auroc():
  assert outliers.auroc([0.1, 0.2, 0.9, 0.8], [False, False, True, True]) == 1.0
  assert outliers.auroc([0.9, 0.2, 0.1, 0.8], [False, False, True, True]) == 0.25
