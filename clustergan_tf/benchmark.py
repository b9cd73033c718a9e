"""Times the training step of each recipe side by side, against the machine's matmul FLOP/s in the same run.

  python -m clustergan_tf.benchmark [--recipes=paper,fast,...] [--network=conv --batch_size=64 --precision=auto]

FLOPs per step are counted by TensorFlow's profiler on the traced train_step graph (ops with
registered FLOP statistics: MatMul, Conv2D and its two backprops, ...), not estimated.
"""

from clustergan_tf import cli  # noqa: F401  (quiet TF start-up first)

import functools
import os
import sys
import time

from absl import flags

from clustergan_tf import config as config_lib
from clustergan_tf import hardware

# Each recipe: the Config fields it sets on top of the network's defaults (latent_dim 30, batch 64).
_FAST = dict(loss="gan", n_critic=1, critic_norm="batch", ema_decay=0.999)  # InfoGAN's schedule + moving average
_FAST_SMOOTH = dict(_FAST, zn_smoothness_weight=2.0)
_FAST_SMOOTH_W050 = dict(_FAST_SMOOTH, net_width=0.5)  # half-width networks
RECIPES = {
    "paper": dict(loss="wgan-gp", n_critic=5),  # mnist.flags
    "wgan_gp_2": dict(loss="wgan-gp", n_critic=2),  # the first mnist_cpu.flags
    "gan_bn": dict(loss="gan", n_critic=1, critic_norm="batch"),  # InfoGAN's settings
    "hinge_sn": dict(loss="hinge", n_critic=1, critic_norm="spectral"),
    "gan_r1_lazy": dict(loss="gan", n_critic=1, r1_weight=1.0, r1_every=16),
    "gan_bn_augment": dict(loss="gan", n_critic=1, critic_norm="batch", augment_shift=2.0, augment_rotate=10.0),
    "fast": _FAST,  # without the smoothness penalty
    "fast_real": dict(_FAST, real_data_weight=1.0),  # + the real-data extension (mnist_real.flags)
    "fast_smooth": _FAST_SMOOTH,  # + the z_n smoothness penalty (G over 2b rows): mnist_cpu.flags at the paper's widths
    "fast_smooth_w075": dict(_FAST_SMOOTH, net_width=0.75),  # image networks at 3/4 width (conv only)
    "fast_smooth_w050": _FAST_SMOOTH_W050,  # ... at half width
    # ... + E recovers z_c from a shifted and rotated G(z) (a warp and a second encoder pass over b rows)
    "fast_smooth_w050_aug": dict(_FAST_SMOOTH_W050, augment_shift=2.0, augment_rotate=10.0),
    # ... + a random shear in the same warp
    "fast_smooth_w050_shear": dict(_FAST_SMOOTH_W050, augment_shift=2.0, augment_rotate=10.0, augment_shear=0.3),
}
MNIST_CPU = "fast_smooth_w050_shear"  # the recipe of mnist_cpu.flags (a test holds the two together)

FLAGS = flags.FLAGS


def define_flags(flag_values=flags.FLAGS):
  """This command's flags (on flag_values: tests parse them on their own FlagValues)."""
  fv = dict(flag_values=flag_values)
  flags.DEFINE_list("recipes", list(RECIPES), f"Recipes to time, from {', '.join(RECIPES)}.", **fv)
  flags.DEFINE_enum("network", "conv", ["conv", "mlp"],
                    "conv: the paper's 28x28 MNIST nets; mlp: 256-256 on 64-d digits (moved as 8x8 images).", **fv)
  flags.DEFINE_integer("batch_size", 64, "Batch size per update.", lower_bound=1, **fv)
  flags.DEFINE_enum("precision", "auto", list(config_lib.PRECISIONS),
                    "Compute precision (auto: this machine's fastest, as --precision=auto of train).", **fv)
  flags.DEFINE_boolean("jit_compile", True, "XLA-compile the train step (--precision=auto turns it off for the "
                       "conv nets on CPUs with native bfloat16, where it was slower). The matmul is timed both ways.",
                       **fv)
  flags.DEFINE_enum("threads", "auto", list(config_lib.THREADS),
                    "TensorFlow's CPU thread pools, as --threads of train (the matmul runs as many products side by "
                    "side as the cores hold ops of the intra-op pool's size, so that it too can use every core).", **fv)
  flags.DEFINE_integer("steps", 10, "Timed generator steps per recipe and round (after 2 warm-up steps).",
                       lower_bound=1, **fv)
  flags.DEFINE_integer("rounds", 5, "Rounds; each times every recipe, and the matmul by TF and by XLA for 2 s each "
                       "(medians reported).", lower_bound=1, **fv)
  flags.DEFINE_integer("matmul_size", 4096, "Size n of the n x n matmul that measures the practical peak.",
                       lower_bound=1, **fv)


