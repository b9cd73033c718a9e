"""ClusterGAN's losses as pure per-example functions ([B] tensors).

Per-example values let the model reduce with the *global* batch size
(`tf.nn.compute_average_loss`), which keeps gradients right under any number of
replicas. Sign conventions: every function returns a value to be *minimised*.
"""

import tensorflow as tf

LOSS_TYPES = ("wgan-gp", "gan", "hinge")


def _flat(t):
  """[B, ...] or [B] -> [B]."""
  return tf.reshape(t, [tf.shape(t)[0]])


def critic_loss(d_real, d_fake, loss_type="wgan-gp"):
  """Critic/discriminator loss per example, without the gradient penalty.

  wgan-gp: D(G(z)) - D(x)   (its negative batch mean estimates the Wasserstein distance)
  gan:     softplus(-D(x)) + softplus(D(G(z)))   (= -log sigmoid(D(x)) - log(1 - sigmoid(D(G(z)))))
  hinge:   relu(1 - D(x)) + relu(1 + D(G(z)))   (SAGAN / BigGAN, usually with spectral norm in D)
  d_real, d_fake: [B] or [B, 1] critic outputs (logits).
  """
  d_real, d_fake = _flat(d_real), _flat(d_fake)
  if loss_type == "wgan-gp":
    return d_fake - d_real
  if loss_type == "gan":
    return tf.nn.softplus(-d_real) + tf.nn.softplus(d_fake)
  if loss_type == "hinge":
    return tf.nn.relu(1.0 - d_real) + tf.nn.relu(1.0 + d_fake)
  raise ValueError(f"unknown loss_type {loss_type!r}; expected one of {LOSS_TYPES}")


def generator_adversarial_loss(d_fake, loss_type="wgan-gp"):
  """Generator's adversarial loss per example: -D(G(z)) (wgan-gp, hinge) or softplus(-D(G(z))) (non-saturating gan)."""
  d_fake = _flat(d_fake)
  if loss_type in ("wgan-gp", "hinge"):
    return -d_fake
  if loss_type == "gan":
    return tf.nn.softplus(-d_fake)
  raise ValueError(f"unknown loss_type {loss_type!r}; expected one of {LOSS_TYPES}")


def interpolate(x_real, x_fake, eps):
  """x_hat = eps * x_real + (1 - eps) * x_fake with one eps per sample (eps: [B])."""
  eps = tf.reshape(eps, [-1] + [1] * (len(x_real.shape) - 1))
  return eps * x_real + (1.0 - eps) * x_fake


def gradient_penalty(critic, x_hat):
  """WGAN-GP penalty per example: (||grad_x D(x_hat)||_2 - 1)^2, the norm over all non-batch axes.

  critic: callable x -> [B, 1]. x_hat: [B, ...] interpolates (one coefficient per sample).
  Returns [B].
  """
  with tf.GradientTape() as tape:
    tape.watch(x_hat)
    d = critic(x_hat)
  grads = tape.gradient(d, x_hat)
  norms = tf.sqrt(tf.reduce_sum(tf.square(tf.reshape(grads, [tf.shape(grads)[0], -1])), axis=1) + 1e-12)
  return tf.square(norms - 1.0)


def r1_penalty(critic, x_real):
  """R1 penalty per example (Mescheder et al. 2018): ||grad_x D(x)||^2 on real data, [B, ...] -> [B].
  The caller multiplies by gamma / 2 (and by the interval when applied lazily)."""
  with tf.GradientTape() as tape:
    tape.watch(x_real)
    d = critic(x_real)
  grads = tape.gradient(d, x_real)
  return tf.reduce_sum(tf.square(tf.reshape(grads, [tf.shape(grads)[0], -1])), axis=1)


def steepness(x, x_near, step):
  """How fast G's output moves along z_n, per example [B]: the root-mean-square change of x [B, ...] to
  x_near = G(z_c, z_n + step * u) (u a unit vector), divided by `step` (a finite-difference ||J u|| / sqrt(D))."""
  d = tf.reshape(tf.cast(x_near, tf.float32) - tf.cast(x, tf.float32), [tf.shape(x)[0], -1])
  return tf.sqrt(tf.reduce_mean(tf.square(d), 1) + 1e-12) / step


def zn_cycle_loss(zn, zn_hat):
  """beta_n term per example: mean over dimensions of (z_n - E_n(G(z)))^2 (the authors' MSE). [B, d] -> [B]."""
  return tf.reduce_mean(tf.square(zn - zn_hat), axis=-1)


def zc_cycle_loss(k, zc_logits):
  """beta_c term per example: cross-entropy of the true cluster k [B] under softmax(zc_logits [B, K]). -> [B]."""
  return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(k, tf.int32), logits=zc_logits)


def entropy(p, axis=-1):
  """Shannon entropy (nats) of probability vectors p along axis: [..., K] -> [...]."""
  return -tf.reduce_sum(p * tf.math.log(tf.maximum(p, 1e-12)), axis=axis)


def cross_entropy(target, logits):
  """Per-example cross-entropy of soft targets [B, K] under softmax(logits [B, K]) -> [B]."""
  return -tf.reduce_sum(target * tf.nn.log_softmax(logits), axis=-1)
