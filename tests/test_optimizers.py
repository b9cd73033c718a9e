"""FusedAdam: Keras's Adam rule, by one fused kernel."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from clustergan_tf import optimizers


def _run(optimizer, steps=5):
  """Weights after `steps` updates of a fixed quadratic-like loss on two variables."""
  w = [keras.Variable(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)),
       keras.Variable(np.array([0.5, -2.0], np.float32))]
  optimizer.build(w)

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(tf.sin(3.0 * w[0]) * w[0]) + tf.reduce_sum(w[1] ** 4)
    optimizer.apply_gradients(zip(tape.gradient(loss, w), w))

  for _ in range(steps):
    step()
  return [v.numpy() for v in w], [v.numpy() for v in optimizer.variables]


def test_fused_adam_equals_keras_adam():
  kwargs = dict(learning_rate=0.05, beta_1=0.5, beta_2=0.9, epsilon=1e-7)
  fused, fused_state = _run(optimizers.FusedAdam(**kwargs))
  plain, plain_state = _run(keras.optimizers.Adam(**kwargs))
  start = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
  assert np.abs(plain[0] - start).max() > 0.1  # the weights moved: the comparison below has teeth
  for a, b in zip(fused + fused_state, plain + plain_state):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_amsgrad_takes_keras_path():
  kwargs = dict(learning_rate=0.05, amsgrad=True)
  fused, _ = _run(optimizers.FusedAdam(**kwargs))
  plain, _ = _run(keras.optimizers.Adam(**kwargs))
  for a, b in zip(fused, plain):
    np.testing.assert_array_equal(a, b)


def test_decay_factor_is_one_then_linear_to_zero_at_the_end():
  assert [optimizers.decay_factor(d, 0.5) for d in (0.0, 0.5, 0.75, 0.9, 1.0)] == pytest.approx([1, 1, 0.5, 0.2, 0])
  assert optimizers.decay_factor(0.25, 0.0) == 0.75
  assert optimizers.decay_factor(1.0, 1.0) == 1.0  # 1: constant rates, the paper's