def count_flops(concrete_function):
  """FLOPs of one call of a concrete function, by TF's profiler (registered op statistics)."""
  from tensorflow.python.profiler import model_analyzer, option_builder
  from tensorflow.python.util import deprecation
  opts = option_builder.ProfileOptionBuilder(
      option_builder.ProfileOptionBuilder.float_operation()).with_empty_output().build()
  with deprecation.silence():  # the profiler calls a TF1 helper that warns on every use; nothing for a user to do
    return model_analyzer.profile(concrete_function.graph, options=opts).total_float_ops


@functools.lru_cache(maxsize=None)
def matmul_program(n, dtype, jit_compile, streams):
  """(traced function, its inputs): `streams` independent n x n x n matmuls per call, each product a cluster of its
  own so that the streams run side by side (in one XLA cluster they would run one after another). Built once per
  setting, so that every round times the same program (and TF does not warn of retracing)."""
  import tensorflow as tf
  a = [tf.cast(tf.random.normal([n, n], seed=i, dtype=tf.float32), dtype) for i in range(streams)]
  product = tf.function(lambda x: tf.linalg.matmul(x, x)[0, 0], autograph=False, jit_compile=jit_compile)
  return tf.function(lambda xs: [product(x) for x in xs], autograph=False), a


def matmul_flops_per_sec(n, dtype, jit_compile=False, seconds=2.0, streams=1):
  """FLOP/s of `matmul_program` (one product per inter-op stream, on the steps' threads), compiled by TF (its oneDNN
  kernels where TF turns them on; Eigen's on CPUs without AVX512_VNNI/BF16/AMX) or by XLA; timed for `seconds`."""
  f, a = matmul_program(n, dtype, jit_compile, streams)
  [o.numpy() for o in f(a)]
  calls, start = 0, time.perf_counter()
  while not calls or time.perf_counter() - start < seconds:
    [o.numpy() for o in f(a)]
    calls += 1
  return 2 * n ** 3 * calls * streams / (time.perf_counter() - start)


def matmul_peak(n, dtype, streams=1, seconds=2.0):
  """The practical peak: the faster of TF's and XLA's matmul in this precision ({"tf": FLOP/s, "xla": FLOP/s}).
  Either can be the faster (float32 on an AVX2-only CPU: XLA 92-102 vs TF 77 GFLOP/s; on a CPU with AVX512_BF16 TF's
  is, in both precisions), and a step compiled one way is judged against the best matmul, not its own compiler's."""
  return {name: matmul_flops_per_sec(n, dtype, jit, seconds, streams) for name, jit in (("tf", False), ("xla", True))}


