"""Algorithm 1, backprop decoding: recovers z* = argmin_z ||G(z) - x||_1 + lambda ||z_n||^2 through G alone.

For each input x_i and each restart k (z_c fixed to e_k), z_n starts from the prior
N(0, sigma^2 I) and takes `steps` Adam updates, clipped to [-clip, clip] after each;
the restart with the lowest final loss wins (with learned cluster shares: the highest
posterior, `restart_scores`), and its k is a cluster assignment.
For the plain-GAN priors (gaussian, uniform, gmm) z_c stays 0, restart r starts from a
draw of the prior (gmm: from component r), and z* = z_n* is what k-means clusters.

`decode` runs every restart of every input of a batch as one batch of B*R rows: one
variable holds all B*R z_n, one tf.function runs the whole Adam loop. Each row's loss
depends on its own z_n only, so the gradient of the summed loss is every row's own
gradient and Adam (elementwise) keeps the rows independent. `decode_loop` does the
same work one restart at a time, for speed comparisons; both start from the same
z_n, so they agree up to float rounding.
"""

import math
import time

import keras
import numpy as np
import tensorflow as tf

from clustergan_tf import prior, seeds
from clustergan_tf.errors import UsageError


# -- generators ------------------------------------------------------------------------------------
def generator_from_keras(model):
  """A Keras generator with inputs [zn, zc] as a callable (zn [N, d], zc [N, K]) -> x_hat [N, ...]."""
  return lambda zn, zc: model([zn, zc], training=False)


def generator_from_saved_model(path):
  """The exported generator's serving_default signature (inputs zn, zc; output images) as a callable."""
  loaded = tf.saved_model.load(path)
  serve = loaded.signatures["serving_default"]

  def generate(zn, zc):
    return serve(zn=zn, zc=zc)["images"]

  generate.saved_model = loaded  # the signature does not own the variables: keep them alive
  return generate


# -- pieces ----------------------------------------------------------------------------------------
def default_clip(prior_kind):
  """Where z_n is clipped by default: the paper's 0.6 for onehot (sigma 0.1), the support for
  uniform, nowhere (None) for gaussian and gmm."""
  return {"onehot": 0.6, "uniform": 1.0}.get(prior_kind)


def initial_zn(num_inputs, num_clusters, latent_dim, sigma, seed, prior_kind="onehot", restarts=None):
  """Starting points from the prior: [N, R, latent_dim], [i, r] for input i, restart r (R: K by default).

  onehot: z_n ~ N(0, sigma^2 I); gmm: restart r starts in component r; gaussian, uniform:
  draws of the prior. Drawn for all inputs at once (stateless, keyed by seed), so a
  restart's start does not depend on batch_size (nor, for onehot and gmm, on how many
  restarts run).
  """
  s = seeds.key(seed, seeds.DECODE_START)
  restarts = num_clusters if restarts is None else restarts
  if prior.feeds_cluster(prior_kind):
    return (sigma * tf.random.stateless_normal([num_inputs, num_clusters, latent_dim], s)).numpy()[:, :restarts]
  if prior_kind == "gmm":
    eps = tf.random.stateless_normal([num_inputs, num_clusters, latent_dim], s)
    return (prior.gmm_means(num_clusters, latent_dim)[None] + sigma * eps).numpy()[:, :restarts]
  zn, _, _ = prior.sample(num_inputs * restarts, latent_dim, num_clusters, sigma, s, prior_kind)
  return zn.numpy().reshape(num_inputs, restarts, latent_dim)


def restart_loss(generator, zn, zc, x, lambda_reg):
  """Per-row loss ||G(zn, zc) - x||_1 (summed over data dims) + lambda_reg ||zn||_2^2: [rows].

  zn [rows, d], zc [rows, K], x [rows, *data_shape].
  """
  diff = tf.reshape(generator(zn, zc) - x, [tf.shape(x)[0], -1])
  return tf.reduce_sum(tf.abs(diff), axis=1) + lambda_reg * tf.reduce_sum(tf.square(zn), axis=1)


