"""Generator G, critic D and encoder E: the paper's conv nets for images [H, W, C], MLPs for vectors.

Images of 28x28 get exactly the paper's networks (two 4x4 stride-2 layers, 7x7 at the bottom); larger ones one
more stride-2 layer per halving while a side exceeds 8 (`conv_stages`), with twice the channels each.

Every model is a functional `keras.Model` built from named `keras.Input`s, so the
names reach SavedModel signatures. Weights are initialised N(0, 0.02) as in the
authors' code. G's BatchNorm layers are `synchronized` (statistics all-reduced over
replicas, so N replicas train like one) and keep moving statistics for inference.
"""

import contextlib
import math
import threading

import keras
import numpy as np
import tensorflow as tf
from keras import layers

MAX_BOTTOM_SIDE = 8  # the image networks halve the sides until both are at most this or one turns odd (100 -> 25)


def _init():
  return keras.initializers.RandomNormal(stddev=0.02)


def _dense(units, name):
  return layers.Dense(units, kernel_initializer=_init(), name=name)


def _bn(name, cls=layers.BatchNormalization):
  return cls(momentum=0.9, epsilon=1e-5, synchronized=True, name=name)


_batch_groups = threading.local()  # per thread: MirroredStrategy traces each replica in a thread of its own


class GroupedBatchNorm(layers.BatchNormalization):
  """Synchronized BatchNorm whose training statistics are taken per group of rows: inside
  `batch_groups(G)` a batch [G*b, ...] is normalised as G batches of b, one after another, so one critic
  pass over concat([real, fake]) equals two passes (moving statistics updated group by group, in order)."""

  def call(self, inputs, training=None, mask=None):
    groups = getattr(_batch_groups, "n", 1)
    if groups == 1 or not (training and self.trainable) or mask is not None:
      return super().call(inputs, training=training, mask=mask)
    x = tf.cast(inputs, "float32")  # statistics in float32, as Keras does for bfloat16 inputs
    x = tf.reshape(x, tf.concat([[groups, -1], tf.shape(x)[1:]], 0))  # [G, b, ..., C]
    axes = list(range(1, len(x.shape) - 1))
    total = tf.stack([tf.reduce_sum(x, axes), tf.reduce_sum(tf.square(x), axes),
                      tf.reduce_sum(tf.ones_like(x), axes)])  # [3, G, C]
    ctx = tf.distribute.get_replica_context()
    if ctx is not None:  # all replicas' rows of each group, like the synchronized layer
      total = ctx.all_reduce(tf.distribute.ReduceOp.SUM, total)
    mean = tf.math.divide_no_nan(total[0], total[2])  # [G, C]
    variance = tf.maximum(tf.math.divide_no_nan(total[1], total[2]) - tf.square(mean), 0.0)
    for g in range(groups):
      self.moving_mean.assign(self.moving_mean * self.momentum + mean[g] * (1.0 - self.momentum))
      self.moving_variance.assign(self.moving_variance * self.momentum + variance[g] * (1.0 - self.momentum))
    shape = [groups] + [1] * len(axes) + [-1]
    out = tf.nn.batch_normalization(x, tf.reshape(mean, shape), tf.reshape(variance, shape),
                                    tf.cast(self.beta, "float32"), tf.cast(self.gamma, "float32"), self.epsilon)
    return tf.cast(tf.reshape(out, tf.shape(inputs)), self.compute_dtype)


@contextlib.contextmanager
def batch_groups(groups):
  """Within the block (this thread), GroupedBatchNorm layers take training statistics per group of rows;
  other layers are unaffected. Read when a tf.function traces the call."""
  previous = getattr(_batch_groups, "n", 1)
  _batch_groups.n = groups
  try:
    yield
  finally:
    _batch_groups.n = previous


def input_name(data_shape):
  """The name of the data input, also the serving signatures': `images` [B, H, W, C] or `features` [B, D]."""
  return "images" if len(data_shape) == 3 else "features"


def data_input(data_shape):
  """The named model input for data (see `input_name`)."""
  return keras.Input(shape=tuple(data_shape), name=input_name(data_shape))


def image_side_error(data_shape):
  """Why images of data_shape (H, W, C) cannot go through the conv networks, or None: each side must divide by 4."""
  h, w = data_shape[:2]
  if h % 4 or w % 4:
    crop = f"crop to {h - h % 4}x{w - w % 4} or " if min(h, w) >= 4 else ""
    return (f"the image networks halve each side at least twice, so H and W must be multiples of 4; got {h}x{w} "
            f"({crop}pad to {h + -h % 4}x{w + -w % 4})")
  return None


def conv_stages(data_shape):
  """The number of 4x4 stride-2 layers of the image networks for images (H, W, C): 2 (the paper's, 28 -> 7), plus
  one per further halving while a side exceeds MAX_BOTTOM_SIDE and both sides stay even; 0 for vectors."""
  if len(data_shape) != 3:
    return 0
  h, w = data_shape[:2]
  stages = 2
  while max(h, w) >> stages > MAX_BOTTOM_SIDE and h % (2 << stages) == 0 and w % (2 << stages) == 0:
    stages += 1
  return stages


def _stage_channels(stage, width):
  """Channels of D's and E's stride-2 layer number `stage` (1: the first): the paper's 64, 128, then doubling."""
  return _scaled(64 * 2 ** (stage - 1), width)


def _scaled(units, width):
  """A layer width of the paper's image networks times the width multiplier (at least 1)."""
  return max(1, int(round(units * width)))


