"""G, D and E: shapes, input and output names, the linear generator, critic norms, output ranges, init."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from clustergan_tf import networks

IMAGE = (28, 28, 1)
VECTOR = (6,)
NORM_LAYERS = (layers.BatchNormalization, layers.LayerNormalization, layers.SpectralNormalization)


@pytest.fixture(autouse=True)
def _seeded():
  keras.utils.set_random_seed(0)


def _z(batch, latent_dim, num_clusters, seed=0):
  zn = tf.random.stateless_normal([batch, latent_dim], [seed, 1])
  zc = tf.one_hot(tf.range(batch) % num_clusters, num_clusters)
  return zn, zc


@pytest.mark.parametrize("shape,input_name", [(IMAGE, "images"), (VECTOR, "features")])
def test_shapes_and_names(shape, input_name):
  g = networks.build_generator(shape, 5, 3, hidden_units=(16, 16))
  d = networks.build_discriminator(shape, hidden_units=(16, 16))
  e = networks.build_encoder(shape, 5, 3, hidden_units=(16, 16))
  assert [t.name for t in g.inputs] == ["zn", "zc"]
  assert [t.name for t in d.inputs] == [input_name] and [t.name for t in e.inputs] == [input_name]
  x = g(_z(4, 5, 3))
  assert tuple(x.shape) == (4,) + shape
  assert tuple(d(x).shape) == (4, 1)
  out = e(x)
  assert set(out) == {"zn", "zc_logits"}
  assert tuple(out["zn"].shape) == (4, 5) and tuple(out["zc_logits"].shape) == (4, 3)


@pytest.mark.parametrize("shape", [IMAGE, VECTOR])
def test_linear_generator_is_affine(shape):
  g = networks.build_generator(shape, 2, 3, linear=True)
  zn1, zc1 = _z(5, 2, 3, seed=1)
  zn2, zc2 = tf.random.stateless_normal([5, 2], [2, 1]), tf.random.stateless_uniform([5, 3], [2, 2])
  a = 0.3
  mixed = g([a * zn1 + (1 - a) * zn2, a * zc1 + (1 - a) * zc2]).numpy()
  np.testing.assert_allclose(mixed, a * g([zn1, zc1]).numpy() + (1 - a) * g([zn2, zc2]).numpy(), atol=1e-6)


def test_mlp_generator_is_not_affine():
  """The same identity fails for the (non-linear) MLP generator, so the affine check above can fail."""
  g = networks.build_generator(VECTOR, 2, 3, hidden_units=(16, 16), output_activation="linear")
  zn1, zc1 = 50.0 * tf.random.stateless_normal([5, 2], [1, 1]), tf.one_hot([0, 1, 2, 0, 1], 3)
  zn2, zc2 = 50.0 * tf.random.stateless_normal([5, 2], [2, 1]), tf.one_hot([1, 2, 0, 2, 0], 3)
  mixed = g([0.5 * zn1 + 0.5 * zn2, 0.5 * zc1 + 0.5 * zc2]).numpy()
  chord = 0.5 * g([zn1, zc1]).numpy() + 0.5 * g([zn2, zc2]).numpy()
  assert np.abs(mixed - chord).max() > 1e-4  # 2.2e-3 here; 100x the tolerance above


@pytest.mark.parametrize("shape,counts", [
    (IMAGE, {"batch": (2, 0, 0), "layer": (0, 2, 0), "spectral": (0, 0, 4), "none": (0, 0, 0)}),
    (VECTOR, {"batch": (1, 0, 0), "layer": (0, 1, 0), "spectral": (0, 0, 3), "none": (0, 0, 0)}),
])
def test_critic_norm_layer_types(shape, counts):
  """(BatchNorm, LayerNorm, SpectralNorm) layers per critic_norm: image D normalises conv2 and fc1, the
  2-layer MLP fc2 only; spectral wraps every weight layer (image: conv1, conv2, fc1, out; MLP: fc1, fc2, out)."""
  for norm, expected in counts.items():
    d = networks.build_discriminator(shape, hidden_units=(16, 16), norm=norm)
    got = tuple(sum(isinstance(layer, cls) for layer in d.layers) for cls in NORM_LAYERS)
    assert got == expected, norm


def test_spectral_critic_wraps_the_weight_layers():
  d = networks.build_discriminator(VECTOR, hidden_units=(16, 16), norm="spectral")
  wrapped = [layer for layer in d.layers if isinstance(layer, layers.SpectralNormalization)]
  assert [w.name for w in wrapped] == ["sn_fc1", "sn_fc2", "sn_out"]
  assert all(type(w.layer) is layers.Dense for w in wrapped)
  assert not [layer for layer in d.layers if type(layer) is layers.Dense]  # none left unwrapped


def _copy_with_output(g, shape, activation):
  other = networks.build_generator(shape, 2, 3, hidden_units=(16,), output_activation=activation)
  other.set_weights(g.get_weights())
  return other


def test_sigmoid_output_in_unit_interval_and_linear_output_leaves_it():
  """Same weights, the out bias set to -+4: the linear output leaves [0, 1] on both sides, the
  sigmoid output is exactly the sigmoid of it."""
  linear = networks.build_generator(VECTOR, 2, 3, hidden_units=(16,), output_activation="linear")
  linear.get_layer("out").bias.assign([-4.0, 4.0, -4.0, 4.0, 0.0, 0.0])
  sigmoid = _copy_with_output(linear, VECTOR, "sigmoid")
  z = _z(8, 2, 3)
  raw, squashed = linear(z).numpy(), sigmoid(z).numpy()
  assert raw.min() < -3.5 and raw.max() > 3.5
  assert squashed.min() > 0.0 and squashed.max() < 1.0
  np.testing.assert_allclose(squashed, 1 / (1 + np.exp(-raw)), rtol=1e-5)


def test_image_generator_output_is_a_sigmoid():
  g = networks.build_generator(IMAGE, 5, 3)
  g.get_layer("deconv2").bias.assign([-5.0])  # pushes the pre-activation far below 0
  x = g(_z(2, 5, 3), training=False).numpy()
  assert x.min() > 0.0 and x.max() < 0.01  # sigmoid(~-5) = 0.0067


@pytest.mark.parametrize("build,layer", [
    (lambda: networks.build_discriminator(IMAGE), "conv2"),  # 131072 weights
    (lambda: networks.build_generator(IMAGE, 30, 10), "fc2"),
    (lambda: networks.build_encoder(VECTOR, 5, 3, hidden_units=(512, 512)), "fc2"),
], ids=["D-conv2", "G-fc2", "E-fc2"])
def test_weights_are_normal_with_std_002(build, layer):
  """N(0, 0.02): Glorot would give 0.0255 (conv2), 0.0166 (G fc2) or 0.0442 (E fc2); a uniform law of std
  0.02 never exceeds 0.0347 in size, a normal one of this many draws does (max ~4 sigma)."""
  dense = build().get_layer(layer)
  w = dense.kernel.numpy()
  assert abs(w.std() - 0.02) < 0.001 and abs(w.mean()) < 0.001
  assert np.abs(w).max() > 0.06
  np.testing.assert_array_equal(dense.bias.numpy(), 0.0)


def test_grouped_batch_norm_equals_one_batch_norm_per_group():
  """In batch_groups(2) a batch [2b, ...] is normalised as two batches of b (values and moving
  statistics, group 0 first); outside the block, and at inference, it is a plain BatchNorm."""
  x = tf.random.stateless_normal([6, 3, 3, 4], [3, 1]) * tf.constant([1.0, 2.0, 3.0, 4.0]) + 1.0
  grouped = networks.GroupedBatchNorm(momentum=0.9, epsilon=1e-5, synchronized=True)
  plain = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True)
  grouped.build(x.shape)
  plain.build(x.shape)
  with networks.batch_groups(2):
    out = grouped(x, training=True).numpy()
  expected = np.concatenate([plain(x[:3], training=True).numpy(), plain(x[3:], training=True).numpy()])
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(grouped.moving_mean.numpy(), plain.moving_mean.numpy(), rtol=1e-6)
  np.testing.assert_allclose(grouped.moving_variance.numpy(), plain.moving_variance.numpy(), rtol=1e-6)
  np.testing.assert_allclose(grouped(x, training=False).numpy(), plain(x, training=False).numpy(), rtol=1e-5)
  assert np.abs(grouped(x, training=True).numpy() - out).max() > 1e-2  # ungrouped: one batch of 6


def test_net_width_scales_every_hidden_layer_of_the_image_networks():
  """--net_width=0.5: G's 1024 / 7x7x128 / 64 and D's and E's 64 / 128 / 1024 halve; inputs and outputs keep
  their shapes, so a narrow model serves and evaluates like the paper's."""
  def widths(model):
    return [layer.kernel.shape[-1 if not isinstance(layer, layers.Conv2DTranspose) else -2]
            for layer in model.layers if isinstance(layer, (layers.Dense, layers.Conv2D, layers.Conv2DTranspose))]
  g = networks.build_generator(IMAGE, 5, 3, width=0.5)
  d = networks.build_discriminator(IMAGE, norm="batch", width=0.5)
  e = networks.build_encoder(IMAGE, 5, 3, width=0.5)
  assert widths(g) == [512, 7 * 7 * 64, 32, 1]
  assert widths(d) == [32, 64, 512, 1]
  assert sorted(widths(e)[3:]) == [3, 5] and widths(e)[:3] == [32, 64, 512]
  assert widths(networks.build_generator(IMAGE, 5, 3)) == [1024, 7 * 7 * 128, 64, 1]
  x = g(_z(4, 5, 3))
  assert tuple(x.shape) == (4,) + IMAGE and tuple(d(x).shape) == (4, 1)
  assert tuple(e(x)["zc_logits"].shape) == (4, 3)


