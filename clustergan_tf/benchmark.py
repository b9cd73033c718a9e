"""Times the training step and compares its FLOP/s with the machine's matmul FLOP/s, in one run.

  python -m clustergan_tf.benchmark [--network=conv --batch_size=64 --n_critic=5 --precision=float32]

FLOPs per step are counted by TensorFlow's profiler on the traced train_step graph (ops with
registered FLOP statistics: MatMul, Conv2D and its two backprops, ...), not estimated.
"""

from clustergan_tf import cli  # noqa: F401  (quiet TF start-up first)

import time

from absl import flags

flags.DEFINE_enum("network", "conv", ["conv", "mlp"], "conv: the paper's 28x28 MNIST nets; mlp: 256-256 on 64-d digits.")
flags.DEFINE_integer("batch_size", 64, "Batch size per update.")
flags.DEFINE_enum("loss", "wgan-gp", ["wgan-gp", "gan"], "Adversarial loss (gan: non-saturating, no gradient penalty).")
flags.DEFINE_integer("n_critic", 5, "Critic updates per generator update.")
flags.DEFINE_enum("precision", "float32", ["float32", "mixed_bfloat16"], "Compute precision.")
flags.DEFINE_boolean("jit_compile", True, "XLA-compile the train step.")
flags.DEFINE_integer("steps", 10, "Timed generator steps (after 2 warm-up steps).")
flags.DEFINE_integer("matmul_size", 4096, "Size n of the n x n matmul that measures the practical peak.")
FLAGS = flags.FLAGS


def count_flops(concrete_function):
  """FLOPs of one call of a concrete function, by TF's profiler (registered op statistics)."""
  from tensorflow.python.profiler import model_analyzer, option_builder
  opts = option_builder.ProfileOptionBuilder(
      option_builder.ProfileOptionBuilder.float_operation()).with_empty_output().build()
  return model_analyzer.profile(concrete_function.graph, options=opts).total_float_ops


def matmul_flops_per_sec(n, dtype, repeats=10):
  """Practical peak: FLOP/s of an n x n x n matmul chain on the same threads."""
  import tensorflow as tf
  a = tf.random.normal([n, n], dtype=tf.float32)
  a = tf.cast(a, dtype)
  f = tf.function(lambda x: tf.linalg.matmul(x, x), autograph=False)
  f(a).numpy()
  t = time.perf_counter()
  for _ in range(repeats):
    out = f(a)
  out.numpy()
  return 2 * n ** 3 * repeats / (time.perf_counter() - t)


def main(argv):
  import keras
  import numpy as np
  import tensorflow as tf

  from clustergan_tf import config, model
  shape = (28, 28, 1) if FLAGS.network == "conv" else (64,)
  cfg = config.Config(dataset="mnist" if FLAGS.network == "conv" else "digits", batch_size=FLAGS.batch_size,
                      n_critic=FLAGS.n_critic, loss=FLAGS.loss, latent_dim=30, precision=FLAGS.precision)
  keras.utils.set_random_seed(0)
  keras.mixed_precision.set_global_policy(FLAGS.precision)
  m = model.build(cfg, shape, True)
  m.compile(*model.make_optimizers(cfg))
  keras.mixed_precision.set_global_policy("float32")
  x = tf.constant(np.random.default_rng(0).random((FLAGS.batch_size * FLAGS.n_critic, *shape), np.float32))
  flops = count_flops(tf.function(m.train_step).get_concrete_function(tf.TensorSpec(x.shape, tf.float32)))
  step = tf.function(m.train_step, jit_compile=FLAGS.jit_compile)
  for _ in range(2):
    step(x)["g_loss"].numpy()
  t = time.perf_counter()
  for _ in range(FLAGS.steps):
    logs = step(x)
  logs["g_loss"].numpy()
  g_rate = FLAGS.steps / (time.perf_counter() - t)
  achieved = flops * g_rate
  mm_dtype = tf.bfloat16 if FLAGS.precision == "mixed_bfloat16" else tf.float32
  peak = matmul_flops_per_sec(FLAGS.matmul_size, mm_dtype)
  print(f"network {FLAGS.network}, loss {FLAGS.loss}, batch {FLAGS.batch_size}, n_critic {FLAGS.n_critic}, precision {FLAGS.precision}, "
        f"jit_compile {FLAGS.jit_compile}, intra-op threads {tf.config.threading.get_intra_op_parallelism_threads() or 'default'}")
  print(f"critic steps/s      {g_rate * FLAGS.n_critic:.2f}")
  print(f"generator steps/s   {g_rate:.2f}")
  print(f"real images/s       {g_rate * FLAGS.batch_size * FLAGS.n_critic:.0f}")
  print(f"FLOPs per G step    {flops / 1e9:.2f} GFLOP (counted: {FLAGS.n_critic} critic + 1 generator update)")
  print(f"achieved FLOP/s     {achieved / 1e9:.1f} GFLOP/s")
  print(f"matmul {FLAGS.matmul_size}^3 {mm_dtype.name}  {peak / 1e9:.1f} GFLOP/s (same run, same threads)")
  print(f"ratio               {100 * achieved / peak:.1f}% of the matmul rate")


if __name__ == "__main__":
  cli.run(main)
