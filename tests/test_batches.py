"""batches: a function over an array in batches, traced once."""

import logging

import numpy as np
import tensorflow as tf

from clustergan_tf import batches


def test_run_covers_every_row_in_order_with_a_last_partial_batch():
  x = np.arange(14, dtype=np.float32).reshape(7, 2)
  out = batches.run(lambda t: {"double": 2.0 * t, "sum": tf.reduce_sum(t, 1)}, x, batch_size=3)
  assert [len(c["sum"]) for c in out] == [3, 3, 1]
  np.testing.assert_array_equal(np.concatenate([c["double"].numpy() for c in out]), 2.0 * x)
  np.testing.assert_array_equal(np.concatenate([c["sum"].numpy() for c in out]), [1, 5, 9, 13, 17, 21, 25])


def test_many_models_in_one_process_log_no_retracing_warning():
  """select_k and reproduce evaluate one model after another: TF's 'triggered tf.function retracing' warning
  (five traces of one Python function in a row) must not reach the user."""
  records = []
  handler = logging.Handler()
  handler.emit = records.append
  tf.get_logger().addHandler(handler)
  try:
    x = np.ones((4, 2), np.float32)
    for scale in range(7):  # a new function each time, as a new model's would be; two batch shapes each
      batches.run(lambda t, s=float(scale): s * t, x, batch_size=3)
  finally:
    tf.get_logger().removeHandler(handler)
  assert not [r for r in records if "retracing" in r.getMessage()], [r.getMessage() for r in records]