def matmul_streams(num_cores):
  """How many products the peak runs side by side: enough ops of the intra-op pool's size to fill every core (2 on 2
  cores under --threads=auto's one-thread streams, 1 under TF's pools, whose ops use every core)."""
  import tensorflow as tf
  intra = (tf.config.threading.get_intra_op_parallelism_threads() or int(os.environ.get("TF_NUM_INTRAOP_THREADS") or 0)
           or num_cores)
  return max(1, num_cores // intra)


def prepare_recipe(cfg, shape, jit_compile):
  """(warmed-up train_step function, its batch, FLOPs per generator step) of cfg on random data of shape."""
  import numpy as np
  import tensorflow as tf

  from clustergan_tf import model
  config_lib.validate(cfg)
  m = model.build(cfg, shape, True)
  x = tf.constant(np.random.default_rng(0).random((cfg.batch_size * cfg.n_critic, *shape), np.float32))
  flops = count_flops(tf.function(m.train_step).get_concrete_function(tf.TensorSpec(x.shape, tf.float32)))
  step = tf.function(m.train_step, jit_compile=jit_compile)
  for _ in range(2):
    step(x)["g_loss"].numpy()
  return step, x, flops


def steps_per_sec(step, x, steps):
  """Generator steps per second over `steps` calls of step(x)."""
  t = time.perf_counter()
  for _ in range(steps):
    logs = step(x)
  logs["g_loss"].numpy()
  return steps / (time.perf_counter() - t)


def check_recipes(names):
  """Raises UsageError naming --recipes unless it names at least one recipe, each of RECIPES (checked before the
  minute of set-up and timing)."""
  from clustergan_tf.errors import UsageError
  if not names:
    raise UsageError(f"--recipes is empty: name at least one of {', '.join(RECIPES)}")
  unknown = [r for r in names if r not in RECIPES]
  if unknown:
    raise UsageError(f"--recipes: unknown {', '.join(unknown)}; choose from {', '.join(RECIPES)}")


def main(argv):
  check_recipes(FLAGS.recipes)  # before TensorFlow's start-up
  import numpy as np
  import tensorflow as tf

  image = FLAGS.network == "conv"
  shape = (28, 28, 1) if image else (64,)
  asked = config_lib.Config(dataset="mnist" if image else "digits", precision=FLAGS.precision,
                            jit_compile=FLAGS.jit_compile, threads=FLAGS.threads)
  hardware.set_threads(asked, sys.stdout)
  streams = matmul_streams(hardware.cores())
  compute = hardware.resolve(asked, shape, sys.stdout)
  mm_dtype = tf.bfloat16 if compute.precision == "mixed_bfloat16" else tf.float32
  prepared = {}
  for name in FLAGS.recipes:
    settings = dict(RECIPES[name])
    if not image:
      settings.pop("net_width", None)  # scales the conv nets only
    cfg = config_lib.Config(dataset="mnist" if image else "digits", batch_size=FLAGS.batch_size, latent_dim=30,
                            precision=compute.precision, **settings)
    prepared[name] = (cfg, *prepare_recipe(cfg, shape, compute.jit_compile))
  # Rounds interleave the recipes and the matmul, so that a slow spell of the machine hits all of them alike.
  rates, peaks = {name: [] for name in prepared}, []
  for _ in range(FLAGS.rounds):
    peaks.append(matmul_peak(FLAGS.matmul_size, mm_dtype, streams))
    for name, (_, step, x, _) in prepared.items():
      rates[name].append(steps_per_sec(step, x, FLAGS.steps))
  best = [max(p.values()) for p in peaks]
  peak = float(np.median(best))
  by_compiler = ", ".join(f"{name} {np.median([p[name] for p in peaks]) / 1e9:.1f}" for name in peaks[0])
  threading = tf.config.threading
  threads = (f"intra-op threads {threading.get_intra_op_parallelism_threads() or 'default'}, inter-op "
             f"{threading.get_inter_op_parallelism_threads() or 'default'}")
  print(f"network {FLAGS.network}, batch {FLAGS.batch_size}, precision {compute.precision}, jit_compile "
        f"{compute.jit_compile}, {threads}; {FLAGS.rounds} rounds of {FLAGS.steps} steps, medians; "
        f"matmul {FLAGS.matmul_size}^3 {mm_dtype.name} x {streams} stream(s), the faster of TF's and XLA's per round: "
        f"{peak / 1e9:.1f} GFLOP/s ({min(best) / 1e9:.0f}-{max(best) / 1e9:.0f} over the rounds, same run; "
        f"medians by compiler: {by_compiler})\n")
  print("| recipe | critic steps per G step | G steps/s (range) | real images/s | GFLOP per G step | GFLOP/s | "
        "of matmul |")
  print("|---|---|---|---|---|---|---|")
  for name, (cfg, _, _, flops) in prepared.items():
    rate = float(np.median(rates[name]))
    print(f"| {name} | {cfg.n_critic} | {rate:.2f} ({min(rates[name]):.2f}-{max(rates[name]):.2f}) | "
          f"{rate * cfg.batch_size * cfg.n_critic:.0f} | {flops / 1e9:.2f} | {flops * rate / 1e9:.1f} | "
          f"{100 * flops * rate / peak:.1f}% |", flush=True)


if __name__ == "__main__":
  define_flags()
  cli.run(main)
