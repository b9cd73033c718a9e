import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from clustergan_tf import distribute, train_lib
from clustergan_tf.errors import UsageError


def _weights(cfg, data):
  model = train_lib.load_model(cfg, data, cfg.model_dir)
  nets = (model.generator, model.discriminator, model.encoder)
  return {f"{net.name}/{v.path}": v.numpy() for net in nets for v in net.weights}


def test_two_replicas_train_like_one(tiny_config, tiny_data, tmp_path):
  """Same seed, global batch and data: 2 mirrored replicas end with the weights of 1 replica.

  The only difference is the order of float32 sums (per-replica partial sums, then an
  all-reduce), ~1e-7 relative per op; after 4 Adam steps at lr 1e-3 the weights agree
  to ~1e-8 (measured 5.6e-9; bound 1e-6) (a wrong loss scaling or per-replica noise would differ
  by ~lr = 1e-3 or more).
  """
  # XLA draws other random numbers than plain TF, and logical-CPU replicas cannot use XLA: compare without.
  one = dataclasses.replace(tiny_config, model_dir=str(tmp_path / "one"), jit_compile=False)
  two = dataclasses.replace(tiny_config, model_dir=str(tmp_path / "two"), strategy="mirrored", cpu_replicas=2,
                            jit_compile=False)
  train_lib.train(one, data=tiny_data)
  train_lib.train(two, data=tiny_data)
  w1, w2 = _weights(one, tiny_data), _weights(two, tiny_data)
  assert w1.keys() == w2.keys() and len(w1) > 10
  worst = max(float(np.max(np.abs(w1[k] - w2[k]))) for k in w1)
  print("max |w1 - w2| =", worst)
  assert worst < 1e-6, worst
  moved = max(float(np.max(np.abs(w1[k]))) for k in w1 if "kernel" in k)
  assert moved > 0


def test_batch_not_divisible_by_replicas(tiny_config, tiny_data):
  bad = dataclasses.replace(tiny_config, batch_size=7, strategy="mirrored", cpu_replicas=2)
  with pytest.raises(UsageError, match="--batch_size=7 is not divisible by the 2 replicas"):
    train_lib.train(bad, data=tiny_data)


def test_unknown_strategy():
  with pytest.raises(UsageError, match="--strategy='tpu' is unknown"):
    distribute.make_strategy("tpu")
