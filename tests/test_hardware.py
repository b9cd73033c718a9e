"""--precision=auto: the processor's flags decide bfloat16 and XLA; explicit settings are left alone."""

import io
import json
import os

import pytest

from clustergan_tf import hardware
from clustergan_tf.config import Config, validate
from clustergan_tf.errors import UsageError

CPUINFO = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 avx2 fma amx_bf16 amx_tile\n\n" \
          "processor\t: 1\nflags\t\t: fpu\n"
IMAGES, VECTORS = (28, 28, 1), (64,)


def test_cpu_flags_reads_the_first_cpu(tmp_path):
  path = tmp_path / "cpuinfo"
  path.write_text(CPUINFO)
  assert hardware.cpu_flags(str(path)) == {"fpu", "sse2", "avx2", "fma", "amx_bf16", "amx_tile"}


def test_cpu_flags_of_an_unreadable_file_are_empty(tmp_path):
  assert hardware.cpu_flags(str(tmp_path / "missing")) == frozenset()


@pytest.mark.parametrize("flags, jit, conv, expected", [
    ({"avx2", "amx_bf16"}, True, True, ("mixed_bfloat16", False)),  # native bf16: XLA off (slower there)
    ({"avx512f", "avx512_bf16"}, True, True, ("mixed_bfloat16", False)),
    ({"avx2", "amx_bf16"}, True, False, ("float32", True)),  # MLPs: bf16 not measured, XLA as asked
    ({"avx2", "fma"}, True, True, ("float32", True)),  # emulated bf16: float32, XLA as asked
    ({"avx2", "fma"}, False, True, ("float32", False)),
    (set(), True, True, ("float32", True)),  # not Linux x86: nothing known
])
def test_fastest_on_a_cpu(flags, jit, conv, expected, monkeypatch):
  monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
  assert hardware.fastest(flags, [], jit, conv)[:2] == expected


def test_fastest_without_onednn_keeps_float32(monkeypatch):
  monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
  assert hardware.fastest({"amx_bf16"}, [], True)[:2] == ("float32", True)


@pytest.mark.parametrize("jit", [True, False])
@pytest.mark.parametrize("gpus, expected", [
    ([(8, 0)], "mixed_bfloat16"),
    ([(9, 0), (8, 6)], "mixed_bfloat16"),
    ([(7, 5)], "float32"),
    ([(8, 0), (7, 0)], "float32"),  # replicas must agree: the oldest decides
])
def test_fastest_on_gpus_keeps_xla_as_asked(gpus, expected, jit):
  """GPUs decide, whatever the host CPU has."""
  assert hardware.fastest({"amx_bf16"}, gpus, jit)[:2] == (expected, jit)


def test_resolve_leaves_an_explicit_precision_alone():
  cfg = Config(precision="mixed_bfloat16", jit_compile=True)
  assert hardware.resolve(cfg, IMAGES, io.StringIO()) is cfg


@pytest.mark.parametrize("flags, shape, line", [
    ({"avx2"}, IMAGES, "--precision=auto: float32, XLA on (CPU without amx_bf16/avx512_bf16"),
    ({"amx_bf16"}, IMAGES, "--precision=auto: mixed_bfloat16, XLA off (CPU with amx_bf16"),
    ({"amx_bf16"}, VECTORS, "--precision=auto: float32, XLA on (CPU with amx_bf16, but"),
])
def test_resolve_auto_says_what_it_chose(flags, shape, line, monkeypatch):
  monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
  monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset(flags))
  monkeypatch.setattr(hardware, "gpu_capabilities", lambda: [])
  out = io.StringIO()
  cfg = hardware.resolve(Config(precision="auto"), shape, out)
  assert out.getvalue().startswith(line)
  assert cfg.precision in line and ("XLA on" in line) == cfg.jit_compile


def test_resolve_for_cpu_replicas_ignores_gpus(monkeypatch):
  monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx2"}))
  monkeypatch.setattr(hardware, "gpu_capabilities", lambda: [(9, 0)])
  assert hardware.resolve(Config(precision="auto"), IMAGES).precision == "mixed_bfloat16"
  cfg = Config(precision="auto", strategy="mirrored", cpu_replicas=2)
  assert hardware.resolve(cfg, IMAGES).precision == "float32"


def test_auto_is_refused_with_several_workers():
  validate(Config(precision="auto"))
  with pytest.raises(UsageError, match="--precision=auto would let each worker choose"):
    validate(Config(precision="auto", strategy="multi_worker"))


@pytest.mark.parametrize("cores, gpus, expected", [
    (2, False, (1, 2)),  # measured: 2 streams of 1 thread beat TF's defaults on a 2-core CPU
    (1, False, (1, 2)),
    (16, False, (8, 2)),
    (16, True, None),  # GPU machines keep TF's pools
])
def test_thread_pools(cores, gpus, expected):
  assert hardware.thread_pools(cores, gpus) == expected
  assert hardware.thread_pools(cores, gpus, xla=True) is None  # an XLA step keeps TF's pools


