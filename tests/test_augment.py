import numpy as np
import tensorflow as tf

from clustergan_tf import augment


def _dot(r, c):
  x = np.zeros([1, 28, 28, 1], np.float32)
  x[0, r, c, 0] = 1.0
  return tf.constant(x)


def test_identity_map_keeps_the_image():
  x = tf.random.stateless_uniform([2, 28, 28, 1], [1, 2])
  maps = tf.constant([[[1.0, 0, 0], [0, 1.0, 0]]] * 2)
  np.testing.assert_allclose(augment.warp(x, maps).numpy(), x.numpy(), atol=1e-6)


def test_integer_shift_moves_a_pixel():
  # output (r, c) reads source (r + 2, c - 3): the pixel at (10, 12) lands on (8, 15)
  out = augment.warp(_dot(10, 12), tf.constant([[[1.0, 0, 2.0], [0, 1.0, -3.0]]])).numpy()
  assert [tuple(p) for p in np.argwhere(out[0, ..., 0] > 0.5)] == [(8, 15)]
  assert abs(out.sum() - 1.0) < 1e-6


def test_quarter_turn_about_the_centre():
  # source = R(90 deg) @ output: output (r, c) reads (-c, r) about the centre 13.5
  out = augment.warp(_dot(4, 13), tf.constant([[[0.0, -1.0, 0], [1.0, 0.0, 0]]])).numpy()
  (r, c), = np.argwhere(out[0, ..., 0] > 0.5)
  assert (13.5 - c, r - 13.5) == (4 - 13.5, 13 - 13.5)


def test_pixels_from_outside_are_zero_and_gradients_reach_the_input():
  x = tf.ones([1, 28, 28, 1])
  out = augment.warp(x, tf.constant([[[1.0, 0, 30.0], [0, 1.0, 0]]]))  # everything comes from below the image
  assert float(tf.reduce_max(out)) == 0.0
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = tf.reduce_sum(augment.random_move(x, 2.0, 10.0, tf.constant([3, 4], tf.int64)))
  g = tape.gradient(y, x)
  assert g is not None
  # y is linear in x, so y(ones) is the sum of its gradient; a move of <= 2 px and 10 degrees keeps the
  # area, so every pixel away from the border is read with total weight ~1 (its gradient)
  np.testing.assert_allclose(float(tf.reduce_sum(g)), float(y), rtol=1e-5)
  np.testing.assert_allclose(g.numpy()[0, 6:22, 6:22, 0], 1.0, atol=0.02)


def test_moves_are_a_function_of_the_seed():
  x = tf.random.stateless_uniform([4, 28, 28, 1], [5, 6])
  a = augment.random_move(x, 2.0, 10.0, tf.constant([1, 1], tf.int64))
  b = augment.random_move(x, 2.0, 10.0, tf.constant([1, 1], tf.int64))
  c = augment.random_move(x, 2.0, 10.0, tf.constant([1, 2], tf.int64))
  np.testing.assert_array_equal(a.numpy(), b.numpy())
  assert not np.allclose(a.numpy(), c.numpy())
  assert augment.random_move(x, 0, 0, tf.constant([1, 1], tf.int64)) is x


def test_shear_is_its_own_stream():
  """With max_shear the linear part is rotation @ [[1, 0], [k, 1]], |k| <= max_shear, and the rotations
  and shifts are those drawn without it (adding a shear changes no other draw)."""
  seed = tf.constant([5, 6], tf.int64)
  plain = augment.random_affine(64, 2.0, 10.0, seed).numpy()
  sheared = augment.random_affine(64, 2.0, 10.0, seed, max_shear=0.3).numpy()
  np.testing.assert_array_equal(sheared[:, :, 2], plain[:, :, 2])
  k = np.linalg.solve(plain[:, :, :2], sheared[:, :, :2])  # rotation^-1 @ sheared = [[1, 0], [k, 1]]
  np.testing.assert_allclose(k[:, 0, 0], 1.0, atol=1e-5)
  np.testing.assert_allclose(k[:, 0, 1], 0.0, atol=1e-5)
  np.testing.assert_allclose(k[:, 1, 1], 1.0, atol=1e-5)
  assert np.all(np.abs(k[:, 1, 0]) <= 0.3 + 1e-6) and np.ptp(k[:, 1, 0]) > 0.3


def test_shear_moves_each_row_by_its_offset():
  """maps [[1, 0, 0], [0.5, 1, 0]]: output (row, col) reads source (row, col + 0.5 row), rows about the centre."""
  x = _dot(20, 10)  # a dot 6 rows below the centre row (13.5) of a 28 x 28 image, rounded: row 20 is +6.5
  out = augment.warp(x, tf.constant([[[1.0, 0, 0], [0.5, 1.0, 0]]])).numpy()[0, :, :, 0]
  r, c = np.unravel_index(np.argmax(out), out.shape)
  assert r == 20 and abs(c - (10 - 0.5 * 6.5)) <= 0.5, (r, c)


def test_warp_compiles_with_xla():
  # (XLA draws other random numbers than plain TF, so the maps are drawn once, outside)
  maps = augment.random_affine(3, 2.0, 10.0, tf.constant([1, 2], tf.int64))
  x = tf.random.stateless_uniform([3, 28, 28, 1], [7, 8])
  f = tf.function(augment.warp, jit_compile=True)
  np.testing.assert_allclose(f(x, maps).numpy(), augment.warp(x, maps).numpy(), atol=1e-5)


def test_random_colour_is_a_gain_and_offset_per_image_and_channel():
  """Within one image and channel every pixel gets the same affine map g x + o, with g in [exp(-s), exp(s)] and o in
  [-s/2, s/2]; images and channels get their own; the same seed gives the same colours; strength 0 is the identity."""
  s = 0.2  # small enough that nothing clips
  out = augment.random_colour(tf.fill([2, 2, 2, 3], 0.3), s, [3, 4]).numpy()  # two equal flat images
  assert np.ptp(out[0], axis=(0, 1)).max() < 1e-6  # one map per channel: a flat image stays flat
  assert np.abs(out[0, 0, 0] - out[1, 0, 0]).max() > 1e-3  # another image, other colours
  two = np.concatenate([np.full([1, 1, 1, 3], 0.3, np.float32), np.full([1, 1, 1, 3], 0.4, np.float32)], axis=2)
  mapped = augment.random_colour(tf.constant(two), s, [5, 6]).numpy()[0, 0]  # [2 pixels, 3 channels]
  gain = (mapped[1] - mapped[0]) / 0.1
  offset = mapped[0] - gain * 0.3
  assert np.all((gain >= np.exp(-s) - 1e-4) & (gain <= np.exp(s) + 1e-4)) and np.all(np.abs(offset) <= s / 2 + 1e-4)
  np.testing.assert_array_equal(mapped, augment.random_colour(tf.constant(two), s, [5, 6]).numpy()[0, 0])
  np.testing.assert_allclose(augment.random_colour(tf.constant(two), 0.0, [5, 6]).numpy(), two)
  strong = augment.random_colour(tf.random.stateless_uniform([8, 4, 4, 3], [1, 1]), 2.0, [7, 8]).numpy()
  assert strong.min() >= 0.0 and strong.max() <= 1.0
