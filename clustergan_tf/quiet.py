"""TensorFlow's known-harmless log lines kept off stderr; every other line, errors included, still shows.

Importing this module (before TensorFlow) sets TF_CPP_MIN_LOG_LEVEL=2 unless the user set it, and makes
the first `import tensorflow` run with three kinds of start-up lines kept off stderr (see _startup_noise):
TF 2.21 logs some INFO lines from C++ static initialisers that run before its own initialiser applies
TF_CPP_MIN_LOG_LEVEL (so no setting hides them), and on a machine without an NVIDIA driver its CUDA
probe logs `failed call to cuInit` as an ERROR. `first_call` hides grappler's harmless remapper error
that the first call of the conv nets' training loop logs (see REMAPPER_NOISE). This module imports no
TensorFlow itself.
"""

import contextlib
import importlib.abc
import importlib.util
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported anywhere

# Copies stdin to stderr line by line without the lines matching argv[1]; ignores Ctrl-C (the parent handles it).
_FILTER = ("import re, signal, sys\n"
           "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
           "drop = re.compile(sys.argv[1].encode())\n"
           "for line in sys.stdin.buffer:\n"
           "  if not drop.search(line):\n"
           "    sys.stderr.buffer.write(line)\n"
           "    sys.stderr.buffer.flush()\n")


# Grappler's remapper fails to fuse the encoder's Conv2D + BiasAdd + LeakyReLU in the training loop (the
# backward LeakyReluGrad still reads the BiasAdd) and logs it as an ERROR; grappler then keeps the graph
# as it was before that pass, so the step runs unfused, as it always did.
REMAPPER_NOISE = (r"^E\d{4} [\d:. ]+\d+ meta_optimizer\.cc:\d+\] "
                  r"remapper failed: INVALID_ARGUMENT: Mutation::Apply error: fanout .* exist for missing node ")


# The TFLite converter prints its int8 quantizer's settings, and LiteRT announces its CPU delegate, on stderr by
# themselves (no log level hides either): `export` keeps both off (see stderr_without).
TFLITE_NOISE = (r"^fully_quantize: \d+, inference_type: \d+, input_inference_type: \w+, output_inference_type: \w+$"
                r"|^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.$")


def first_call(fn):
  """fn, whose first call runs with REMAPPER_NOISE kept off stderr (when a tf.function is first run,
  grappler optimises its graph); later calls run as they are."""
  called = []

  def wrapped(*args, **kwargs):
    if called:
      return fn(*args, **kwargs)
    called.append(True)
    with stderr_without(REMAPPER_NOISE):
      return fn(*args, **kwargs)

  return wrapped


def _no_nvidia_driver():
  """No NVIDIA kernel driver and no libcuda.so.1: TF's CUDA stub then fails cuInit with 303 by design."""
  if not sys.platform.startswith("linux") or os.path.exists("/proc/driver/nvidia"):
    return False
  import ctypes
  try:
    ctypes.CDLL("libcuda.so.1")  # the library TF's stub dlopens; WSL2 has it without /proc/driver/nvidia
  except OSError:
    return True
  return False


def _startup_noise(no_driver):
  """Regex of the stderr lines that importing TF and probing its devices print although nothing is wrong."""
  try:
    level = int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
  except ValueError:
    level = 0
  noise = []
  if level >= 1:  # absl's note, and the C++ INFO (level 2: and WARNING) lines logged before TF applied the level
    noise.append(r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$")
    noise.append(r"^[%s]\d{4} [\d:. ]+\d+ \S+\.(cc|cpp|h):\d+\] " % "IW"[:min(level, 2)])
  if no_driver:  # 303 = CUDA_ERROR_SHARED_OBJECT_INIT_FAILED: the stub found no libcuda.so.1 to forward to
    noise.append(r"^E\d{4} [\d:. ]+\d+ cuda_platform\.cc:\d+\] failed call to cuInit: .*\(303\)$")
  return "|".join(noise)


@contextlib.contextmanager
def stderr_without(pattern):
  """Routes file descriptor 2 (C++ logging included) through a child process that drops the lines matching
  `pattern`. A process, not a thread: the import holds the GIL while C++ logs, and if this process dies
  (a fatal TF error) the child still prints every line it was sent."""
  if not pattern or not sys.executable or sys.stderr is None:
    yield
    return
  sys.stderr.flush()
  try:
    child = subprocess.Popen([sys.executable, "-I", "-S", "-c", _FILTER, pattern], stdin=subprocess.PIPE)
  except OSError:
    yield
    return
  saved = os.dup(2)
  os.dup2(child.stdin.fileno(), 2)
  try:
    yield
  finally:
    sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)
    child.stdin.close()
    try:
      child.wait(timeout=5)  # its last lines before ours; a grandchild still holding the pipe only delays that
    except subprocess.TimeoutExpired:
      pass


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
  """Meta-path hook: the first `import tensorflow` runs inside stderr_without(_startup_noise(...)) and probes the
  devices there (that is when cuInit runs), so modules that never import TF do not pay for it."""

  def find_spec(self, name, path=None, target=None):
    if name != "tensorflow":
      return None
    if self in sys.meta_path:
      sys.meta_path.remove(self)  # once; and the other finders locate the real module
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
      return spec
    exec_module = spec.loader.exec_module

    def quiet_exec_module(module):
      no_driver = _no_nvidia_driver()
      with stderr_without(_startup_noise(no_driver)):
        exec_module(module)
        if no_driver:
          module.config.list_physical_devices()  # the CUDA probe, inside the filter (no logical devices yet)

    spec.loader.exec_module = quiet_exec_module
    return spec


if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path):
  sys.meta_path.insert(0, _QuietTensorFlowImport())