def build_generator(data_shape, latent_dim, num_clusters, hidden_units=(256, 256),
                    output_activation="sigmoid", mlp_batchnorm=False, linear=False, width=1.0):
  """G: (zn [B, latent_dim], zc [B, K]) -> x [B, *data_shape].

  width scales the image network's hidden units and channels (1: the paper's 1024, 7x7x128, 64 for 28x28; see
  conv_stages for other sizes: G mirrors D).
  linear=True: G(z) = W z_n + A z_c + b, no hidden layer and no output activation (the
  paper's linear-generator lemma).
  """
  zn = keras.Input(shape=(latent_dim,), name="zn")
  zc = keras.Input(shape=(num_clusters,), name="zc")
  h = layers.Concatenate(name="z")([zn, zc])
  if linear:
    h = _dense(int(np.prod(data_shape)), "out")(h)
    output_activation = "linear"
    if len(data_shape) > 1:
      h = layers.Reshape(tuple(data_shape))(h)
  elif len(data_shape) == 3:
    stages = conv_stages(data_shape)
    bottom = (data_shape[0] >> stages, data_shape[1] >> stages, _stage_channels(stages, width))
    h = _dense(_scaled(1024, width), "fc1")(h)
    h = layers.ReLU()(_bn("bn1")(h))
    h = _dense(math.prod(bottom), "fc2")(h)
    h = layers.ReLU()(_bn("bn2")(h))
    h = layers.Reshape(bottom)(h)
    for i in range(1, stages):  # deconv1 .. deconv{stages-1}, each followed by bn{i+2}
      h = layers.Conv2DTranspose(_stage_channels(stages - i, width), 4, 2, padding="same", kernel_initializer=_init(),
                                 name=f"deconv{i}")(h)
      h = layers.ReLU()(_bn(f"bn{i + 2}")(h))
    h = layers.Conv2DTranspose(data_shape[2], 4, 2, padding="same", kernel_initializer=_init(),
                               name=f"deconv{stages}")(h)
  else:
    for i, units in enumerate(hidden_units):
      h = _dense(units, f"fc{i + 1}")(h)
      if mlp_batchnorm:
        h = _bn(f"bn{i + 1}")(h)
      h = layers.LeakyReLU(0.2)(h)
    h = _dense(int(data_shape[-1]), "out")(h)
    if len(data_shape) > 1:
      h = layers.Reshape(tuple(data_shape))(h)
  x = layers.Activation(output_activation, name="x", dtype="float32")(h)
  return keras.Model([zn, zc], x, name="generator")


NORMS = ("none", "batch", "layer", "spectral")


def _sn(layer, norm):
  """Wraps a weight layer in spectral normalisation when norm == "spectral". Keras 3's wrapper runs one
  power iteration per training call and writes W / sigma into the kernel in place: a projection
  after each update (no gradient through sigma), also on the G step's critic calls."""
  return layers.SpectralNormalization(layer, name=f"sn_{layer.name}") if norm == "spectral" else layer


def _norm(kind, name):
  """The critic's optional activation normalisation (identity for "none", the paper's, and "spectral")."""
  if kind == "batch":
    return _bn(name, GroupedBatchNorm)
  if kind == "layer":
    return layers.LayerNormalization(epsilon=1e-5, name=name)
  return layers.Identity(name=name)


def _body(x, data_shape, hidden_units, norm="none", width=1.0):
  """Shared trunk of D and E (LeakyReLU 0.2; normalised after every layer but the first when norm != none);
  width scales the image trunk's channels and hidden units (1: the paper's 64, 128, 1024; conv_stages for sizes
  other than 28x28)."""
  if len(data_shape) == 3:
    stages = conv_stages(data_shape)
    h = x
    for i in range(1, stages + 1):  # conv1 .. conv{stages}; norm{i} after every one but the first
      h = _sn(layers.Conv2D(_stage_channels(i, width), 4, 2, padding="same", kernel_initializer=_init(),
                            name=f"conv{i}"), norm)(h)
      h = layers.LeakyReLU(0.2)(_norm(norm, f"norm{i}")(h) if i > 1 else h)
    h = layers.Flatten()(h)
    h = layers.LeakyReLU(0.2)(_norm(norm, f"norm{stages + 1}")(_sn(_dense(_scaled(1024, width), "fc1"), norm)(h)))
    return h
  h = layers.Flatten()(x) if len(data_shape) > 1 else x
  for i, units in enumerate(hidden_units):
    h = _sn(_dense(units, f"fc{i + 1}"), norm)(h)
    h = layers.LeakyReLU(0.2)(_norm(norm, f"norm{i + 1}")(h) if i else h)
  return h


def build_discriminator(data_shape, hidden_units=(256, 256), norm="none", width=1.0):
  """D: x [B, *data_shape] -> logit [B, 1] (a WGAN critic value or a GAN logit).

  norm: "none" (the paper's), "batch" (DCGAN-style, with the non-saturating loss), "layer" or
  "spectral" (every weight layer spectrally normalised, with the hinge loss).
  """
  x = data_input(data_shape)
  out = layers.Activation("linear", dtype="float32", name="logit")(
      _sn(_dense(1, "out"), norm)(_body(x, data_shape, hidden_units, norm, width)))
  return keras.Model(x, out, name="discriminator")


def build_encoder(data_shape, latent_dim, num_clusters, hidden_units=(256, 256), width=1.0):
  """E: x [B, *data_shape] -> {"zn": [B, latent_dim], "zc_logits": [B, K]}."""
  x = data_input(data_shape)
  h = _body(x, data_shape, hidden_units, width=width)
  # The paper's single FC(latent_dim + K) layer, written as two heads (same function).
  zn = layers.Activation("linear", dtype="float32", name="zn")(_dense(latent_dim, "zn_dense")(h))
  zc_logits = layers.Activation("linear", dtype="float32", name="zc_logits")(
      _dense(num_clusters, "zc_dense")(h))
  return keras.Model(x, {"zn": zn, "zc_logits": zc_logits}, name="encoder")