def make_solver(generator, rows, latent_dim, steps, learning_rate, lambda_reg, clip):
  """A tf.function (x [rows, ...], zc [rows, K], zn0 [rows, d]) -> (zn [rows, d], loss [rows]).

  Runs `steps` Adam updates (keras.optimizers.Adam, the paper's beta 0.9 / 0.999) on
  one variable holding every row's z_n. Each call starts from zn0 and fresh Adam
  state, so one solver (traced once) serves every batch.
  """
  zn = tf.Variable(tf.zeros([rows, latent_dim]), name="zn")
  optimizer = keras.optimizers.Adam(learning_rate, name="decode_adam")
  optimizer.build([zn])
  fresh = [tf.identity(tf.convert_to_tensor(v)) for v in optimizer.variables]  # iteration 0, zero moments

  @tf.function
  def solve(x, zc, zn0):
    zn.assign(zn0)
    for v, value in zip(optimizer.variables, fresh):
      v.assign(value)
    for _ in tf.range(steps):
      with tf.GradientTape() as tape:  # the rows' losses are independent: d(sum)/d(zn_r) = d(loss_r)/d(zn_r)
        total = tf.reduce_sum(restart_loss(generator, tf.convert_to_tensor(zn), zc, x, lambda_reg))
      optimizer.apply_gradients([(tape.gradient(total, zn), zn)])
      if clip is not None:
        zn.assign(tf.clip_by_value(zn, -clip, clip))
    final = tf.convert_to_tensor(zn)
    return final, restart_loss(generator, final, zc, x, lambda_reg)

  return solve


def batches(num_inputs, batch_size):
  """(rows per batch B, [(start, stop)]): ceil(N / batch_size) batches of near-equal size, so padding is small."""
  count = math.ceil(num_inputs / batch_size)
  size = math.ceil(num_inputs / count)
  return size, [(i, min(i + size, num_inputs)) for i in range(0, num_inputs, size)]


def pad_rows(a, rows):
  """a [n, ...] padded with zero rows to [rows, ...] (a fixed shape: no retracing)."""
  return np.concatenate([a, np.zeros((rows - len(a),) + a.shape[1:], a.dtype)]) if len(a) < rows else a


def restart_scores(loss, shares=None, dims=1):
  """What the winning restart minimises: loss [N, R] itself, or with learned cluster shares [K] the
  negative log posterior dims * loss / min_r loss - log shares[r].

  The loss (L1 fit + lambda ||z_n||^2) is read as a Laplace negative log-likelihood whose scale is fitted
  per input as the best restart's loss / dims (about its mean absolute residual per data dimension), so
  the prior's log shares weigh against the fit on the same scale. Uniform shares change no winner.
  """
  loss = np.asarray(loss, np.float64)
  if shares is None:
    return loss
  fitted = dims * loss / np.maximum(loss.min(axis=1, keepdims=True), 1e-12)
  return fitted - np.log(np.asarray(shares, np.float64)[:loss.shape[1]])[None]


def pick(zn, loss, num_clusters, prior_kind="onehot", shares=None, dims=1):
  """Winning restart per input. zn [N, R, d], loss [N, R] -> the dict `decode` returns.

  shares [K]: learned cluster shares of the onehot prior (or None), weighed in by `restart_scores` with
  dims data dimensions. The returned "loss" stays the winner's own loss.
  """
  score = restart_scores(loss, shares if prior.feeds_cluster(prior_kind) else None, dims)
  restart = score.argmin(axis=1)
  best_zn = zn[np.arange(len(zn)), restart]
  z = best_zn
  if prior.feeds_cluster(prior_kind):
    z = np.concatenate([best_zn, np.eye(num_clusters, dtype=np.float32)[restart]], axis=1)
  return {"z": z, "zn": best_zn, "restart": restart.astype(np.int64), "loss": loss[np.arange(len(loss)), restart],
          "restart_loss": loss}


def restart_zc(prior_kind, restarts, num_clusters):
  """z_c of each restart [R, K]: e_k for the onehot prior, zeros for the others."""
  if prior.feeds_cluster(prior_kind):
    return np.eye(num_clusters, dtype=np.float32)[:restarts]
  return np.zeros((restarts, num_clusters), np.float32)


