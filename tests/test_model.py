import numpy as np
import tensorflow as tf

from clustergan_tf import data, model, networks


def _compiled(cfg, d):
  m = model.build(cfg, d.data_shape, d.bounded)
  m.compile(*model.make_optimizers(cfg))
  return m


def test_train_step_on_tiny_data(tiny_config, tiny_data):
  m = _compiled(tiny_config, tiny_data)
  x = tiny_data.splits["train"][0][:tiny_config.batch_size * tiny_config.n_critic]
  before = [v.numpy().copy() for v in m.generator.trainable_variables]
  logs = tf.function(m.train_step)(tf.constant(x))
  assert set(logs) == set(model.LOG_KEYS)
  assert all(np.isfinite(float(v)) for v in logs.values())
  assert int(m.step) == 1 and int(m.d_optimizer.iterations) == tiny_config.n_critic
  after = m.generator.trainable_variables
  assert any(not np.array_equal(b, a.numpy()) for b, a in zip(before, after))


def test_train_step_runs_under_fit(tiny_config, tiny_data):
  m = _compiled(tiny_config, tiny_data)
  ds = data.train_dataset(tiny_data.splits["train"][0], tiny_config.batch_size * tiny_config.n_critic, seed=0)
  history = m.fit(ds, steps_per_epoch=3, epochs=1, verbose=0)
  assert int(m.step) == 3 and set(history.history) == set(model.LOG_KEYS)


def test_generator_batchnorm_keeps_moving_statistics():
  g = networks.build_generator((28, 28, 1), 5, 3)
  bn = g.get_layer("bn1")
  zn, zc = tf.random.normal([16, 5]), tf.one_hot(tf.range(16) % 3, 3)
  g([zn, zc], training=True)
  assert not np.allclose(bn.moving_mean.numpy(), 0.0)  # updated by a training call
  frozen = bn.moving_mean.numpy().copy()
  y1 = g([zn[:1], zc[:1]], training=False).numpy()
  y2 = g([zn[:2], zc[:2]], training=False).numpy()[:1]
  np.testing.assert_allclose(y1, y2, atol=1e-6)  # inference is per example, not per batch
  np.testing.assert_array_equal(bn.moving_mean.numpy(), frozen)


def test_paper_image_networks_shapes():
  g = networks.build_generator((28, 28, 1), 30, 10)
  d = networks.build_discriminator((28, 28, 1))
  e = networks.build_encoder((28, 28, 1), 30, 10)
  x = g([tf.zeros([2, 30]), tf.one_hot([0, 1], 10)])
  assert x.shape == (2, 28, 28, 1) and float(tf.reduce_min(x)) >= 0 and float(tf.reduce_max(x)) <= 1
  assert d(x).shape == (2, 1)
  out = e(x)
  assert out["zn"].shape == (2, 30) and out["zc_logits"].shape == (2, 10)
  assert g.input[0].name == "zn" and d.input.name == "images"


def test_initialiser_is_normal_002():
  d = networks.build_discriminator((6,), hidden_units=(512,))
  w = d.get_layer("fc1").kernel.numpy()
  assert abs(w.std() - 0.02) < 0.002


def test_weights_finite_flags_a_nan_weight(tiny_config, tiny_data):
  """The SIGTERM path saves an unchecked block only when every weight is finite."""
  from clustergan_tf import train_lib
  m = _compiled(tiny_config, tiny_data)
  assert train_lib.weights_finite(m)
  v = m.encoder.weights[0]
  v.assign(tf.tensor_scatter_nd_update(v, [[0] * len(v.shape)], [np.nan]))
  assert not train_lib.weights_finite(m)


def test_plain_gan_trains_generator_only(tiny_config, tiny_data):
  """--nouse_encoder: E is neither trained nor in the loss; the cycle losses log 0."""
  import dataclasses
  cfg = dataclasses.replace(tiny_config, prior="gaussian", use_encoder=False)
  m = _compiled(cfg, tiny_data)
  x = tiny_data.splits["train"][0][:cfg.batch_size * cfg.n_critic]
  before = [v.numpy().copy() for v in m.encoder.trainable_variables]
  logs = tf.function(m.train_step)(tf.constant(x))
  assert float(logs["zn_loss"]) == 0 and float(logs["zc_loss"]) == 0
  assert all(np.array_equal(b, a.numpy()) for b, a in zip(before, m.encoder.trainable_variables))
  assert len(m.g_variables) == len(m.generator.trainable_variables)


def test_linear_generator_is_affine():
  g = networks.build_generator((6,), 2, 3, linear=True)
  assert [layer.name for layer in g.layers if layer.weights] == ["out"]
  zn, zc = tf.zeros([1, 2]), tf.zeros([1, 3])
  b = g([zn, zc]).numpy()
  e = g([zn, tf.one_hot([1], 3)]).numpy() - b
  np.testing.assert_allclose(e, g.get_layer("out").kernel.numpy()[2 + 1][None], atol=1e-6)


def test_critic_norm_layers_and_refusal():
  import pytest
  from clustergan_tf.config import Config, validate
  from clustergan_tf.errors import UsageError
  for kind, cls in (("batch", "BatchNormalization"), ("layer", "LayerNormalization")):
    d = networks.build_discriminator((28, 28, 1), norm=kind)
    assert [type(layer).__name__ for layer in d.layers if layer.name.startswith("norm")] == [cls, cls]
  with pytest.raises(UsageError, match="--critic_norm=batch .*per-sample gradient penalty"):
    validate(Config(critic_norm="batch", loss="wgan-gp"))
  validate(Config(critic_norm="batch", loss="gan"))
