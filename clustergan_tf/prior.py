"""Priors of z = (z_n, z_c). ClusterGAN's "onehot": z_n ~ N(0, sigma^2 I), z_c = e_k, k ~ U{0..K-1};
the plain-GAN baselines of the paper: "gaussian" N(0, I), "uniform" U(-1, 1), "gmm" (a mixture of K
Gaussians sigma-wide around fixed means, the component carried by z_n alone). Baselines feed G
z_c = 0, so every prior trains the same networks.

All sampling is stateless (`tf.random.stateless_*` keyed by a [2] int seed), so a
training step's noise is a pure function of (seed, step): resumable and identical
under any number of replicas.
XLA-compiled steps draw other (equally distributed) numbers than plain TF ones.
"""

import tensorflow as tf

from clustergan_tf import seeds

PRIORS = ("onehot", "gaussian", "uniform", "gmm")


def feeds_cluster(kind):
  """Whether G's z_c input carries the cluster under prior `kind`: the one-hot prior (ClusterGAN);
  the plain-GAN baselines feed z_c = 0. The one place this rule is written."""
  return kind == "onehot"


def gmm_means(num_clusters, latent_dim):
  """The gmm prior's component means [K, latent_dim], drawn once from N(0, I) with a fixed seed."""
  return tf.random.stateless_normal([num_clusters, latent_dim], seeds.GMM_MEANS)


def sample(batch_size, latent_dim, num_clusters, sigma, seed, kind="onehot", shares=None):
  """Draws a batch from the prior `kind`.

  Args:
    batch_size: int, number of samples B.
    latent_dim: int, dimension of z_n.
    num_clusters: int, K.
    sigma: float, standard deviation of z_n (onehot) or of each component (gmm).
    seed: int tensor of shape [2] (stateless seed).
    shares: None (every cluster equally often, the paper's) or cluster proportions [K] (summing to 1).
  Returns:
    zn [B, latent_dim] float32, zc [B, K] float32 (one-hot; zeros for the baselines),
    k [B] int32 (the cluster or mixture component; meaningless for gaussian and uniform).
  """
  seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2)
  k = draw_clusters(batch_size, num_clusters, seeds[0], shares)
  if feeds_cluster(kind):
    zn, zc = sample_cluster(k, latent_dim, num_clusters, sigma, seeds[1])
    return zn, zc, k
  shape = [batch_size, latent_dim]
  if kind == "gaussian":
    zn = tf.random.stateless_normal(shape, seeds[1])
  elif kind == "uniform":
    zn = tf.random.stateless_uniform(shape, seeds[1], minval=-1.0, maxval=1.0)
  elif kind == "gmm":
    zn = tf.gather(gmm_means(num_clusters, latent_dim), k) + sigma * tf.random.stateless_normal(shape, seeds[1])
  else:
    raise ValueError(f"unknown prior {kind!r}; one of {PRIORS}")
  return zn, tf.zeros([batch_size, num_clusters]), k


def draw_clusters(batch_size, num_clusters, seed, shares=None):
  """Cluster ids [B] int32: uniform over K (shares None), else with probabilities shares [K]."""
  if shares is None:
    return tf.random.stateless_uniform([batch_size], seed, minval=0, maxval=num_clusters, dtype=tf.int32)
  # Inverse CDF (XLA compiles it; stateless_categorical has no XLA kernel): k = #{j < K-1: u >= cdf_j}.
  cdf = tf.cumsum(tf.cast(shares, tf.float32))[:-1]
  u = tf.random.stateless_uniform([batch_size], seed)
  return tf.reduce_sum(tf.cast(u[:, None] >= cdf[None, :], tf.int32), axis=1)


def shares_floored(shares, floor):
  """shares [K] with every entry raised to at least floor / K, renormalised (no cluster dies)."""
  k = shares.shape[-1]
  raised = tf.maximum(tf.cast(shares, tf.float32), floor / k)
  return raised / tf.reduce_sum(raised)


def sample_cluster(k, latent_dim, num_clusters, sigma, seed):
  """Draws z for given cluster ids.

  Args:
    k: int tensor [B] of cluster ids in [0, K).
    seed: int tensor [2].
  Returns:
    zn [B, latent_dim], zc [B, K] (one-hot of k).
  """
  k = tf.convert_to_tensor(k, tf.int32)
  zn = sigma * tf.random.stateless_normal([tf.shape(k)[0], latent_dim], seed)
  zc = tf.one_hot(k, num_clusters, dtype=tf.float32)
  return zn, zc


def interpolate(k_from, k_to, num_steps, num_clusters):
  """Convex combinations (1 - t) e_a + t e_b, t = 0..1 in num_steps steps.

  Returns zc of shape [num_steps, K] (rows sum to 1).
  """
  t = tf.linspace(0.0, 1.0, num_steps)[:, None]
  a = tf.one_hot(k_from, num_clusters)[None, :]
  b = tf.one_hot(k_to, num_clusters)[None, :]
  return (1.0 - t) * a + t * b