def validate(generator, x, num_clusters, latent_dim, sigma, restarts, steps, learning_rate, lambda_reg, clip,
             batch_size, prior_kind="onehot", shares=None):
  """Checks the arguments (UsageError naming the flag).

  Returns (generator callable, x float32, restarts, clip), with clip="prior" resolved to `default_clip`.
  """
  clip = default_clip(prior_kind) if clip == "prior" else clip
  if isinstance(generator, keras.Model):
    generator = generator_from_keras(generator)
  if prior_kind not in prior.PRIORS:
    raise UsageError(f"prior {prior_kind!r} is not one of {', '.join(prior.PRIORS)}")
  restarts = num_clusters if restarts is None else restarts
  if (prior.feeds_cluster(prior_kind) or prior_kind == "gmm") and not 1 <= restarts <= num_clusters:
    raise UsageError(f"--restarts={restarts} must be in 1..{num_clusters} (one restart per cluster)")
  if restarts < 1:
    raise UsageError(f"--restarts={restarts} must be at least 1")
  if steps < 1:
    raise UsageError(f"--steps={steps} must be at least 1")
  if not learning_rate > 0:
    raise UsageError(f"--learning_rate={learning_rate} must be positive")
  if not lambda_reg >= 0:
    raise UsageError(f"--lambda_reg={lambda_reg} must be >= 0")
  if clip is not None and not clip > 0:
    raise UsageError(f"--clip={clip} must be positive; inf (or None in Python) disables clipping")
  if batch_size < 1:
    raise UsageError(f"--batch_size={batch_size} must be at least 1")
  if sigma < 0:
    raise UsageError(f"sigma={sigma} (the prior's std of z_n) must be >= 0")
  if shares is not None and (np.shape(shares) != (num_clusters,) or not np.all(np.asarray(shares) > 0)):
    raise UsageError(f"shares {np.asarray(shares).tolist()} must be {num_clusters} positive cluster proportions")
  x = np.asarray(x, np.float32)
  if x.ndim < 2 or len(x) == 0:
    raise UsageError(f"--num_samples: nothing to decode (x has shape {x.shape}); pass at least one sample")
  probe = generator(tf.zeros([1, latent_dim]), tf.one_hot([0], num_clusters))
  if tuple(probe.shape[1:]) != x.shape[1:]:
    raise UsageError(f"x has samples of shape {x.shape[1:]} but the generator makes {tuple(probe.shape[1:])}: "
                     "decode data of the model's own data set")
  return generator, x, restarts, clip


# -- the two decoders ------------------------------------------------------------------------------
def decode(generator, x, num_clusters, latent_dim, sigma, restarts=None, steps=5000, learning_rate=0.01,
           lambda_reg=10.0, clip="prior", seed=0, batch_size=1000, prior="onehot", shares=None):
  """Algorithm 1 with all R restarts of a batch of B inputs as one B*R-row Adam loop.

  Args:
    generator: callable (zn [N, latent_dim], zc [N, K]) -> x_hat [N, *data_shape] (or a Keras generator).
    x: [N, *data_shape] inputs.
    restarts: R <= K; restart k fixes z_c = e_k (default K: every cluster).
    clip: z_n is clipped to [-clip, clip] after every step; None disables; "prior": `default_clip(prior)`.
    prior: the prior G was trained from (decides z_c and the starting points).
    shares: [K] learned cluster shares of the prior (--cluster_shares=learned), weighed into the choice of
      the winner by `restart_scores`; None: uniform, the paper's.
  Returns:
    {"z": [N, latent_dim + K] (z_n*, e_k*; z_n* alone for the plain-GAN priors), "zn": [N, latent_dim],
     "restart": [N] int64 (k*, the cluster for the onehot prior), "loss": [N] (final loss of the winner),
     "restart_loss": [N, R] (final loss of every restart)}.
  """
  generator, x, restarts, clip = validate(generator, x, num_clusters, latent_dim, sigma, restarts, steps,
                                          learning_rate, lambda_reg, clip, batch_size, prior, shares)
  rows, spans = batches(len(x), batch_size)
  start = initial_zn(len(x), num_clusters, latent_dim, sigma, seed, prior, restarts)
  solve = make_solver(generator, rows * restarts, latent_dim, steps, learning_rate, lambda_reg, clip)
  zc = np.tile(restart_zc(prior, restarts, num_clusters), (rows, 1))  # row b*R + k holds restart k's z_c
  zn, loss = [], []
  for lo, hi in spans:
    xb = np.repeat(pad_rows(x[lo:hi], rows), restarts, axis=0)
    zn0 = pad_rows(start[lo:hi], rows).reshape(rows * restarts, latent_dim)
    out_zn, out_loss = solve(tf.constant(xb), tf.constant(zc), tf.constant(zn0))
    zn.append(out_zn.numpy().reshape(rows, restarts, latent_dim)[:hi - lo])
    loss.append(out_loss.numpy().reshape(rows, restarts)[:hi - lo])
  return pick(np.concatenate(zn), np.concatenate(loss), num_clusters, prior, shares, np.prod(x.shape[1:]))


