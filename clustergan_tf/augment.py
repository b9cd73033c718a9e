"""Random small shifts, rotations and shears of images, differentiable and XLA-compilable.

Used where E must recognise a cluster from a moved copy of an image: the z_c cycle loss
(`--augment_shift/--augment_rotate/--augment_shear`: E recovers z_c from a shifted, rotated or
slanted G(z), so a mode can only be told apart by what survives the move) and the real-data
consistency term.
Draws are stateless functions of a [2] seed, like all noise of a training step.
"""

import math

import tensorflow as tf


def random_affine(batch_size, max_shift, max_degrees, seed, max_shear=0.0):
  """Per-sample inverse maps [B, 2, 3] (output pixel (row, col, 1) -> source (row, col)) of a rotation
  by U(-max_degrees, max_degrees) about the image centre, a shift by U(-max_shift, max_shift) pixels and,
  with max_shear, a shear (slant) moving each row's source column by U(-max_shear, max_shear) x its row."""
  seed = tf.cast(seed, tf.int64)
  seeds = tf.random.experimental.stateless_split(seed, 2)
  angle = tf.random.stateless_uniform([batch_size], seeds[0], -1.0, 1.0) * (max_degrees * math.pi / 180.0)
  shift = tf.random.stateless_uniform([batch_size, 2], seeds[1], -1.0, 1.0) * float(max_shift)
  c, s = tf.cos(angle), tf.sin(angle)
  linear = tf.reshape(tf.stack([c, -s, s, c], axis=1), [batch_size, 2, 2])
  if max_shear:  # its own stream: the rotations and shifts stay those drawn without it
    shear_seed = tf.random.experimental.stateless_fold_in(seed, 3)
    k = tf.random.stateless_uniform([batch_size], shear_seed, -1.0, 1.0) * float(max_shear)
    ones, zeros = tf.ones_like(k), tf.zeros_like(k)
    linear = tf.matmul(linear, tf.reshape(tf.stack([ones, zeros, k, ones], axis=1), [batch_size, 2, 2]))
  return tf.concat([linear, shift[:, :, None]], axis=2)


def warp(images, maps):
  """Bilinear resampling of images [B, H, W, C] through maps [B, 2, 3] (coordinates about the image
  centre); pixels that come from outside the image are 0. Gradients flow to the images."""
  b, h, w, ch = tf.shape(images)[0], images.shape[1], images.shape[2], images.shape[3]
  rows, cols = tf.meshgrid(tf.range(h, dtype=tf.float32) - (h - 1) / 2.0,
                           tf.range(w, dtype=tf.float32) - (w - 1) / 2.0, indexing="ij")
  grid = tf.stack([tf.reshape(rows, [-1]), tf.reshape(cols, [-1]), tf.ones([h * w])], axis=0)  # [3, HW]
  src = tf.einsum("bij,jn->bin", tf.cast(maps, tf.float32), grid)  # [B, 2, HW]
  # +1: coordinates in the image padded by one zero pixel on every side; clipped onto that border.
  sr = tf.clip_by_value(src[:, 0] + (h - 1) / 2.0 + 1.0, 0.0, h + 1.0)
  sc = tf.clip_by_value(src[:, 1] + (w - 1) / 2.0 + 1.0, 0.0, w + 1.0)
  r0, c0 = tf.floor(sr), tf.floor(sc)
  fr, fc = sr - r0, sc - c0
  r0, c0 = tf.cast(r0, tf.int32), tf.cast(c0, tf.int32)
  r1, c1 = tf.minimum(r0 + 1, h + 1), tf.minimum(c0 + 1, w + 1)
  padded = tf.reshape(tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]]), [b, (h + 2) * (w + 2), ch])

  def at(r, c):
    return tf.gather(padded, r * (w + 2) + c, batch_dims=1)  # [B, HW, C]

  dtype = images.dtype
  fr, fc = tf.cast(fr[..., None], dtype), tf.cast(fc[..., None], dtype)
  out = ((1 - fr) * ((1 - fc) * at(r0, c0) + fc * at(r0, c1)) + fr * ((1 - fc) * at(r1, c0) + fc * at(r1, c1)))
  return tf.reshape(out, [b, h, w, ch])


def random_colour(images, strength, seed):
  """images [B, H, W, C] with each channel of each image given a random gain exp(U(-s, s)) and offset U(-s/2, s/2)
  (s = strength; stateless in seed [2]), clipped to [0, 1]: what E must see through when colour is a nuisance."""
  b, c = tf.shape(images)[0], images.shape[-1]
  draws = tf.random.stateless_uniform([2, b, 1, 1, c], tf.cast(seed, tf.int64), -1.0, 1.0, dtype=images.dtype)
  return tf.clip_by_value(images * tf.exp(strength * draws[0]) + 0.5 * strength * draws[1], 0.0, 1.0)


def random_move(images, max_shift, max_degrees, seed, max_shear=0.0):
  """images [B, H, W, C] each shifted, rotated (and sheared) at random (stateless in seed [2])."""
  if not max_shift and not max_degrees and not max_shear:
    return images
  return warp(images, random_affine(tf.shape(images)[0], max_shift, max_degrees, seed, max_shear))
