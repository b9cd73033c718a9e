"""benchmark: every recipe is a valid configuration, and FLOPs are counted, not estimated."""

import tensorflow as tf

from clustergan_tf import benchmark
from clustergan_tf.config import Config, validate


def test_every_recipe_is_a_valid_config():
  for settings in benchmark.RECIPES.values():
    validate(Config(dataset="mnist", **settings))
  assert benchmark.RECIPES["paper"] == {"loss": "wgan-gp", "n_critic": 5}  # mnist.flags' schedule


def test_count_flops_of_a_matmul_is_2mnk():
  fn = tf.function(lambda a, b: tf.linalg.matmul(a, b))
  concrete = fn.get_concrete_function(tf.TensorSpec([2, 3]), tf.TensorSpec([3, 4]))
  assert benchmark.count_flops(concrete) == 2 * 2 * 3 * 4