@pytest.mark.parametrize("shape,stages", [((28, 28, 1), 2), ((32, 32, 3), 2), ((8, 8, 1), 2), ((64, 64, 1), 3),
                                          ((96, 64, 3), 4), ((100, 100, 1), 2), ((28, 36, 1), 2), ((6,), 0)])
def test_conv_stages_halve_until_both_sides_are_at_most_8(shape, stages):
  """28 -> 7 (the paper's two), 64 -> 8 (three), 96x64 -> 6x4 (four); 100 -> 25 stops: 25 is odd."""
  assert networks.conv_stages(shape) == stages


def test_the_28x28_networks_keep_the_papers_layers_and_sizes():
  """Generalising the conv nets to other image sizes left MNIST's as they were: the same layer names (so old
  checkpoints restore) and parameter counts (counted by the networks before the change)."""
  g = networks.build_generator(IMAGE, 30, 10)
  d = networks.build_discriminator(IMAGE, norm="batch")
  e = networks.build_encoder(IMAGE, 30, 10)
  assert [w.path for w in g.weights if "kernel" in w.path] == [
      "fc1/kernel", "fc2/kernel", "deconv1/kernel", "deconv2/kernel"]
  assert [w.path for w in d.weights if "kernel" in w.path] == [
      "conv1/kernel", "conv2/kernel", "fc1/kernel", "out/kernel"]
  assert [layer.name for layer in d.layers if layer.name.startswith("norm")] == ["norm2", "norm3"]
  assert (g.count_params(), d.count_params(), e.count_params()) == (6632385, 6561473, 6596840)


