"""Pictures of the clusters: a K-row sample grid, real vs G(E(x)), and cross-cluster interpolation.

Every function returns one float32 image [H, W, 1] in [0, 1] (tiles of the data drawn as
images), or None when the data cannot be drawn (vectors whose size is not a square).
"""

import sys

if __name__ == "__main__":  # a library, not a command: name the commands that draw, before TensorFlow's start-up
  print("error: clustergan_tf.visualize is the library the commands draw with: training and `python -m "
        "clustergan_tf.evaluate --model_dir=DIR` write the pictures to DIR/images/, `python -m "
        "clustergan_tf.experiments --experiment=interpolation --model_dir=DIR` an interpolation", file=sys.stderr)
  from clustergan_tf.errors import EXIT_USAGE  # no TensorFlow there
  sys.exit(EXIT_USAGE)

import math  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from clustergan_tf import prior, seeds  # noqa: E402


def image_shape(data_shape):
  """(H, W, C) to draw samples of data_shape, or None: images as they are, square vectors (8x8 digits) reshaped."""
  if len(data_shape) == 3:
    return tuple(data_shape)
  side = int(round(math.sqrt(data_shape[0])))
  return (side, side, 1) if side * side == data_shape[0] else None


def as_images(x, data_shape):
  """x [N, *data_shape] -> [N, H, W, C] scaled to [0, 1] (min-max over the batch if outside it)."""
  shape = image_shape(data_shape)
  x = np.asarray(x, np.float32).reshape((len(x),) + shape)
  lo, hi = x.min(), x.max()
  if lo < 0 or hi > 1:
    x = (x - lo) / max(hi - lo, 1e-8)
  factor = max(1, 28 // shape[0])  # 8x8 digits are drawn 3x larger (nearest neighbour)
  return np.clip(x, 0.0, 1.0).repeat(factor, axis=1).repeat(factor, axis=2)


def tile(images, rows, cols, pad=1):
  """[rows * cols, H, W, C] -> one image [rows * (H + pad), cols * (W + pad), C] (row-major)."""
  n, h, w, c = images.shape
  canvas = np.ones((rows * (h + pad), cols * (w + pad), c), np.float32)
  for i in range(min(n, rows * cols)):
    r, q = divmod(i, cols)
    canvas[r * (h + pad):r * (h + pad) + h, q * (w + pad):q * (w + pad) + w] = images[i]
  return canvas


def sample_grid(generator, data_shape, latent_dim, num_clusters, sigma, cols=10, seed=0):
  """Row k: G(z_n^j, e_k) for j < cols, the same z_n^j in every row (a cluster per row)."""
  if image_shape(data_shape) is None:
    return None
  zn = sigma * tf.random.stateless_normal([cols, latent_dim], seeds.key(seed, seeds.SAMPLE_GRID))
  zn = tf.tile(zn, [num_clusters, 1])
  zc = tf.one_hot(tf.repeat(tf.range(num_clusters), cols), num_clusters)
  x = generator([zn, zc], training=False).numpy()
  return tile(as_images(x, data_shape), num_clusters, cols)


def prior_samples(generator, data_shape, latent_dim, num_clusters, sigma, kind, rows=10, cols=10, seed=0):
  """A rows x cols grid of G(z), z drawn from the prior `kind` (plain-GAN baselines have no cluster rows)."""
  if image_shape(data_shape) is None:
    return None
  zn, zc, _ = prior.sample(rows * cols, latent_dim, num_clusters, sigma, seeds.key(seed, seeds.PRIOR_SAMPLES), kind)
  x = generator([zn, zc], training=False).numpy()
  return tile(as_images(x, data_shape), rows, cols)


def reconstructions(generator, encoder, x, data_shape, cols=10):
  """Pairs of rows: real x, then G(E(x)) (z_c = softmax of E's logits) under it."""
  if image_shape(data_shape) is None:
    return None
  x = x[:2 * cols] if len(x) >= 2 * cols else x[:cols]
  out = encoder(x, training=False)
  x_hat = generator([out["zn"], tf.nn.softmax(out["zc_logits"])], training=False).numpy()
  rows = []
  for i in range(0, len(x), cols):
    rows += [x[i:i + cols], x_hat[i:i + cols]]
  both = np.concatenate(rows)
  return tile(as_images(both, data_shape), len(rows), cols)


def interpolation(generator, data_shape, latent_dim, num_clusters, sigma, k_from=0, k_to=1, steps=10, rows=3,
                  seed=0):
  """Each row: G(z_n, (1 - t) e_a + t e_b) for t = 0..1, one z_n per row."""
  if image_shape(data_shape) is None:
    return None
  zc = prior.interpolate(k_from, k_to, steps, num_clusters)
  zc = tf.tile(zc, [rows, 1])
  zn = sigma * tf.random.stateless_normal([rows, latent_dim], seeds.key(seed, seeds.INTERPOLATION))
  zn = tf.repeat(zn, steps, axis=0)
  x = generator([zn, zc], training=False).numpy()
  return tile(as_images(x, data_shape), rows, steps)


def write_png(image, path):
  """Writes an image [H, W, C] in [0, 1] as PNG (tf.io.encode_png)."""
  png = tf.io.encode_png(tf.cast(tf.round(tf.clip_by_value(image, 0.0, 1.0) * 255.0), tf.uint8))
  tf.io.write_file(path, png)
