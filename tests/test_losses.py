import math

import numpy as np
import pytest
import tensorflow as tf

from clustergan_tf import losses


def test_wgan_critic_and_generator():
  d_real, d_fake = tf.constant([[1.0], [2.0]]), tf.constant([[0.5], [-1.0]])
  np.testing.assert_allclose(losses.critic_loss(d_real, d_fake, "wgan-gp").numpy(), [-0.5, -3.0])
  np.testing.assert_allclose(losses.generator_adversarial_loss(d_fake, "wgan-gp").numpy(), [-0.5, 1.0])


def test_nonsaturating_gan():
  d_real, d_fake = tf.constant([0.0, 2.0]), tf.constant([0.0, -1.0])
  sp = lambda v: math.log1p(math.exp(v))
  np.testing.assert_allclose(losses.critic_loss(d_real, d_fake, "gan").numpy(),
                             [2 * math.log(2), sp(-2.0) + sp(-1.0)], rtol=1e-6)
  np.testing.assert_allclose(losses.generator_adversarial_loss(d_fake, "gan").numpy(),
                             [math.log(2), sp(1.0)], rtol=1e-6)


def test_unknown_loss_type():
  with pytest.raises(ValueError, match="unknown loss_type"):
    losses.critic_loss(tf.zeros([1]), tf.zeros([1]), "lsgan")


def test_interpolate_uses_one_coefficient_per_sample():
  real, fake = tf.ones([2, 2, 2, 1]), tf.zeros([2, 2, 2, 1])
  x_hat = losses.interpolate(real, fake, tf.constant([0.25, 0.75])).numpy()
  np.testing.assert_allclose(x_hat[0], 0.25)
  np.testing.assert_allclose(x_hat[1], 0.75)


def test_gradient_penalty_per_sample_over_all_axes():
  # D(x) = sum(w * x) over all axes: grad = w everywhere, norm = ||w|| = sqrt(12 * 0.5^2) = sqrt(3).
  w = tf.fill([2, 3, 2], 0.5)
  critic = lambda x: tf.reduce_sum(w * x, axis=[1, 2, 3])[:, None]
  gp = losses.gradient_penalty(critic, tf.random.normal([4, 2, 3, 2]))
  np.testing.assert_allclose(gp.numpy(), [(math.sqrt(3) - 1) ** 2] * 4, rtol=1e-5)


def test_gradient_penalty_differs_per_sample():
  # D(x) = sum(x^2): grad = 2x, norm = 2||x||; samples with different norms get different penalties.
  critic = lambda x: tf.reduce_sum(tf.square(x), axis=1, keepdims=True)
  x = tf.constant([[0.5, 0.0], [0.0, 2.0]])
  np.testing.assert_allclose(losses.gradient_penalty(critic, x).numpy(), [0.0, 9.0], atol=1e-5)


def test_zn_cycle_loss_is_mean_squared_error():
  zn, zn_hat = tf.constant([[1.0, 2.0], [0.0, 0.0]]), tf.constant([[0.0, 0.0], [3.0, 1.0]])
  np.testing.assert_allclose(losses.zn_cycle_loss(zn, zn_hat).numpy(), [2.5, 5.0])


def test_zc_cycle_loss_is_cross_entropy():
  logits = tf.constant([[0.0, 0.0], [math.log(3.0), 0.0]])
  np.testing.assert_allclose(losses.zc_cycle_loss(tf.constant([1, 0]), logits).numpy(),
                             [math.log(2), -math.log(0.75)], rtol=1e-6)


def test_hinge_losses_by_hand():
  # relu(1 - 2) + relu(1 + 0.5) = 1.5 ; relu(1 - 0.5) + relu(1 - 3) = 0.5
  d_real, d_fake = tf.constant([2.0, 0.5]), tf.constant([0.5, -3.0])
  np.testing.assert_allclose(losses.critic_loss(d_real, d_fake, "hinge").numpy(), [1.5, 0.5])
  np.testing.assert_allclose(losses.generator_adversarial_loss(d_fake, "hinge").numpy(), [-0.5, 3.0])


def test_r1_penalty_of_a_linear_critic():
  # D(x) = sum(w * x): grad = w, ||w||^2 = 1 + 4 + 9 = 14 for every example
  w = tf.constant([1.0, -2.0, 3.0])
  r1 = losses.r1_penalty(lambda x: tf.reduce_sum(x * w, axis=1, keepdims=True), tf.ones([2, 3]))
  np.testing.assert_allclose(r1.numpy(), [14.0, 14.0], rtol=1e-6)


def test_entropy_and_cross_entropy_by_hand():
  np.testing.assert_allclose(losses.entropy(tf.constant([[0.5, 0.5], [1.0, 0.0]])).numpy(), [np.log(2), 0.0],
                             atol=1e-6)
  # target (0.5, 0.5), logits (0, 0): -(0.5 log 0.5 + 0.5 log 0.5) = log 2
  np.testing.assert_allclose(losses.cross_entropy(tf.constant([[0.5, 0.5]]), tf.zeros([1, 2])).numpy(), [np.log(2)],
                             rtol=1e-6)


def test_steepness_is_rms_change_over_step():
  x = tf.zeros([2, 2, 2, 1])
  # row 0: one of 4 pixels moves by 0.4 -> rms 0.2; row 1: all move by 0.1 -> rms 0.1; step 0.05
  near = tf.constant([[0.4, 0, 0, 0], [0.1, 0.1, 0.1, 0.1]], tf.float32)
  s = losses.steepness(x, tf.reshape(near, [2, 2, 2, 1]), 0.05).numpy()
  np.testing.assert_allclose(s, [4.0, 2.0], rtol=1e-5)