@pytest.mark.parametrize("shape", [(32, 32, 3), (64, 64, 1), (8, 12, 4)])
def test_other_image_sizes_get_conv_networks_of_their_shape(shape):
  """G mirrors D: one 4x4 stride-2 layer per stage each way, channels doubling down D (64, 128, 256)."""
  stages = networks.conv_stages(shape)
  g = networks.build_generator(shape, 5, 3, width=0.25)
  d = networks.build_discriminator(shape, norm="batch", width=0.25)
  e = networks.build_encoder(shape, 5, 3, width=0.25)
  convs = [layer for layer in d.layers if isinstance(layer, layers.Conv2D)]
  assert [c.name for c in convs] == [f"conv{i + 1}" for i in range(stages)]
  assert [c.filters for c in convs] == [16 * 2 ** i for i in range(stages)]
  deconvs = [layer for layer in g.layers if isinstance(layer, layers.Conv2DTranspose)]
  assert [c.filters for c in deconvs] == [16 * 2 ** i for i in reversed(range(stages - 1))] + [shape[-1]]
  x = g(_z(2, 5, 3))
  assert tuple(x.shape) == (2,) + shape
  assert tuple(d(x).shape) == (2, 1) and tuple(e(x)["zc_logits"].shape) == (2, 3)


def test_image_side_error_names_the_sizes_to_crop_or_pad_to():
  assert networks.image_side_error((32, 28, 3)) is None
  assert networks.image_side_error((30, 32, 3)).endswith("got 30x32 (crop to 28x32 or pad to 32x32)")
  assert networks.image_side_error((2, 5, 1)).endswith("got 2x5 (pad to 4x8)")
