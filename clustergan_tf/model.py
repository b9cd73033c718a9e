"""The ClusterGAN keras.Model: G, D, E and one training step of Algorithm "n_critic critic updates, one G+E update".

`train_step` works under `fit` and under `strategy.run` alike. Its input is a
super-batch x [b * n_critic, *data_shape] (b = per-replica batch): row i*n_critic + j
feeds critic update j, so every critic update sees fresh real data and N replicas
see exactly the rows one replica would. Noise is stateless, keyed by
(seed, generator step, update index), drawn for the global batch and sliced per
replica: N replicas and one replica train identically.
"""

import contextlib
import math

import keras
import tensorflow as tf

from clustergan_tf import augment, losses, networks, optimizers, prior, seeds
from clustergan_tf import data as data_lib
from clustergan_tf.errors import UsageError

# What train_step logs. "wasserstein" is mean D(x) - D(G(z)) under every loss: the critic's W-distance estimate
# under WGAN-GP, its logit gap between real and generated rows under --loss=gan/hinge (it grows as D sharpens).
LOG_KEYS = ("d_loss", "wasserstein", "gradient_penalty", "r1_penalty", "g_adv_loss", "zn_loss", "zc_loss", "g_loss",
            "real_loss", "real_cluster_entropy", "zn_steepness_var")


