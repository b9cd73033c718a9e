"""Adam applied by TensorFlow's fused kernel: the step's optimizer updates in one pass per variable.

Keras 3's Adam writes its update as about twelve elementwise ops, each a pass over the variable's memory;
on a CPU, for the MNIST nets' 6.4M-weight dense layers, those passes cost more than the matmuls
(BUILD_NOTES, "Speed of the training step"). `ResourceApplyAdam` computes the same rule in one pass.
"""

import keras
import tensorflow as tf


class FusedAdam(keras.optimizers.Adam):
  """keras.optimizers.Adam with the same update (epsilon added to sqrt(v), bias-corrected step size)
  applied by `tf.raw_ops.ResourceApplyAdam`; AMSGrad and sparse gradients take Keras's own path."""

  def update_step(self, gradient, variable, learning_rate):
    if self.amsgrad or isinstance(gradient, tf.IndexedSlices):
      return super().update_step(gradient, variable, learning_rate)
    dtype = variable.dtype
    index = self._get_variable_index(variable)
    t = tf.cast(self.iterations + 1, dtype)
    beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
    tf.raw_ops.ResourceApplyAdam(
        var=variable.handle, m=self._momentums[index].handle, v=self._velocities[index].handle,
        beta1_power=tf.pow(beta_1, t), beta2_power=tf.pow(beta_2, t), lr=tf.cast(learning_rate, dtype),
        beta1=beta_1, beta2=beta_2, epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype))


def decay_factor(done, decay_from):
  """Learning-rate multiplier for the fraction of training done (in [0, 1]): 1 until decay_from, then
  linear to 0 at the end (budgeted training: the rate reaches 0 when the budget does). decay_from 1: always 1."""
  if decay_from >= 1 or done <= decay_from:
    return 1.0
  return max(0.0, (1.0 - done) / (1.0 - decay_from))
