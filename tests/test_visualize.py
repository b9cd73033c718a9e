"""Pictures: drawable shapes, scaling and upscaling, tile layout, the K-row sample grid, PNG output."""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from clustergan_tf import visualize


@pytest.mark.parametrize("shape,expected", [((28, 28, 1), (28, 28, 1)), ((64,), (8, 8, 1)), ((16,), (4, 4, 1)),
                                            ((10,), None), ((63,), None)])
def test_image_shape(shape, expected):
  assert visualize.image_shape(shape) == expected


def test_as_images_keeps_unit_range_and_upscales_8x8_three_times():
  x = (np.arange(128, dtype=np.float32) / 127.0).reshape(2, 64)  # already in [0, 1]: no rescaling
  out = visualize.as_images(x, (64,))
  assert out.shape == (2, 24, 24, 1) and out.dtype == np.float32
  # pixel (r, c) of image i covers the 3x3 block at (3r, 3c): (1, 2) of image 0 is x[0, 10]
  np.testing.assert_array_equal(out[0, 3:6, 6:9, 0], np.full((3, 3), 10 / 127.0, np.float32))
  np.testing.assert_array_equal(out[1, 21:24, 21:24, 0], np.full((3, 3), 1.0, np.float32))  # x[1, 63]
  np.testing.assert_array_equal(out[:, ::3, ::3, 0], x.reshape(2, 8, 8))


def test_as_images_rescales_by_the_batch_range():
  """Out of [0, 1]: (x - min) / (max - min) over the whole batch, not per image; 28x28 is not upscaled."""
  x = np.stack([np.full((28, 28, 1), -1.0), np.full((28, 28, 1), 3.0)]).astype(np.float32)
  x[0, 5, 7, 0] = 0.0
  out = visualize.as_images(x, (28, 28, 1))
  assert out.shape == (2, 28, 28, 1)
  assert out[0, 0, 0, 0] == 0.0 and out[0, 5, 7, 0] == 0.25 and out[1, 27, 27, 0] == 1.0


def test_tile_layout_by_hand():
  """4 constant 2x3 images on a 2x2 grid with pad 1: canvas 2*(2+1) x 2*(3+1), row-major, pad value 1."""
  images = np.stack([np.full((2, 3, 1), v, np.float32) for v in (0.1, 0.2, 0.3, 0.4)])
  canvas = visualize.tile(images, rows=2, cols=2)
  a, b, c, d = 0.1, 0.2, 0.3, 0.4
  expected = np.array([[a, a, a, 1, b, b, b, 1],
                       [a, a, a, 1, b, b, b, 1],
                       [1, 1, 1, 1, 1, 1, 1, 1],
                       [c, c, c, 1, d, d, d, 1],
                       [c, c, c, 1, d, d, d, 1],
                       [1, 1, 1, 1, 1, 1, 1, 1]], np.float32)[..., None]
  np.testing.assert_array_equal(canvas, expected)


def test_tile_leaves_missing_slots_blank_and_drops_extra_images():
  images = np.zeros((3, 2, 2, 1), np.float32)
  canvas = visualize.tile(images, rows=2, cols=2, pad=0)
  assert canvas.shape == (4, 4, 1)
  np.testing.assert_array_equal(canvas[:2, :, 0], 0.0)
  np.testing.assert_array_equal(canvas[2:, :2, 0], 0.0)
  np.testing.assert_array_equal(canvas[2:, 2:, 0], 1.0)  # slot 3 has no image
  assert visualize.tile(np.zeros((5, 2, 2, 1), np.float32), rows=1, cols=2, pad=0).shape == (2, 4, 1)


class _FakeGenerator:
  """x [B, 16] (a 4x4 image): first 8 values k / (K - 1) for z_c = e_k, last 8 sigmoid(z_n[0]). Records calls."""

  def __init__(self, num_clusters):
    self.num_clusters, self.calls = num_clusters, []

  def __call__(self, z, training=True):
    zn, zc = z
    self.calls.append(training)
    k = tf.cast(tf.argmax(zc, axis=1), tf.float32)[:, None] / (self.num_clusters - 1)
    return tf.concat([tf.tile(k, [1, 8]), tf.tile(tf.sigmoid(zn[:, :1]), [1, 8])], axis=1)


def test_sample_grid_puts_cluster_k_in_row_k():
  k_clusters, cols = 3, 4
  gen = _FakeGenerator(k_clusters)
  grid = visualize.sample_grid(gen, (16,), latent_dim=2, num_clusters=k_clusters, sigma=1.0, cols=cols)
  # 4x4 images drawn 7x larger (28x28) + pad 1: tiles 29 apart
  assert grid.shape == (k_clusters * 29, cols * 29, 1) and gen.calls == [False]
  for k in range(k_clusters):
    for j in range(cols):
      r, c = 29 * k, 29 * j
      np.testing.assert_array_equal(grid[r:r + 14, c:c + 28, 0], k / (k_clusters - 1))  # top half: the cluster
  noise = grid[14::29, 0:29 * cols:29, 0]  # bottom half of each tile: sigmoid(z_n[0]) of its column
  assert noise.shape == (k_clusters, cols)
  np.testing.assert_allclose(noise, np.tile(noise[:1], [k_clusters, 1]), atol=1e-6)  # same z_n^j in every row
  assert len(set(noise[0].tolist())) == cols  # but another in every column
  np.testing.assert_array_equal(grid[28::29, :, 0], 1.0)  # pad rows


def test_sample_grid_without_noise_and_for_vectors():
  grid = visualize.sample_grid(_FakeGenerator(2), (16,), latent_dim=2, num_clusters=2, sigma=0.0, cols=3)
  np.testing.assert_array_equal(grid[14::29, 0:87:29, 0], 0.5)  # z_n = 0: sigmoid(0)
  gen = _FakeGenerator(2)
  assert visualize.sample_grid(gen, (10,), latent_dim=2, num_clusters=2, sigma=1.0) is None
  assert gen.calls == []  # not drawable: G is not even run


def test_write_png_round_trips(tmp_path):
  image = np.array([[0.0, 0.2, 1.0], [-0.5, 1.7, 100 / 255]], np.float32)[..., None]
  path = str(tmp_path / "x.png")
  visualize.write_png(image, path)
  back = tf.io.decode_png(tf.io.read_file(path)).numpy()
  assert back.dtype == np.uint8 and back.shape == (2, 3, 1)
  np.testing.assert_array_equal(back[..., 0], [[0, 51, 255], [0, 255, 100]])  # clipped to [0, 1], x 255


def test_running_the_module_names_the_commands_that_draw():
  proc = subprocess.run([sys.executable, "-m", "clustergan_tf.visualize"], capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2 and proc.stdout == ""
  assert len(proc.stderr.strip().splitlines()) == 1  # one line: before TensorFlow's start-up logging
  assert proc.stderr.startswith("error: clustergan_tf.visualize is the library")
  assert "python -m clustergan_tf.evaluate --model_dir=DIR" in proc.stderr