@pytest.mark.parametrize("precision, jit_compile, dataset, flags, expected", [
    ("float32", True, "mnist", {"avx512_bf16"}, True),  # explicit settings are kept
    ("mixed_bfloat16", False, "mnist", {"avx2"}, False),
    ("auto", True, "mnist", {"avx512_bf16"}, False),  # auto: bfloat16 without XLA for the conv nets
    ("auto", True, "digits", {"avx512_bf16"}, True),  # ... the MLPs keep float32 with XLA
    ("auto", True, "mnist", {"avx2"}, True),  # ... as does a CPU without native bfloat16
    ("auto", False, "mnist", {"avx2"}, False),
])
def test_step_uses_xla_as_resolve_decides(monkeypatch, precision, jit_compile, dataset, flags, expected):
  monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset(flags))
  monkeypatch.setattr(hardware, "gpu_capabilities", lambda: [])  # as on a machine without GPUs
  monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
  cfg = Config(dataset=dataset, precision=precision, jit_compile=jit_compile)
  assert hardware.step_uses_xla(cfg) == expected
  if precision == "auto":
    assert hardware.resolve(cfg, (28, 28, 1) if dataset == "mnist" else (64,)).jit_compile == expected


@pytest.mark.parametrize("settings, workers, expected", [
    (dict(strategy="mirrored", cpu_replicas=2), 0, False),  # several CPU replicas: XLA does not compile the step
    (dict(strategy="multi_worker"), 2, False),  # ... nor on several CPU workers
    (dict(strategy="multi_worker"), 1, True),
    (dict(strategy="mirrored"), 0, True),  # one replica
    (dict(strategy="multi_worker"), -1, True),  # unreadable TF_CONFIG: left to TensorFlow to report
])
def test_step_uses_xla_not_on_several_cpu_replicas(monkeypatch, settings, workers, expected):
  tf_config = {"cluster": {"worker": [f"host{i}:1" for i in range(workers)]}, "task": {"type": "worker", "index": 0}}
  monkeypatch.setenv("TF_CONFIG", "{not json" if workers < 0 else json.dumps(tf_config) if workers else "")
  assert hardware.step_uses_xla(Config(precision="float32", jit_compile=True, **settings)) == expected


def test_set_threads_keeps_tensorflow_pools_for_an_xla_step(monkeypatch):
  for v in hardware.THREAD_ENV:
    monkeypatch.delenv(v, raising=False)
  import tensorflow as tf
  monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])  # as on a machine without GPUs
  for getter in ("get_intra_op_parallelism_threads", "get_inter_op_parallelism_threads"):
    monkeypatch.setattr(tf.config.threading, getter, lambda: 0)  # pools not set yet in this process
  monkeypatch.setattr(hardware, "_said", {"xla": False})
  outs = [io.StringIO(), io.StringIO()]
  for out in outs:  # a second training in the process (reproduce, select_k): said once
    assert hardware.set_threads(Config(precision="float32", jit_compile=True), out) is None
  assert outs[0].getvalue().startswith("--threads=auto: TensorFlow's pools (the step is XLA-compiled")
  assert outs[1].getvalue() == ""


@pytest.mark.parametrize("threads, env", [("tensorflow", {}), ("auto", {"TF_NUM_INTRAOP_THREADS": "3"}),
                                          ("auto", {"TF_NUM_INTEROP_THREADS": "1"})])
def test_set_threads_leaves_tensorflow_pools_when_asked_or_set_by_the_user(monkeypatch, threads, env):
  for k, v in env.items():
    monkeypatch.setenv(k, v)
  out = io.StringIO()
  assert hardware.set_threads(Config(threads=threads), out) is None
  assert out.getvalue() == ""


def test_set_threads_sets_the_pools_before_the_runtime_starts():
  """In a fresh process (this one's runtime may have started): the pools of a step without XLA are set, said in
  one line, and a second call (a second training in the same process) keeps them silently."""
  import subprocess
  import sys
  code = ("import io; from clustergan_tf import hardware; from clustergan_tf.config import Config; "
          "import tensorflow as tf; cfg = Config(jit_compile=False); out = io.StringIO(); "
          "first = hardware.set_threads(cfg, out); tf.constant(1.0) + 1; again = io.StringIO(); "
          "second = hardware.set_threads(cfg, again); "
          "t = tf.config.threading; "
          "now = (t.get_intra_op_parallelism_threads(), t.get_inter_op_parallelism_threads()); "
          "gpus = bool(tf.config.list_physical_devices('GPU')); "
          "print(first, second, now, gpus, hardware.cores(), repr(out.getvalue()), repr(again.getvalue()), sep='|')")
  env = {k: v for k, v in os.environ.items() if k not in hardware.THREAD_ENV}
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  first, second, now, gpus, cores, said, said_again = proc.stdout.strip().split("|")
  if gpus == "True":
    pytest.skip("a GPU machine keeps TensorFlow's pools")
  pools = hardware.thread_pools(int(cores), False)
  assert (first, second, now) == (str(pools),) * 3
  assert said.startswith(f"'--threads=auto: {pools[1]} inter-op streams of {pools[0]} intra-op thread(s)")
  assert said_again == "''"
