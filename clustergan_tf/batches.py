"""A model function run over an array in batches, traced once."""

import numpy as np
import tensorflow as tf


def run(fn, x, batch_size=1000):
  """fn (tensor [B, ...] -> nested tensors) over x [N, ...] in batches of batch_size rows: one output per batch.

  fn is traced once, as a concrete function with a free batch dimension: a concrete function stays outside
  TF's count of frequent retracing, which would warn when many models are evaluated in one process
  (select_k, reproduce, --starts) although each traces once."""
  spec = tf.TensorSpec([None, *np.shape(x)[1:]], tf.as_dtype(np.asarray(x[:1]).dtype))
  concrete = tf.function(fn, autograph=False).get_concrete_function(spec)  # autograph off: no AST warning
  return [concrete(tf.constant(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
