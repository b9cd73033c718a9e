"""A tf.distribute strategy from a name: `default`, `mirrored` (all local GPUs, or N logical CPUs) or `multi_worker`."""

import json
import os

import tensorflow as tf

from clustergan_tf.errors import UsageError

STRATEGIES = ("default", "mirrored", "multi_worker")


def split_cpu(num_replicas):
  """Splits the one physical CPU into `num_replicas` logical devices (call before TF touches devices)."""
  cpus = tf.config.list_physical_devices("CPU")
  try:
    tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * num_replicas)
  except RuntimeError:  # already initialised: fine if it was split the same way
    current = len(tf.config.list_logical_devices("CPU"))
    if current != num_replicas:
      raise UsageError(f"--cpu_replicas={num_replicas}: TensorFlow's devices were already initialised "
                       f"with {current} CPU(s); set it before anything else runs") from None


def make_strategy(name="default", cpu_replicas=0):
  """Creates the strategy (before any model or optimizer).

  cpu_replicas > 1 makes `mirrored` run that many replicas on logical CPU devices,
  the documented way to exercise multi-replica code on a CPU-only machine.
  """
  if name not in STRATEGIES:
    raise UsageError(f"--strategy={name!r} is unknown; use one of {', '.join(STRATEGIES)}")
  if cpu_replicas < 0:
    raise UsageError(f"--cpu_replicas={cpu_replicas} must be >= 0")
  if name == "default":
    if cpu_replicas > 1:
      raise UsageError("--cpu_replicas needs --strategy=mirrored")
    return tf.distribute.get_strategy()
  if name == "mirrored":
    if cpu_replicas > 1:
      split_cpu(cpu_replicas)
      devices = [f"/cpu:{i}" for i in range(cpu_replicas)]
      return tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
    return tf.distribute.MirroredStrategy()
  try:
    return tf.distribute.MultiWorkerMirroredStrategy()
  except tf.errors.UnknownError as e:
    if "Could not start gRPC server" not in str(e):
      raise
    raise UsageError(f"--strategy=multi_worker: Could not start gRPC server on this worker's TF_CONFIG address "
                     f"{_own_address()} (another process holds the port?); stop that process or give this worker a "
                     "free port in TF_CONFIG") from None


def _own_address():
  """This worker's host:port in TF_CONFIG, or '?' where TF_CONFIG does not say."""
  try:
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    return config["cluster"][config["task"]["type"]][int(config["task"]["index"])]
  except (ValueError, KeyError, IndexError, TypeError):
    return "?"


def several_cpu_replicas(cfg):
  """Whether cfg will train on several replicas where there is no GPU (--cpu_replicas, or several workers in
  TF_CONFIG), which `supports_xla` rules out; known before the strategy exists (thread pools are set first)."""
  if cfg.cpu_replicas > 1:
    return True
  if cfg.strategy != "multi_worker":
    return False
  try:
    cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
  except (ValueError, AttributeError):  # TensorFlow's own reading of TF_CONFIG reports it
    return False
  return sum(len(cluster.get(kind, [])) for kind in ("chief", "worker")) > 1


def is_chief(strategy):
  """True on the process that writes checkpoints, metrics and logs (worker 0 / the only one)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.cluster_spec().as_dict():
    return True
  return resolver.task_type in ("chief", None) or (
      resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().as_dict())


def supports_xla(strategy):
  """XLA-compiled replica steps work on one replica or on GPU replicas. On CPU replicas they do not:
  logical-CPU variables live on another device, and XLA has no CPU collectives (b/194942685)."""
  if strategy.num_replicas_in_sync == 1:
    return True
  return all("GPU" in d.upper() for d in strategy.extended.worker_devices)