class ClusterGAN(keras.Model):
  """Holds generator, discriminator (critic) and encoder; `call(x)` runs the encoder."""

  def __init__(self, generator, discriminator, encoder, *, latent_dim, num_clusters, sigma=0.1,
               beta_n=10.0, beta_c=10.0, n_critic=5, loss="wgan-gp", gp_weight=10.0, seed=0, prior="onehot",
               use_encoder=True, r1_weight=0.0, r1_every=16, ema_decay=0.0, augment_shift=0.0,
               augment_rotate=0.0, augment_shear=0.0, augment_colour=0.0, real_weights=(0.0, 1.0, 0.1, 1.0),
               learned_shares=False,
               zn_smoothness_weight=0.0, row_image=None,
               **kwargs):
    super().__init__(**kwargs)
    if loss not in losses.LOSS_TYPES:
      raise ValueError(f"loss must be one of {losses.LOSS_TYPES}, got {loss!r}")
    self.generator, self.discriminator, self.encoder = generator, discriminator, encoder
    self.latent_dim, self.num_clusters, self.sigma = latent_dim, num_clusters, sigma
    self.prior, self.use_encoder = prior, use_encoder
    # No encoder: a plain GAN without cycle losses. `build` zeroes beta_c where z_c carries no cluster.
    self.beta_n = beta_n if use_encoder else 0.0
    self.beta_c = beta_c if use_encoder else 0.0
    self.n_critic, self.loss_type, self.gp_weight = n_critic, loss, gp_weight
    self.r1_weight, self.r1_every = r1_weight, r1_every
    self.augment = (augment_shift, augment_rotate, augment_shear, augment_colour)
    self.row_image = tuple(row_image) if row_image else None  # vector rows as (H, W, C) images for --augment_*
    self.zn_smoothness_weight = zn_smoothness_weight
    # (real_data_weight, balance, confidence, consistency): E's terms on real data, beyond the paper.
    self.real_weights = real_weights if use_encoder else (0.0,) + tuple(real_weights[1:])
    self.seed = seed
    self.ema_decay = ema_decay
    # Cluster proportions of the prior: uniform (the paper's) unless learned (re-estimated by the training loop).
    self.learned_shares = learned_shares
    self.shares = tf.Variable(tf.fill([num_clusters], 1.0 / num_clusters), trainable=False, name="prior_shares",
                              aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    # Shadow weights of G and E (ONLY_FIRST_REPLICA: every replica holds the same values).
    self.ema_weights = [tf.Variable(tf.convert_to_tensor(v), trainable=False, name=f"ema_{i}",
                                    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
                        for i, v in enumerate(self._averaged)] if ema_decay else []

  def learned_share_values(self):
    """The prior's learned cluster shares [K] (numpy), or None when they are uniform (the paper's)."""
    return self.shares.numpy() if self.learned_shares else None

  @property
  def _averaged(self):
    """The weights that the moving average follows: all of G's and E's (BatchNorm statistics included)."""
    return self.generator.weights + (self.encoder.weights if self.use_encoder else [])

  def call(self, x, training=False):
    return self.encoder(x, training=training)

  def compile(self, g_optimizer, d_optimizer, **kwargs):
    """g_optimizer updates G and E together (as in the paper); d_optimizer updates D."""
    super().compile(optimizer=None, **kwargs)
    self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
    # Build the slots now, in the strategy's scope: slots first created inside `fit`'s tf.cond fail to build.
    g_optimizer.build(self.g_variables)
    d_optimizer.build(self.discriminator.trainable_variables)

  @property
  def g_variables(self):
    """What the generator step trains: G and E (G alone for a plain GAN)."""
    return self.generator.trainable_variables + (self.encoder.trainable_variables if self.use_encoder else [])

  @property
  def active_log_keys(self):
    """The LOG_KEYS of terms this model's settings use; the others are logged as zeros."""
    unused = {"gradient_penalty": self.loss_type != "wgan-gp", "r1_penalty": not self.r1_weight,
              "zn_loss": not self.use_encoder, "zc_loss": not self.use_encoder,
              "real_loss": not self.real_weights[0], "real_cluster_entropy": not self.real_weights[0],
              "zn_steepness_var": not self.zn_smoothness_weight}
    return tuple(k for k in LOG_KEYS if not unused.get(k))

  @property
  def step(self):
    """Generator steps taken so far (the G+E optimizer's iteration counter, checkpointed with it)."""
    return self.g_optimizer.iterations

  @contextlib.contextmanager
  def averaged_weights(self):
    """Within the block G and E hold their moving averages (no-op without --ema_decay); restored after."""
    if not self.ema_weights:
      yield
      return
    live = [v.numpy() for v in self._averaged]
    self.use_averaged_weights()
    try:
      yield
    finally:
      for v, w in zip(self._averaged, live):
        v.assign(w)

  def use_averaged_weights(self):
    """Copies the moving averages into G and E for good (inference and export)."""
    for v, a in zip(self._averaged, self.ema_weights):
      v.assign(tf.convert_to_tensor(a))

  # -- noise -----------------------------------------------------------------------------------
  def _seed(self, index):
    """Stateless seed [2] for update `index` (0..n_critic) of the current generator step."""
    counter = tf.cast(self.step, tf.int64) * (self.n_critic + 1) + index
    return tf.stack([tf.constant(self.seed, tf.int64), counter])

  def _replica_rows(self, t, per_replica):
    """Rows of a global-batch tensor that belong to this replica."""
    ctx = tf.distribute.get_replica_context()
    rid = ctx.replica_id_in_sync_group if ctx is not None else 0
    return t[rid * per_replica:(rid + 1) * per_replica]

  def _prior(self, per_replica, global_batch, index):
    zn, zc, k = prior.sample(global_batch, self.latent_dim, self.num_clusters, self.sigma, self._seed(index),
                             self.prior, self.shares if self.learned_shares else None)
    return [self._replica_rows(t, per_replica) for t in (zn, zc, k)]

  def _move(self, x, per_replica, global_batch, index, stream):
    """x [b, ...] moved at random, keyed like the prior: images by --augment_shift/--augment_rotate/--augment_shear
    (2 px and 10 degrees when all are 0, for the real-data consistency term), vectors that are flattened images
    (row_image) by the same --augment_* moves when they are on, other vectors by noise of std 0.05."""
    seed = seeds.fold(self._seed(index), stream)
    if len(x.shape) == 4 or (self.row_image and any(self.augment)):
      shift, degrees, shear, colour = self.augment if any(self.augment) else (2.0, 10.0, 0.0, 0.0)  # real-data default
      maps = augment.random_affine(global_batch, shift, degrees, seed, shear)
      images = x if len(x.shape) == 4 else tf.reshape(x, [-1, *self.row_image])
      moved = augment.warp(images, self._replica_rows(maps, per_replica))
      if colour:  # its own stream: the geometric moves stay those drawn without it
        moved = augment.random_colour(moved, colour, tf.random.experimental.stateless_fold_in(seed, 4))
      return tf.reshape(moved, tf.shape(x))
    noise = self._replica_rows(tf.random.stateless_normal([global_batch, x.shape[-1]], seed), per_replica)
    return x + 0.05 * tf.cast(noise, x.dtype)

  # -- one step --------------------------------------------------------------------------------
  def _critic_outputs(self, x_real, x_fake, eps):
    """(D(x_real) [b, 1], D(x_fake) [b, 1], gradient penalty [b]); real and fake rows in one forward pass
    (a BatchNorm critic takes its statistics per half, as two passes would). The interpolates get a pass of
    their own: inside a joint pass the penalty's double backprop would run over all 3b rows (measured: 216
    vs 149 GFLOP per paper step)."""
    d = lambda t: self.discriminator(t, training=True)  # noqa: E731
    b = tf.shape(x_real)[0]
    with networks.batch_groups(2):
      out = d(tf.concat([x_real, x_fake], 0))
    d_real, d_fake = out[:b], out[b:]
    if self.loss_type != "wgan-gp":
      return d_real, d_fake, tf.zeros([b])
    return d_real, d_fake, losses.gradient_penalty(d, losses.interpolate(x_real, x_fake, eps))

  def _r1(self, x_real):
    """Lazy R1 per example [b]: gamma/2 * interval * ||grad D(x_real)||^2 on every interval-th critic
    update (counted by the critic's optimizer), zeros otherwise."""
    b = tf.shape(x_real)[0]
    if not self.r1_weight:
      return tf.zeros([b])
    due = tf.equal(self.d_optimizer.iterations % self.r1_every, 0)
    scale = 0.5 * self.r1_weight * self.r1_every
    return tf.cond(due, lambda: scale * losses.r1_penalty(lambda t: self.discriminator(t, training=True), x_real),
                   lambda: tf.zeros([b]))

  def _critic_update(self, x_real, b, global_batch, j, average):
    zn, zc, _ = self._prior(b, global_batch, j)
    eps_seed = seeds.fold(self._seed(j), seeds.STEP_INTERPOLATION)
    eps = self._replica_rows(tf.random.stateless_uniform([global_batch], eps_seed), b)
    with tf.GradientTape() as tape:
      x_fake = self.generator([zn, zc], training=True)
      d_real, d_gen, gp = self._critic_outputs(x_real, x_fake, eps)
      d_per_ex = losses.critic_loss(d_real, d_gen, self.loss_type)
      r1 = self._r1(x_real)
      d_loss = average(d_per_ex + self.gp_weight * gp + r1)
    grads = tape.gradient(d_loss, self.discriminator.trainable_variables)
    self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables))
    return {"d_loss": d_per_ex + self.gp_weight * gp, "wasserstein": _flat(d_real) - _flat(d_gen),
            "gradient_penalty": gp, "r1_penalty": r1}

  def _cycle_losses(self, x_fake, zn, k, b, global_batch):
    """(zn loss [b], zc loss [b]) of E on G's output; z_c is recovered from a moved copy of G(z)
    when augmentation is on (the z_n loss always from G(z) itself). One encoder pass."""
    if not any(self.augment):
      enc = self.encoder(x_fake, training=True)
      return losses.zn_cycle_loss(zn, enc["zn"]), losses.zc_cycle_loss(k, enc["zc_logits"])
    moved = self._move(x_fake, b, global_batch, self.n_critic, seeds.STEP_CYCLE_MOVE)
    enc = self.encoder(tf.concat([x_fake, moved], 0), training=True)
    return losses.zn_cycle_loss(zn, enc["zn"][:b]), losses.zc_cycle_loss(k, enc["zc_logits"][b:])

  def _generate(self, zn, zc, b, global_batch):
    """(G(z) [b, ...], steepness penalty [b]). With --zn_smoothness_weight, G also draws each z_n moved by
    sigma/2 in a random direction (one pass over 2b rows) and the penalty is (s_i - mean s)^2 of the
    steepness s along z_n, the mean over the global batch: its sum over the batch is the variance of s."""
    if not self.zn_smoothness_weight:
      x = self.generator([zn, zc], training=True)
      return x, tf.zeros([b])
    seed = seeds.fold(self._seed(self.n_critic), seeds.STEP_SMOOTHNESS)
    u = self._replica_rows(tf.math.l2_normalize(tf.random.stateless_normal([global_batch, self.latent_dim], seed),
                                                1), b)
    step = 0.5 * self.sigma
    out = self.generator([tf.concat([zn, zn + step * u], 0), tf.concat([zc, zc], 0)], training=True)
    s = losses.steepness(out[:b], out[b:], step)
    return out[:b], tf.square(s - _global_mean(s, global_batch))

  def _real_data_loss(self, x_real, b, global_batch):
    """E's terms on real data (beyond the paper):
    L = consistency * CE(p(x), p(moved x)) + confidence * H(p(x)) + balance * KL(mean_x p(x) || shares),
    p = softmax(E_c), the batch mean of p over the global batch (all replicas). With uniform shares the KL
    is -H(mean_x p(x)) + log K, written as -H (the constant left out); learned shares are its target marginal.
    Returns (w * L scaled for summing over replicas, L of this replica, H(mean_x p(x)))."""
    weight, balance, confidence, consistency = self.real_weights
    moved = self._move(x_real, b, global_batch, self.n_critic, seeds.STEP_REAL_MOVE)
    logits = self.encoder(tf.concat([x_real, moved], 0), training=True)["zc_logits"]
    p = tf.nn.softmax(logits[:b])
    per_ex = confidence * losses.entropy(p) + consistency * losses.cross_entropy(tf.stop_gradient(p), logits[b:])
    ctx = tf.distribute.get_replica_context()
    replicas = ctx.num_replicas_in_sync if ctx is not None else 1
    mean_p = _global_mean(p, global_batch)
    # Every replica computes the same batch-level term; gradients are summed over replicas.
    h_mean = losses.entropy(mean_p)
    divergence = -h_mean
    if self.learned_shares:
      divergence -= tf.reduce_sum(mean_p * tf.math.log(tf.cast(self.shares, mean_p.dtype)))
    loss = tf.nn.compute_average_loss(per_ex, global_batch_size=global_batch) + balance * divergence / replicas
    return weight * loss, tf.reduce_mean(per_ex) + balance * divergence, h_mean

  def _update_averages(self):
    """EMA of G and E after a G+E update; the decay warms up as min(d, (1 + t) / (10 + t))."""
    t = tf.cast(self.step, tf.float32)
    decay = tf.minimum(self.ema_decay, (1.0 + t) / (10.0 + t))
    for a, v in zip(self.ema_weights, self._averaged):
      # a <- a - (1 - decay) (a - v) by one fused kernel; every replica holds the same a and v.
      tf.raw_ops.ResourceApplyGradientDescent(var=a.handle, alpha=1.0 - decay, delta=a - tf.cast(v, a.dtype))

  def train_step(self, data):
    x = data[0] if isinstance(data, (tuple, list)) else data
    n = self.n_critic
    ctx = tf.distribute.get_replica_context()
    replicas = ctx.num_replicas_in_sync if ctx is not None else 1
    b = tf.shape(x)[0] // n
    global_batch = b * replicas
    x = tf.reshape(x, tf.concat([[b, n], tf.shape(x)[1:]], 0))

    def average(per_example):
      return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)

    for j in range(n):
      d_logs = self._critic_update(x[:, j], b, global_batch, j, average)

    zn, zc, k = self._prior(b, global_batch, n)
    with tf.GradientTape() as tape:
      x_fake, steep = self._generate(zn, zc, b, global_batch)
      adv = losses.generator_adversarial_loss(self.discriminator(x_fake, training=True), self.loss_type)
      if self.use_encoder:
        zn_l, zc_l = self._cycle_losses(x_fake, zn, k, b, global_batch)
      else:
        zn_l = zc_l = tf.zeros_like(adv)
      g_per_ex = adv + self.beta_n * zn_l + self.beta_c * zc_l + self.zn_smoothness_weight * steep
      g_loss = average(g_per_ex)
      real_loss = real_entropy = tf.constant(0.0)
      if self.real_weights[0]:
        scaled, real_loss, real_entropy = self._real_data_loss(x[:, 0], b, global_batch)
        g_loss = g_loss + scaled
    variables = self.g_variables
    grads = tape.gradient(g_loss, variables)
    self.g_optimizer.apply_gradients(zip(grads, variables))
    if self.ema_weights:
      self._update_averages()

    mean = tf.reduce_mean  # logged values: true (unscaled) per-replica means
    logs = {k: mean(v) for k, v in d_logs.items()}  # of the last critic update
    logs.update({"g_adv_loss": mean(adv), "zn_loss": mean(zn_l), "zc_loss": mean(zc_l), "g_loss": mean(g_per_ex),
                 "real_loss": real_loss, "real_cluster_entropy": real_entropy,
                 "zn_steepness_var": mean(steep)})
    return logs


