"""Runs and validates exported models the way their users do: SavedModel signatures, a TF1 session
with the `serve` tag (as TF Serving loads it), and TFLite files through ai_edge_litert.
"""

import glob
import os

import numpy as np
import tensorflow as tf

from clustergan_tf.errors import UsageError

PREDICT_METHOD = "tensorflow/serving/predict"
EXPECTED = {
    "encoder": {"serving_default": ({"images", "features"},
                                    {"cluster", "cluster_probs", "zn", "confidence", "outlier_score"}),
                "kmeans": ({"images", "features"}, {"cluster"})},
    "generator": {"serving_default": ({"zn", "zc"}, {"images"}), "sample": ({"cluster", "seed"}, {"images"}),
                  "sample_prior": ({"count", "seed"}, {"images", "cluster"})},
}
OPTIONAL = {("encoder", "kmeans"), ("generator", "sample_prior")}  # absent from older exports


def latest_version(base):
  versions = sorted(int(d) for d in os.listdir(base) if d.isdigit()) if os.path.isdir(base) else []
  if not versions:
    raise UsageError(f"{base} holds no integer version directory (TF Serving needs BASE/NAME/<version>/); pass "
                     "the export's base directory, the one holding encoder/ and generator/")
  return os.path.join(base, str(versions[-1]))


def check_export(export_dir):
  """Validates an export directory; returns a list of human-readable lines, raises UsageError on a defect."""
  from tensorflow.python.tools import saved_model_utils
  lines, latest = [], {}
  for name, signatures in EXPECTED.items():
    path = latest_version(os.path.join(export_dir, name))
    latest[name] = os.path.basename(path)
    if not os.path.exists(os.path.join(path, "saved_model.pb")) or not os.path.isdir(os.path.join(path, "variables")):
      raise UsageError(f"{path} lacks saved_model.pb or variables/")
    try:
      meta = saved_model_utils.get_meta_graph_def(path, "serve")
    except RuntimeError as e:
      raise UsageError(f"{path} has no MetaGraph with the 'serve' tag: {e}") from None
    except (OSError, ValueError) as e:  # a truncated or overwritten saved_model.pb
      raise UsageError(f"{path}/saved_model.pb cannot be read ({str(e).splitlines()[0]}); export the model "
                       "again") from None
    for sig, (inputs, outputs) in signatures.items():
      if sig not in meta.signature_def:
        if (name, sig) in OPTIONAL:
          continue
        raise UsageError(f"{path}: signature {sig!r} is missing")
      sd = meta.signature_def[sig]
      if sd.method_name != PREDICT_METHOD:
        raise UsageError(f"{path}:{sig} method is {sd.method_name!r}, not {PREDICT_METHOD}")
      got_in, got_out = set(sd.inputs), set(sd.outputs)
      if not got_in <= inputs or not got_in or got_out != outputs:
        raise UsageError(f"{path}:{sig} has inputs {sorted(got_in)} and outputs {sorted(got_out)}; "
                         f"expected inputs from {sorted(inputs)} and outputs {sorted(outputs)}")
      lines.append(f"{name}/{os.path.basename(path)} {sig}: ({_describe(sd.inputs)}) -> ({_describe(sd.outputs)})")
  for f in sorted(glob.glob(os.path.join(export_dir, "tflite", "*.tflite"))):
    try:
      interp = tflite_interpreter(f)
    except ValueError as e:  # LiteRT's words for a file that is no model
      raise UsageError(f"{f} cannot be read as a TFLite model ({str(e).splitlines()[0]}); export again") from None
    ops = {d["op_name"] for d in interp._get_ops_details()}
    if any(op.startswith("Flex") for op in ops):
      raise UsageError(f"{f} uses Flex (SELECT_TF_OPS) ops; builtin ops only are expected")
    lines.append(f"tflite/{os.path.basename(f)}: {len(ops)} builtin op kinds, {os.path.getsize(f)} bytes")
  if len(set(latest.values())) > 1:  # TF Serving would pair them
    raise UsageError(f"{export_dir}: the latest versions are " + " and ".join(f"{n}/{v}" for n, v in latest.items())
                     + " (an export of an older version was interrupted); export the model again")
  for base in ("", "encoder", "generator", "tflite"):
    for entry in sorted(glob.glob(os.path.join(export_dir, base, ".tmp-*"))):
      lines.append(f"leftover: {os.path.relpath(entry, export_dir)} (an export's staging, left by one that was "
                   "killed or is running; the next export removes it once its process is gone)")
  return lines


def _describe(tensors):
  """'name dtype[dims], ...' of a signature's tensor infos."""
  return ", ".join(f"{k} {tf.dtypes.as_dtype(v.dtype).name}{[d.size for d in v.tensor_shape.dim]}"
                   for k, v in sorted(tensors.items()))


def saved_model_encoder(path):
  """fn(x) -> dict of numpy arrays, through tf.saved_model.load and the serving_default signature."""
  sig = tf.saved_model.load(path).signatures["serving_default"]
  name = list(sig.structured_input_signature[1])[0]
  return lambda x: {k: v.numpy() for k, v in sig(**{name: tf.constant(x)}).items()}


def session_encoder(path, signature="serving_default"):
  """fn(x) -> dict, via a tf.compat.v1 Session on the `serve` MetaGraph, fed and fetched by the
  signature's tensor names: how TF Serving runs the model."""
  graph = tf.Graph()
  sess = tf.compat.v1.Session(graph=graph)
  logger = tf.get_logger()
  level = logger.level
  logger.setLevel("ERROR")  # the TF1 loader is deprecated, and exactly what TF Serving runs: no warning
  try:
    with graph.as_default():
      meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], path)
  finally:
    logger.setLevel(level)
  sd = meta.signature_def[signature]
  (in_key, in_info), = sd.inputs.items()
  fetches = {k: v.name for k, v in sd.outputs.items()}
  return lambda x: sess.run(fetches, feed_dict={in_info.name: x})


def tflite_interpreter(path):
  from ai_edge_litert.interpreter import Interpreter
  return Interpreter(model_path=path)


def tflite_encoder(path):
  """fn(x) -> dict through the TFLite signature runner (ai_edge_litert); batch size is free."""
  runner = tflite_interpreter(path).get_signature_runner("serving_default")
  name = list(runner.get_input_details())[0]
  return lambda x: runner(**{name: np.asarray(x, np.float32)})


def parity(reference, candidates, x, batch_size=256):
  """Compares each candidate fn to the reference on x: {name: (max |probs diff|, cluster agreement)}."""
  def run(fn):
    outs = [fn(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    return (np.concatenate([o["cluster_probs"] for o in outs]), np.concatenate([o["cluster"] for o in outs]))
  ref_p, ref_c = run(reference)
  report = {}
  for name, fn in candidates.items():
    p, c = run(fn)
    report[name] = (float(np.max(np.abs(p.astype(np.float64) - ref_p))), float(np.mean(c == ref_c)))
  return report


def throughput(fn, x, batch_size, min_seconds=2.0, max_calls=2000):
  """Images/s of fn on batches of batch_size from x (after one warm-up call)."""
  import time
  xb = np.ascontiguousarray(x[:batch_size])
  fn(xb)
  calls, t = 0, time.perf_counter()
  while calls < max_calls and (time.perf_counter() - t < min_seconds or calls < 3):
    fn(xb)
    calls += 1
  return calls * len(xb) / (time.perf_counter() - t)
