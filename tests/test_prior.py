import numpy as np
import tensorflow as tf

from clustergan_tf import prior


def test_sample_shapes_and_one_hot():
  zn, zc, k = prior.sample(500, 7, 5, 0.1, tf.constant([1, 2]))
  assert zn.shape == (500, 7) and zc.shape == (500, 5) and k.shape == (500,)
  np.testing.assert_array_equal(tf.argmax(zc, axis=1).numpy(), k.numpy())
  np.testing.assert_array_equal(tf.reduce_sum(zc, axis=1).numpy(), np.ones(500))


def test_sample_statistics():
  zn, _, k = prior.sample(200000, 4, 10, 0.1, tf.constant([3, 4]))
  assert abs(float(tf.math.reduce_std(zn)) - 0.1) < 0.002
  assert abs(float(tf.reduce_mean(zn))) < 0.002
  counts = np.bincount(k.numpy(), minlength=10) / 200000
  np.testing.assert_allclose(counts, 0.1, atol=0.005)


def test_sample_is_a_function_of_the_seed():
  a = prior.sample(10, 3, 4, 0.1, tf.constant([5, 6]))
  b = prior.sample(10, 3, 4, 0.1, tf.constant([5, 6]))
  c = prior.sample(10, 3, 4, 0.1, tf.constant([5, 7]))
  np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
  assert not np.array_equal(a[0].numpy(), c[0].numpy())


def test_sample_cluster_fixes_k():
  zn, zc = prior.sample_cluster(tf.constant([2, 2, 0]), 3, 4, 0.1, tf.constant([0, 0]))
  np.testing.assert_array_equal(zc.numpy(), np.eye(4)[[2, 2, 0]])
  assert zn.shape == (3, 3)


def test_interpolate_is_convex():
  zc = prior.interpolate(1, 3, 5, 4).numpy()
  np.testing.assert_allclose(zc[0], [0, 1, 0, 0])
  np.testing.assert_allclose(zc[-1], [0, 0, 0, 1])
  np.testing.assert_allclose(zc[2], [0, 0.5, 0, 0.5])
  np.testing.assert_allclose(zc.sum(axis=1), 1.0, rtol=1e-6)


def test_baseline_priors():
  """gaussian N(0, I), uniform U(-1, 1), gmm around fixed means; all feed G z_c = 0."""
  seed = tf.constant([7, 8])
  zn, zc, _ = prior.sample(100000, 3, 4, 0.1, seed, kind="gaussian")
  assert abs(float(tf.math.reduce_std(zn)) - 1.0) < 0.01 and not np.any(zc.numpy())
  zn, zc, _ = prior.sample(100000, 3, 4, 0.1, seed, kind="uniform")
  assert float(tf.reduce_min(zn)) >= -1 and float(tf.reduce_max(zn)) <= 1
  assert float(tf.reduce_min(zn)) < -0.999 and float(tf.reduce_max(zn)) > 0.999  # the whole interval
  np.testing.assert_allclose(np.histogram(zn.numpy(), bins=4, range=(-1, 1))[0] / zn.numpy().size, 0.25, atol=0.005)
  assert abs(float(tf.math.reduce_std(zn)) - 1 / np.sqrt(3)) < 0.01 and not np.any(zc.numpy())
  zn, zc, k = prior.sample(100000, 3, 4, 0.1, seed, kind="gmm")
  means = prior.gmm_means(4, 3).numpy()
  offsets = zn.numpy() - means[k.numpy()]
  assert abs(offsets.std() - 0.1) < 0.002 and not np.any(zc.numpy())
  for j in range(4):  # component j is centred on mean j
    np.testing.assert_allclose(zn.numpy()[k.numpy() == j].mean(axis=0), means[j], atol=0.005)
  gaps = np.linalg.norm(means[:, None] - means[None], axis=-1)[np.triu_indices(4, 1)]
  assert gaps.min() > 10 * 0.1  # K separate modes, not one blob
  tf.random.set_seed(123)  # the means do not follow the global seed or earlier draws: fixed for every run
  tf.random.normal([5])
  np.testing.assert_array_equal(prior.gmm_means(4, 3).numpy(), means)


def test_draw_clusters_follows_the_shares():
  from clustergan_tf import prior
  k = prior.draw_clusters(20000, 3, tf.constant([1, 2], tf.int64), shares=[0.6, 0.3, 0.1]).numpy()
  np.testing.assert_allclose(np.bincount(k, minlength=3) / 20000, [0.6, 0.3, 0.1], atol=0.01)
  uniform = prior.draw_clusters(20000, 3, tf.constant([1, 2], tf.int64)).numpy()
  np.testing.assert_allclose(np.bincount(uniform, minlength=3) / 20000, [1 / 3] * 3, atol=0.01)


def test_shares_floored_keeps_every_cluster_alive():
  from clustergan_tf import prior
  out = prior.shares_floored(tf.constant([0.9, 0.1, 0.0, 0.0]), floor=0.2).numpy()  # floor 0.2 / 4 = 0.05
  np.testing.assert_allclose(out, np.array([0.9, 0.1, 0.05, 0.05]) / 1.1, rtol=1e-6)