def decode_loop(generator, x, num_clusters, latent_dim, sigma, restarts=None, steps=5000, learning_rate=0.01,
                lambda_reg=10.0, clip="prior", seed=0, batch_size=1000, prior="onehot", shares=None):
  """`decode` done one restart at a time (one solver call, fresh Adam state, per restart and batch).

  Same arguments, starting points and results (up to float rounding); kept to measure
  what batching the restarts buys.
  """
  generator, x, restarts, clip = validate(generator, x, num_clusters, latent_dim, sigma, restarts, steps,
                                          learning_rate, lambda_reg, clip, batch_size, prior, shares)
  rows, spans = batches(len(x), batch_size)
  start = initial_zn(len(x), num_clusters, latent_dim, sigma, seed, prior, restarts)
  zcs = restart_zc(prior, restarts, num_clusters)
  solve = make_solver(generator, rows, latent_dim, steps, learning_rate, lambda_reg, clip)
  zn, loss = [], []
  for lo, hi in spans:
    xb = tf.constant(pad_rows(x[lo:hi], rows))
    per_restart = []
    for k in range(restarts):
      zc = tf.constant(np.tile(zcs[k:k + 1], (rows, 1)))
      per_restart.append(solve(xb, zc, tf.constant(pad_rows(start[lo:hi, k], rows))))
    zn.append(np.stack([z.numpy()[:hi - lo] for z, _ in per_restart], axis=1))
    loss.append(np.stack([value.numpy()[:hi - lo] for _, value in per_restart], axis=1))
  return pick(np.concatenate(zn), np.concatenate(loss), num_clusters, prior, shares, np.prod(x.shape[1:]))


def naive_pair_seconds(generator, x, args, pairs=20):
  """Seconds per (input, restart) pair of Algorithm 1 solved alone (a 1-row solver, traced beforehand),
  timed on `pairs` pairs: the textbook loop `for x_i: for k:` that the batched decoder replaces.
  args: `decode`'s keyword arguments (num_clusters, latent_dim, sigma, steps, ..., prior) as a dict."""
  pairs = min(pairs, len(x))
  solve = make_solver(generator, 1, args["latent_dim"], args["steps"], args["learning_rate"],
                      args["lambda_reg"], args["clip"])
  start = initial_zn(pairs, args["num_clusters"], args["latent_dim"], args["sigma"], args["seed"], args["prior"])
  zcs = restart_zc(args["prior"], args["num_clusters"], args["num_clusters"])
  solve(tf.constant(x[:1]), tf.constant(zcs[:1]), tf.constant(start[0, :1]))[1].numpy()  # trace
  t0 = time.perf_counter()
  for i in range(pairs):
    k = i % args["num_clusters"]
    solve(tf.constant(x[i:i + 1]), tf.constant(zcs[k:k + 1]), tf.constant(start[i, k:k + 1]))[1].numpy()
  return (time.perf_counter() - t0) / pairs
