import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from clustergan_tf import data, losses, model, networks


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
  logs = {k: float(v) for k, v in logs.items()}
  # WGAN-GP: d_loss = mean(D(fake) - D(real) + gp_weight * gp); g_loss = adv + beta_n * zn + beta_c * zc
  np.testing.assert_allclose(logs["d_loss"], -logs["wasserstein"] + tiny_config.gp_weight * logs["gradient_penalty"],
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(logs["g_loss"], logs["g_adv_loss"] + tiny_config.beta_n * logs["zn_loss"]
                             + tiny_config.beta_c * logs["zc_loss"], rtol=1e-5, atol=1e-6)
  assert logs["gradient_penalty"] > 0 and logs["r1_penalty"] == 0 and logs["real_loss"] == 0
  assert int(m.step) == 1 and int(m.d_optimizer.iterations) == tiny_config.n_critic
  after = m.generator.trainable_variables
  assert all(not np.array_equal(b, a.numpy()) for b, a in zip(before, after))  # every weight of G moved


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
  twin = networks.build_generator((28, 28, 1), 30, 10, output_activation="linear")  # same weights, no sigmoid
  twin.set_weights(g.get_weights())
  np.testing.assert_allclose(x.numpy(), tf.sigmoid(twin([tf.zeros([2, 30]), tf.one_hot([0, 1], 10)])).numpy(),
                             atol=1e-6)
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
  from clustergan_tf import checkpoint
  m = _compiled(tiny_config, tiny_data)
  assert checkpoint.weights_finite(m)
  v = m.encoder.weights[0]
  v.assign(tf.tensor_scatter_nd_update(v, [[0] * len(v.shape)], [np.nan]))
  assert not checkpoint.weights_finite(m)


def test_plain_gan_trains_generator_only(tiny_config, tiny_data):
  """--nouse_encoder: E is neither trained nor in the loss; the cycle losses log 0."""
  cfg = dataclasses.replace(tiny_config, prior="gaussian", use_encoder=False)
  m = _compiled(cfg, tiny_data)
  x = tiny_data.splits["train"][0][:cfg.batch_size * cfg.n_critic]
  before = [v.numpy().copy() for v in m.encoder.trainable_variables]
  logs = tf.function(m.train_step)(tf.constant(x))
  assert float(logs["zn_loss"]) == 0 and float(logs["zc_loss"]) == 0
  assert all(np.array_equal(b, a.numpy()) for b, a in zip(before, m.encoder.trainable_variables))
  assert [id(v) for v in m.g_variables] == [id(v) for v in m.generator.trainable_variables]


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
  for kind, cls in (("batch", "GroupedBatchNorm"), ("layer", "LayerNormalization")):
    d = networks.build_discriminator((28, 28, 1), norm=kind)
    assert [type(layer).__name__ for layer in d.layers if layer.name.startswith("norm")] == [cls, cls]
  with pytest.raises(UsageError, match="--critic_norm=batch .*per-sample gradient penalty"):
    validate(Config(critic_norm="batch", loss="wgan-gp"))
  validate(Config(critic_norm="batch", loss="gan"))


def _image_model(**overrides):
  from clustergan_tf.config import Config
  cfg = Config(dataset="mnist", num_clusters=3, latent_dim=4, batch_size=4, n_critic=1, learning_rate=1e-3, **overrides)
  return cfg, _compiled(cfg, data.Data("mnist", {"train": (np.zeros([8, 28, 28, 1], np.float32), None)}, None, True))


@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_fused_critic_equals_separate_calls(norm):
  """One critic pass over real and fake rows gives what two passes give: outputs and, for a BatchNorm
  critic, the moving statistics (statistics per half, updated real then fake)."""
  _, m = _image_model(loss="gan", critic_norm=norm)
  x_real = tf.random.stateless_uniform([4, 28, 28, 1], [1, 1])
  x_fake = tf.random.stateless_uniform([4, 28, 28, 1], [1, 2])
  d = m.discriminator
  stats = list(d.non_trainable_weights)
  start = [v.numpy() for v in stats]
  separate = [d(x_real, training=True).numpy(), d(x_fake, training=True).numpy()]
  separate_stats = [v.numpy() for v in stats]
  for v, s0 in zip(stats, start):
    v.assign(s0)
  d_real, d_fake, _ = m._critic_outputs(x_real, x_fake, tf.zeros([4]))
  np.testing.assert_allclose(d_real.numpy(), separate[0], rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(d_fake.numpy(), separate[1], rtol=1e-4, atol=1e-5)
  assert len(stats) == (4 if norm == "batch" else 0)
  for v, expected in zip(stats, separate_stats):
    np.testing.assert_allclose(v.numpy(), expected, rtol=1e-4, atol=1e-6)
  if norm == "batch":  # one batch of 8 rows, without the grouping, would normalise otherwise
    joint = d(tf.concat([x_real, x_fake], 0), training=True).numpy()[:4]
    assert np.abs(joint - separate[0]).max() > 1e-3


def test_zn_smoothness_penalty_is_the_batch_variance_of_steepness():
  """The per-example penalty (s_i - mean s)^2 averages to the variance of G's steepness along z_n, measured on
  the same draws (one G pass over z_n and the moved z_n); off, it is zero and G runs once."""
  from clustergan_tf import seeds
  _, m = _image_model(loss="gan", zn_smoothness_weight=2.0)
  zn, zc, _ = m._prior(4, 4, 1)
  x, penalty = m._generate(zn, zc, 4, 4)
  u = tf.math.l2_normalize(tf.random.stateless_normal([4, 4], seeds.fold(m._seed(1), seeds.STEP_SMOOTHNESS)), 1)
  out = m.generator([tf.concat([zn, zn + 0.05 * u], 0), tf.concat([zc, zc], 0)], training=True)
  s = losses.steepness(out[:4], out[4:], 0.05).numpy()
  np.testing.assert_allclose(x.numpy(), out[:4].numpy(), atol=1e-6)
  np.testing.assert_allclose(penalty.numpy(), (s - s.mean()) ** 2, rtol=1e-4, atol=1e-8)
  assert s.var() > 0
  m.zn_smoothness_weight = 0.0
  assert not np.any(m._generate(zn, zc, 4, 4)[1].numpy())
  logs = tf.function(_image_model(loss="gan", zn_smoothness_weight=2.0)[1].train_step)(
      tf.random.stateless_uniform([4, 28, 28, 1], [2, 2]))
  assert float(logs["zn_steepness_var"]) > 0 and np.isfinite(float(logs["g_loss"]))


def test_every_recipe_option_trains_a_finite_step():
  cfg, m = _image_model(loss="hinge", critic_norm="spectral", r1_weight=1.0, r1_every=1, ema_decay=0.9,
                        augment_shift=2.0, augment_rotate=10.0, real_data_weight=1.0)
  x = tf.random.stateless_uniform([4, 28, 28, 1], [2, 2])
  before = m.ema_weights[0].numpy().copy()
  logs = tf.function(m.train_step)(x)
  assert set(logs) == set(model.LOG_KEYS)
  assert all(np.isfinite(float(v)) for v in logs.values())
  assert float(logs["r1_penalty"]) > 0
  # the progress line shows the active terms; the two this recipe leaves out are logged as zeros
  assert set(model.LOG_KEYS) - set(m.active_log_keys) == {"gradient_penalty", "zn_steepness_var"}
  assert float(logs["gradient_penalty"]) == 0 and float(logs["zn_steepness_var"]) == 0
  # E starts near uniform over K = 3: H(batch mean of p) ~ log 3 (its maximum), and the real-data loss
  # confidence * H(p) + consistency * CE(p, p(moved)) - balance * H(mean p) ~ (0.1 + 1 - 1) log 3
  assert abs(float(logs["real_cluster_entropy"]) - np.log(3)) < 1e-3
  assert float(logs["real_cluster_entropy"]) <= np.log(3) + 1e-6
  assert abs(float(logs["real_loss"]) - 0.1 * np.log(3)) < 1e-3
  # hinge, while every |D(x)| < 1 (true at initialisation): d_loss = mean(1 - D(real) + 1 + D(fake)) = 2 - wasserstein
  np.testing.assert_allclose(float(logs["d_loss"]), 2.0 - float(logs["wasserstein"]), atol=1e-5)
  # after step t = 1 the decay is min(0.9, (1 + 1) / (10 + 1)) = 2/11
  d = 2.0 / 11.0
  np.testing.assert_allclose(m.ema_weights[0].numpy(), d * before + (1 - d) * m._averaged[0].numpy(), atol=1e-6)
  assert not np.allclose(m._averaged[0].numpy(), before)  # the weight itself moved


def test_the_papers_step_shows_its_own_terms():
  _, m = _image_model()
  assert m.active_log_keys == ("d_loss", "wasserstein", "gradient_penalty", "g_adv_loss", "zn_loss", "zc_loss",
                               "g_loss")


def test_lazy_r1_only_on_every_nth_critic_update():
  cfg, m = _image_model(r1_weight=1.0, r1_every=2)
  x = tf.random.stateless_uniform([4, 28, 28, 1], [3, 3])
  step = tf.function(m.train_step)
  r1 = [float(step(x)["r1_penalty"]) for _ in range(4)]
  assert r1[0] > 0 and r1[1] == 0 and r1[2] > 0 and r1[3] == 0


def test_averaged_weights_swap_in_and_back():
  cfg, m = _image_model(ema_decay=0.5)
  live = [v.numpy().copy() for v in m.generator.weights]
  for a in m.ema_weights:
    a.assign(tf.zeros_like(a))
  with m.averaged_weights():
    assert all(not np.any(v.numpy()) for v in m.generator.weights)
  for v, w in zip(m.generator.weights, live):
    np.testing.assert_array_equal(v.numpy(), w)


def test_augmentation_needs_images():
  from clustergan_tf.config import Config
  from clustergan_tf.errors import UsageError
  with pytest.raises(UsageError, match="--augment_shift"):
    model.build(Config(augment_shift=2.0), (100,), False)
  with pytest.raises(UsageError, match="--augment_shear=0.3 move images"):
    model.build(Config(augment_shear=0.3), (100,), False)


@pytest.mark.parametrize("dataset, row_image", [("digits", ()), ("vectors", (28, 28, 1))])
def test_flattened_images_move_as_images(dataset, row_image, monkeypatch):
  """Vector rows that are flattened images move as the same images would: a data set in data.ROW_IMAGES (digits,
  declared 28x28 here so that the 28x28 image model can be compared) or a user's vectors with --row_image."""
  from clustergan_tf.config import Config
  moves = dict(augment_shift=1.0, augment_rotate=10.0, augment_shear=0.3)
  _, images = _image_model(**moves)
  cfg = Config(dataset=dataset, num_clusters=3, latent_dim=4, batch_size=4, n_critic=1, hidden_units=(8,),
               row_image=row_image, **moves)
  monkeypatch.setitem(data.ROW_IMAGES, "digits", (28, 28, 1))
  vectors = model.build(cfg, (784,), True)
  x = tf.random.stateless_uniform([4, 28, 28, 1], [5, 5])
  moved = vectors._move(tf.reshape(x, [4, 784]), 4, 4, 0, 2)
  assert moved.shape == (4, 784)
  np.testing.assert_allclose(tf.reshape(moved, [4, 28, 28, 1]), images._move(x, 4, 4, 0, 2), atol=1e-6)
  assert np.abs(moved - tf.reshape(x, [4, 784])).max() > 0.1


def test_row_image_must_hold_the_rows_values():
  """A --row_image that does not hold the row's values is refused, naming the flag; vectors without one are told
  of it when the moves are on."""
  from clustergan_tf.config import Config
  from clustergan_tf.errors import UsageError
  cfg = Config(dataset="vectors", num_clusters=3, latent_dim=4, batch_size=4, n_critic=1, hidden_units=(8,),
               row_image=(28, 28, 1), augment_shift=1.0)
  with pytest.raises(UsageError, match=r"--row_image=28,28,1 holds 784 values per row but the rows of vectors have "
                                       r"100: give H,W,C with H\*W\*C = 100"):
    model.build(cfg, (100,), True)
  with pytest.raises(UsageError, match="or, if each row is a flattened image, --row_image=H,W,C"):
    model.build(Config(dataset="vectors", augment_shift=1.0), (100,), True)


def test_one_augmentation_without_the_other(monkeypatch):
  from clustergan_tf import augment
  seen = []
  real = augment.random_affine
  monkeypatch.setattr(augment, "random_affine", lambda b, shift, deg, seed, shear: seen.append((shift, deg, shear)) or
                      real(b, shift, deg, seed, shear))
  x = tf.zeros([4, 28, 28, 1])
  for moves, expected in [((0.0, 10.0, 0.0), (0.0, 10.0, 0.0)), ((3.0, 0.0, 0.0), (3.0, 0.0, 0.0)),
                          ((0.0, 0.0, 0.3), (0.0, 0.0, 0.3)), ((0.0, 0.0, 0.0), (2.0, 10.0, 0.0))]:
    _, m = _image_model(**dict(zip(("augment_shift", "augment_rotate", "augment_shear"), moves)))
    m._move(x, 4, 4, 0, 2)
    assert seen[-1] == expected  # all 0: the real-data consistency term's default move


def test_build_refuses_an_unresolved_precision(tiny_config, tiny_data):
  """'auto' names no Keras policy: train_lib.prepare resolves it (hardware.resolve) before building."""
  with pytest.raises(ValueError, match="resolve it first"):
    model.build(dataclasses.replace(tiny_config, precision="auto"), tiny_data.data_shape, tiny_data.bounded)
