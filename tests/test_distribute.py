import dataclasses

import numpy as np
import pytest

from clustergan_tf import checkpoint, distribute, train_lib
from clustergan_tf.errors import UsageError


def _weights(cfg, data):
  """Every weight of G, D and E by name, except two kinds that do not change what is trained: the bias
  of a layer that feeds a BatchNorm (BN removes it, so its exact gradient is 0 and its rounding noise,
  scaled up by Adam, moves it by ~lr per step), and the critic's BN moving statistics (which follow
  that bias; D only ever runs in training mode, on batch statistics)."""
  return _named(checkpoint.load_model(cfg, data, cfg.model_dir))


def _initial_weights(cfg, data):
  """`_weights` of a model before training: initial weights are a function of cfg.seed."""
  import keras
  from clustergan_tf import model as model_lib
  keras.utils.set_random_seed(cfg.seed)
  return _named(model_lib.build(cfg, data.data_shape, data.bounded))


def _named(model):
  nets = (model.generator, model.discriminator, model.encoder)
  return {f"{net.name}/{v.path}": v.numpy() for net in nets for v in net.weights
          if not _feeds_batchnorm(net, v) and not (net is model.discriminator and not v.trainable)}


def _feeds_batchnorm(net, variable):
  import keras
  for layer, following in zip(net.layers, net.layers[1:]):
    if isinstance(following, keras.layers.BatchNormalization) and variable is getattr(layer, "bias", None):
      return True
  return False


RECIPES = {
    "paper": {},
    # the fast recipe with the real-data terms: BatchNorm critic, moving averages, a batch-level balance term
    "fast_real": dict(loss="gan", critic_norm="batch", ema_decay=0.9, real_data_weight=1.0),
    # + the z_n smoothness penalty, whose batch mean is all-reduced over replicas, and the learning-rate
    # decay, whose fraction of training done is read through a collective of the chief's clock
    "hinge_r1": dict(loss="hinge", critic_norm="layer", r1_weight=1.0, r1_every=2, zn_smoothness_weight=2.0,
                     lr_decay_from=0.25),  # steps 3-4 at 2/3 of the rates
}
# Weights compared: 10 kernels + 10 biases (G 3 + D 3 + E 4 dense layers); the BatchNorm critic drops fc2's
# bias (it feeds norm2) and adds norm2's gamma and beta; the LayerNorm critic adds gamma and beta.
WEIGHT_COUNTS = {"paper": 20, "fast_real": 21, "hinge_r1": 22}


@pytest.mark.parametrize("recipe", RECIPES)
def test_two_replicas_train_like_one(tiny_config, tiny_data, tmp_path, recipe):
  """Same seed, global batch and data: 2 mirrored replicas end with the weights of 1 replica.

  The only difference is the order of float32 sums (per-replica partial sums, then an
  all-reduce), ~1e-7 relative per op. Where one critic pass holds real and fake rows, a bias
  gradient is a sum of nearly cancelling terms, whose relative rounding error (~1e-3) Adam
  turns into steps of ~lr * 1e-3: measured 1.5e-6 after 4 steps at lr 1e-3 (7.5e-9 with
  separate passes), 2.6e-5 for the first-layer bias of the BatchNorm critic's joint pass
  (statistics per half); bound 5e-5. A wrong loss scaling, per-replica noise or per-replica
  BatchNorm statistics would differ by ~lr = 1e-3 or more.
  """
  # XLA draws other random numbers than plain TF, and logical-CPU replicas cannot use XLA: compare without.
  tiny_config = dataclasses.replace(tiny_config, logdir="none", **RECIPES[recipe])
  one = dataclasses.replace(tiny_config, model_dir=str(tmp_path / "one"), jit_compile=False)
  two = dataclasses.replace(tiny_config, model_dir=str(tmp_path / "two"), strategy="mirrored", cpu_replicas=2,
                            jit_compile=False)
  train_lib.train(one, data=tiny_data)
  train_lib.train(two, data=tiny_data)
  w1, w2 = _weights(one, tiny_data), _weights(two, tiny_data)
  assert w1.keys() == w2.keys() and len(w1) == WEIGHT_COUNTS[recipe]
  # no kernel is left out: G fc1, fc2, out; D fc1, fc2, out; E fc1, fc2, zn_dense, zc_dense
  assert len([k for k in w1 if k.endswith("kernel")]) == 10
  worst = max(float(np.max(np.abs(w1[k] - w2[k]))) for k in w1)
  if tiny_config.ema_decay:
    a1, a2 = (checkpoint.load_model(c, tiny_data, c.model_dir).ema_weights for c in (one, two))
    worst = max(worst, max(float(np.max(np.abs(x.numpy() - y.numpy()))) for x, y in zip(a1, a2)))
  print("max |w1 - w2| =", worst)
  assert worst < 5e-5, worst
  if tiny_config.lr_decay_from < 1:  # the step-4 checkpoint holds the rate of steps 3-4: (1 - 2/4) / (1 - 1/4)
    for c in (one, two):
      rate = checkpoint.load_model(c, tiny_data, c.model_dir).g_optimizer.learning_rate
      assert float(rate.numpy()) == pytest.approx(2 / 3 * c.learning_rate)
  # the bound means something: every kernel moved from its initial value by 20x more than it
  w0 = _initial_weights(one, tiny_data)
  moved = [float(np.max(np.abs(w1[k] - w0[k]))) for k in w1 if k.endswith("kernel")]
  print("max |w1 - w0| per kernel:", moved)
  assert min(moved) > 1e-3, moved
  assert max(moved) < 0.03, moved  # <= ~1.6 lr per Adam step: w0 are the weights training started from


def test_batch_not_divisible_by_replicas(tiny_config, tiny_data):
  bad = dataclasses.replace(tiny_config, batch_size=7, strategy="mirrored", cpu_replicas=2)
  with pytest.raises(UsageError, match="--batch_size=7 is not divisible by the 2 replicas"):
    train_lib.train(bad, data=tiny_data)


def test_unknown_strategy():
  with pytest.raises(UsageError, match="--strategy='tpu' is unknown"):
    distribute.make_strategy("tpu")
