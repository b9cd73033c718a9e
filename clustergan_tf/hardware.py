"""`--precision=auto` and `--threads=auto`: the compute settings that train fastest on this machine's processor.

bfloat16 pays only where the hardware computes it: on a CPU with AMX the fast MNIST step ran 1.4x faster in
bfloat16 than in float32 (without XLA, whose bf16 convolutions were slower there); on a CPU with only AVX2,
bfloat16 (emulated) ran 5x slower than float32, and XLA made float32 1.25x faster (since the fused optimizer: within
10% either way; BUILD_NOTES: "Traps", "Speed of the training step", "Twentieth session"). Measured on the conv
nets; the MLPs keep float32 (XLA: 1.6x on AMX).
"""

import dataclasses
import os

BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo names of native bfloat16 arithmetic
BF16_GPU_CAPABILITY = (8, 0)  # Ampere and newer compute bfloat16 natively
THREAD_ENV = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")  # a user's own choice of TF's thread pools


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


def cores():
  """CPU cores this process may run on (the affinity mask where the OS has one: containers limit it)."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:
    return os.cpu_count() or 1


def thread_pools(num_cores, has_gpus, xla=False):
  """(intra-op, inter-op) threads for --threads=auto, or None for TensorFlow's defaults (GPU machines, and a step
  compiled by XLA). The uncompiled step's graph has about two independent branches at a time (D and E after G;
  one Adam kernel per variable), and its ops are small at batch 64: two streams of half the cores each beat every
  op on all cores (bfloat16 MNIST step, 2-core CPU: 14.4 vs 12.4 steps/s in training; BUILD_NOTES, thirteenth
  session). XLA makes the step one cluster, parallel only within its ops: there, half the cores per op cost the
  float32 MNIST step 1.5-1.7x (the digits MLP: the same weights, equal or faster; nineteenth session)."""
  if has_gpus or xla:
    return None
  return max(1, num_cores // 2), 2


def step_uses_xla(cfg):
  """Whether the training step of cfg is XLA-compiled on this machine's CPU: --jit_compile, unless --precision=auto
  turns it off (see `fastest`) or the step runs on several CPU replicas, which XLA does not compile
  (distribute.supports_xla)."""
  from clustergan_tf import distribute
  if distribute.several_cpu_replicas(cfg):
    return False
  if cfg.precision != "auto":
    return cfg.jit_compile
  from clustergan_tf import data as data_lib
  return fastest(cpu_flags(), [], cfg.jit_compile, conv=cfg.dataset in data_lib.CONV_DATASETS)[1]


def auto_threads(cfg):
  """Whether --threads=auto sets TensorFlow's pools: asked for, and no TF_NUM_*_THREADS of the user's own."""
  return cfg.threads == "auto" and not any(os.environ.get(v) for v in THREAD_ENV)


_said = {"xla": False}  # the XLA line is printed once per process (reproduce and select_k train many runs)


def set_threads(cfg, out=None):
  """Applies --threads=auto before TensorFlow's runtime starts (one line to `out`); keeps TF's pools for
  --threads=tensorflow, on GPU machines, for an XLA-compiled step, where the TF_NUM_*_THREADS variables are set,
  or when the runtime has already started (a second training in one process keeps the first one's pools).
  Returns (intra, inter) as set, or None."""
  import tensorflow as tf
  if not auto_threads(cfg):
    return None
  num_cores = cores()
  has_gpus = bool(tf.config.list_physical_devices("GPU")) and cfg.cpu_replicas <= 1
  xla = step_uses_xla(cfg)
  pools = thread_pools(num_cores, has_gpus, xla)
  threading = tf.config.threading
  if pools is None:
    unset = (threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads()) == (0, 0)
    if xla and not has_gpus and unset and out is not None and not _said["xla"]:
      print("--threads=auto: TensorFlow's pools (the step is XLA-compiled: one cluster, parallel within its ops)",
            file=out, flush=True)
      _said["xla"] = True
    return None
  if (threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads()) == pools:
    return pools
  try:
    threading.set_intra_op_parallelism_threads(pools[0])
    threading.set_inter_op_parallelism_threads(pools[1])
  except RuntimeError:  # the runtime is already running: its pools stay
    return None
  if out is not None:
    print(f"--threads=auto: {pools[1]} inter-op streams of {pools[0]} intra-op thread(s) ({num_cores} cores, no GPU)",
          file=out, flush=True)
  return pools
