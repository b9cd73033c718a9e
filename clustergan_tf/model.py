"""The ClusterGAN keras.Model: G, D, E and one training step of Algorithm "n_critic critic updates, one G+E update".

`train_step` works under `fit` and under `strategy.run` alike. Its input is a
super-batch x [b * n_critic, *data_shape] (b = per-replica batch): row i*n_critic + j
feeds critic update j, so every critic update sees fresh real data and N replicas
see exactly the rows one replica would. Noise is stateless, keyed by
(seed, generator step, update index), drawn for the global batch and sliced per
replica: N replicas and one replica train identically.
"""

import keras
import tensorflow as tf

from clustergan_tf import losses, prior

LOG_KEYS = ("d_loss", "wasserstein", "gradient_penalty", "g_adv_loss", "zn_loss", "zc_loss", "g_loss")


class ClusterGAN(keras.Model):
  """Holds generator, discriminator (critic) and encoder; `call(x)` runs the encoder."""

  def __init__(self, generator, discriminator, encoder, *, latent_dim, num_clusters, sigma=0.1,
               beta_n=10.0, beta_c=10.0, n_critic=5, loss="wgan-gp", gp_weight=10.0, seed=0, prior="onehot",
               use_encoder=True, **kwargs):
    super().__init__(**kwargs)
    if loss not in losses.LOSS_TYPES:
      raise ValueError(f"loss must be one of {losses.LOSS_TYPES}, got {loss!r}")
    self.generator, self.discriminator, self.encoder = generator, discriminator, encoder
    self.latent_dim, self.num_clusters, self.sigma = latent_dim, num_clusters, sigma
    self.prior, self.use_encoder = prior, use_encoder
    # No encoder: a plain GAN. Gaussian and uniform priors have no cluster for E to recover.
    self.beta_n = beta_n if use_encoder else 0.0
    self.beta_c = beta_c if use_encoder and prior in ("onehot", "gmm") else 0.0
    self.n_critic, self.loss_type, self.gp_weight = n_critic, loss, gp_weight
    self.seed = seed

  def call(self, x, training=False):
    return self.encoder(x, training=training)

  def compile(self, g_optimizer, d_optimizer, **kwargs):
    """g_optimizer updates G and E together (as in the paper); d_optimizer updates D."""
    super().compile(optimizer=None, **kwargs)
    self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
    # Build the slots now, in the strategy's scope (see TF_NOTES: else fit fails in a cond).
    g_optimizer.build(self.g_variables)
    d_optimizer.build(self.discriminator.trainable_variables)

  @property
  def g_variables(self):
    """What the generator step trains: G and E (G alone for a plain GAN)."""
    return self.generator.trainable_variables + (self.encoder.trainable_variables if self.use_encoder else [])

  @property
  def step(self):
    """Generator steps taken so far (the G+E optimizer's iteration counter, checkpointed with it)."""
    return self.g_optimizer.iterations

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
                             self.prior)
    return [self._replica_rows(t, per_replica) for t in (zn, zc, k)]

  # -- one step --------------------------------------------------------------------------------
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
      x_real = x[:, j]
      zn, zc, _ = self._prior(b, global_batch, j)
      eps_seed = tf.random.experimental.stateless_fold_in(self._seed(j), 1)
      eps = self._replica_rows(tf.random.stateless_uniform([global_batch], eps_seed), b)
      with tf.GradientTape() as tape:
        x_fake = self.generator([zn, zc], training=True)
        d_real = self.discriminator(x_real, training=True)
        d_gen = self.discriminator(x_fake, training=True)
        d_per_ex = losses.critic_loss(d_real, d_gen, self.loss_type)
        if self.loss_type == "wgan-gp":
          x_hat = losses.interpolate(x_real, x_fake, eps)
          gp = losses.gradient_penalty(lambda t: self.discriminator(t, training=True), x_hat)
        else:
          gp = tf.zeros_like(d_per_ex)
        d_loss = average(d_per_ex + self.gp_weight * gp)
      grads = tape.gradient(d_loss, self.discriminator.trainable_variables)
      self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables))

    zn, zc, k = self._prior(b, global_batch, n)
    with tf.GradientTape() as tape:
      x_fake = self.generator([zn, zc], training=True)
      d_fake = self.discriminator(x_fake, training=True)
      adv = losses.generator_adversarial_loss(d_fake, self.loss_type)
      if self.use_encoder:
        enc = self.encoder(x_fake, training=True)
        zn_l = losses.zn_cycle_loss(zn, enc["zn"])
        zc_l = losses.zc_cycle_loss(k, enc["zc_logits"])
      else:
        zn_l = zc_l = tf.zeros_like(adv)
      g_per_ex = adv + self.beta_n * zn_l + self.beta_c * zc_l
      g_loss = average(g_per_ex)
    variables = self.g_variables
    grads = tape.gradient(g_loss, variables)
    self.g_optimizer.apply_gradients(zip(grads, variables))

    mean = tf.reduce_mean  # logged values: true (unscaled) per-replica means
    return {"d_loss": mean(d_per_ex + self.gp_weight * gp),
            "wasserstein": mean(d_real) - mean(d_gen),  # critic's gap: the W-distance estimate under wgan-gp
            "gradient_penalty": mean(gp), "g_adv_loss": mean(adv), "zn_loss": mean(zn_l),
            "zc_loss": mean(zc_l), "g_loss": mean(g_per_ex)}


def build(cfg, data_shape, bounded):
  """Builds G, D, E and the ClusterGAN model from a Config (call inside strategy.scope())."""
  from clustergan_tf import networks
  out = "sigmoid" if bounded else "linear"
  g = networks.build_generator(data_shape, cfg.latent_dim, cfg.num_clusters, cfg.hidden_units, out,
                               cfg.mlp_batchnorm, cfg.linear_generator)
  d = networks.build_discriminator(data_shape, cfg.hidden_units, cfg.critic_norm)
  e = networks.build_encoder(data_shape, cfg.latent_dim, cfg.num_clusters, cfg.hidden_units)
  return ClusterGAN(g, d, e, latent_dim=cfg.latent_dim, num_clusters=cfg.num_clusters, sigma=cfg.sigma,
                    beta_n=cfg.beta_n, beta_c=cfg.beta_c, n_critic=cfg.n_critic, loss=cfg.loss,
                    gp_weight=cfg.gp_weight, seed=cfg.seed, prior=cfg.prior, use_encoder=cfg.use_encoder)


def make_optimizers(cfg):
  """Adam for G+E and for D (the paper: lr 1e-4, beta1 0.5, beta2 0.9)."""
  g = keras.optimizers.Adam(cfg.learning_rate, beta_1=cfg.adam_beta1, beta_2=cfg.adam_beta2, name="g_adam")
  d = keras.optimizers.Adam(cfg.critic_learning_rate, beta_1=cfg.adam_beta1, beta_2=cfg.adam_beta2, name="d_adam")
  return g, d