def _flat(t):
  return tf.reshape(t, [-1])


def _global_mean(values, global_batch):
  """Mean over the global batch (every replica's rows) of per-example values [b, ...] -> [...]."""
  total = tf.reduce_sum(values, 0)
  ctx = tf.distribute.get_replica_context()
  if ctx is not None:
    total = ctx.all_reduce("SUM", total)
  return total / tf.cast(global_batch, total.dtype)


def build(cfg, data_shape, bounded, strategy=None):
  """The compiled ClusterGAN of a Config: G, D, E and both optimizers, made in the strategy's scope
  (default: the current one). Initial weights are a function of cfg.seed; layers take cfg.precision.
  Vector rows that are flattened images (cfg.row_image, or data.ROW_IMAGES of cfg.dataset) are moved as images by
  --augment_*."""
  row_image = None if len(data_shape) == 3 else (cfg.row_image or data_lib.ROW_IMAGES.get(cfg.dataset))
  if row_image and math.prod(row_image) != math.prod(data_shape):
    raise UsageError(f"--row_image={','.join(map(str, row_image))} holds {math.prod(row_image)} values per row but "
                     f"the rows of {cfg.dataset} have {math.prod(data_shape)}: give H,W,C with H*W*C = "
                     f"{math.prod(data_shape)}, or leave --row_image out for plain vectors")
  if cfg.augments and len(data_shape) != 3 and not row_image:
    raise UsageError(f"--augment_shift={cfg.augment_shift:g} --augment_rotate={cfg.augment_rotate:g} "
                     f"--augment_shear={cfg.augment_shear:g} move images; {cfg.dataset} holds vectors of shape "
                     f"{tuple(data_shape)}: add --augment_shift=0 --augment_rotate=0 --augment_shear=0 (digits.flags "
                     "and mnist_cpu.flags set them for images), or, if each row is a flattened image, "
                     "--row_image=H,W,C")
  if cfg.precision == "auto":
    raise ValueError("precision 'auto' names no policy: resolve it first (hardware.resolve)")
  keras.utils.set_random_seed(cfg.seed)
  keras.mixed_precision.set_global_policy(cfg.precision)  # layers keep the policy they were built with
  try:
    with (strategy or tf.distribute.get_strategy()).scope():
      model = _assemble(cfg, data_shape, bounded, row_image)
      model.compile(*make_optimizers(cfg))
  finally:
    keras.mixed_precision.set_global_policy("float32")
  return model


