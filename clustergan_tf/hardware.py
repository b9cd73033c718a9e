"""`--precision=auto`: the compute settings that train fastest on this machine's processor.

bfloat16 pays only where the hardware computes it: on a CPU with AMX the fast MNIST step ran 1.4x faster in
bfloat16 than in float32 (without XLA, whose bf16 convolutions were slower there); on a CPU with only AVX2,
bfloat16 (emulated) ran 5x slower than float32, and XLA made float32 1.25x faster (BUILD_NOTES: "Traps",
"Speed of the training step"). Measured on the conv nets; the MLPs keep float32 (XLA: 1.6x on AMX).
"""

import dataclasses
import os

BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo names of native bfloat16 arithmetic
BF16_GPU_CAPABILITY = (8, 0)  # Ampere and newer compute bfloat16 natively


def cpu_flags(path="/proc/cpuinfo"):
  """The instruction-set flags of the first CPU in `path` (Linux x86); empty where it cannot be read."""
  try:
    with open(path) as f:
      for line in f:
        key, _, value = line.partition(":")
        if key.strip() == "flags":
          return frozenset(value.split())
  except OSError:
    pass
  return frozenset()


def gpu_capabilities():
  """Compute capabilities (major, minor) of the visible GPUs; [] on a CPU-only machine."""
  import tensorflow as tf
  return [tuple(tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0)))
          for gpu in tf.config.get_visible_devices("GPU")]


def fastest(flags, gpus, jit_compile, conv=True):
  """(precision, jit_compile, why) for CPU flags `flags`, GPU capabilities `gpus` (which train when given), the
  requested jit_compile (kept unless it is known to be slower) and the network kind (conv: images)."""
  if gpus:
    oldest = "%d.%d" % min(gpus)
    if all(tuple(c) >= BF16_GPU_CAPABILITY for c in gpus):
      return "mixed_bfloat16", jit_compile, f"GPU compute capability {oldest} computes bfloat16 natively"
    return "float32", jit_compile, f"GPU compute capability {oldest} has no native bfloat16"
  native = sorted(set(BF16_CPU_FLAGS) & set(flags))
  if not native:
    return "float32", jit_compile, "CPU without amx_bf16/avx512_bf16: bfloat16 would be emulated, ~5x slower"
  if os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0":
    return "float32", jit_compile, "TF_ENABLE_ONEDNN_OPTS=0: TensorFlow's bfloat16 kernels are off"
  if not conv:
    return "float32", jit_compile, f"CPU with {'/'.join(native)}, but bfloat16 was measured on the conv nets only"
  return "mixed_bfloat16", False, f"CPU with {'/'.join(native)}: XLA slowed the bfloat16 conv step there"


def resolve(cfg, data_shape, out=None):
  """cfg with precision 'auto' replaced by this machine's fastest settings for data of `data_shape` (one line
  to `out`); any other cfg unchanged. CPU replicas (--cpu_replicas) train on the CPU even beside GPUs."""
  if cfg.precision != "auto":
    return cfg
  gpus = [] if cfg.cpu_replicas > 1 else gpu_capabilities()
  precision, jit_compile, why = fastest(cpu_flags(), gpus, cfg.jit_compile, conv=len(data_shape) == 3)
  if out is not None:
    print(f"--precision=auto: {precision}, XLA {'on' if jit_compile else 'off'} ({why})", file=out, flush=True)
  return dataclasses.replace(cfg, precision=precision, jit_compile=jit_compile)