def _assemble(cfg, data_shape, bounded, row_image=None):
  """G, D, E and the ClusterGAN model around them (uncompiled)."""
  out = "sigmoid" if bounded else "linear"
  g = networks.build_generator(data_shape, cfg.latent_dim, cfg.num_clusters, cfg.hidden_units, out,
                               cfg.mlp_batchnorm, cfg.linear_generator, cfg.net_width)
  d = networks.build_discriminator(data_shape, cfg.hidden_units, cfg.critic_norm, cfg.net_width)
  e = networks.build_encoder(data_shape, cfg.latent_dim, cfg.num_clusters, cfg.hidden_units, cfg.net_width)
  return ClusterGAN(g, d, e, latent_dim=cfg.latent_dim, num_clusters=cfg.num_clusters, sigma=cfg.sigma,
                    beta_n=cfg.beta_n, beta_c=cfg.beta_c if cfg.has_cluster_readout else 0.0,
                    n_critic=cfg.n_critic, loss=cfg.loss, gp_weight=cfg.gp_weight, seed=cfg.seed, prior=cfg.prior,
                    use_encoder=cfg.use_encoder, r1_weight=cfg.r1_weight, r1_every=cfg.r1_every,
                    ema_decay=cfg.ema_decay, augment_shift=cfg.augment_shift, augment_rotate=cfg.augment_rotate,
                    augment_shear=cfg.augment_shear, augment_colour=cfg.augment_colour,
                    real_weights=(cfg.real_data_weight, cfg.real_balance_weight, cfg.real_confidence_weight,
                                  cfg.real_consistency_weight), learned_shares=cfg.cluster_shares == "learned",
                    zn_smoothness_weight=cfg.zn_smoothness_weight, row_image=row_image)


def make_optimizers(cfg):
  """Adam for G+E and for D (the paper: lr 1e-4, beta1 0.5, beta2 0.9), each update one fused kernel."""
  g = optimizers.FusedAdam(cfg.learning_rate, beta_1=cfg.adam_beta1, beta_2=cfg.adam_beta2, name="g_adam")
  d = optimizers.FusedAdam(cfg.critic_learning_rate, beta_1=cfg.adam_beta1, beta_2=cfg.adam_beta2, name="d_adam")
  return g, d
