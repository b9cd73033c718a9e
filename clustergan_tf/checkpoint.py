"""What a checkpoint holds, how it is read back, and a trained model loaded from MODEL_DIR for evaluate,
export, decode and experiments.

A checkpoint holds G, D, E, both optimizers (the step counter included), the moving
averages of G and E (--ema_decay), the prior's cluster shares and the training loop's state
(the seconds trained so far, the collapse guard's lowest zc_loss). Files: MODEL_DIR/ckpt/ckpt-<step>, and
MODEL_DIR/data.json, the fingerprint of the training rows (`data.fingerprint`) that a resume must match.
"""

import contextlib
import dataclasses
import hashlib
import os
import signal
import sys
import threading

import numpy as np
import tensorflow as tf

from clustergan_tf import config as config_lib
from clustergan_tf import files
from clustergan_tf import data as data_lib
from clustergan_tf import model as model_lib
from clustergan_tf.errors import UsageError


def directory(model_dir):
  """Where the checkpoints of model_dir live."""
  return os.path.join(model_dir, "ckpt")


def latest(model_dir):
  """Path prefix of the newest checkpoint in model_dir, or None."""
  return tf.train.latest_checkpoint(directory(model_dir))


@contextlib.contextmanager
def uninterrupted(then_raise=True):
  """Within the block, a signal whose handler raises KeyboardInterrupt (Ctrl-C; SIGTERM in the commands that train)
  waits for the block's end; then its handler runs (then_raise), or it is dropped (also when the block raises). A
  KeyboardInterrupt inside TF's saver breaks its device scopes, and the RuntimeError that follows lost the
  interrupt's checkpoint. Nested blocks hold a signal until the outermost ends."""
  if threading.current_thread() is not threading.main_thread():  # only the main thread gets signals
    yield
    return
  pending = []
  held = {}
  for signum in (signal.SIGINT, signal.SIGTERM):
    handler = signal.getsignal(signum)
    if callable(handler):  # Python's own handlers; SIG_IGN / SIG_DFL act outside Python anyway
      held[signum] = signal.signal(signum, lambda s, frame: pending.append(s))
  try:
    yield
  finally:
    for signum, handler in held.items():
      signal.signal(signum, handler)
  if pending and then_raise:
    held[pending[0]](pending[0], None)


def save(manager, step, then_raise=True):
  """manager.save(checkpoint_number=step) that a signal cannot cut short (see uninterrupted)."""
  with uninterrupted(then_raise):
    return manager.save(checkpoint_number=step)


def make_checkpoint(model, loop_state=None, extras=True):
  """tf.train.Checkpoint of everything a resumed run needs; extras=False leaves the moving averages and
  the cluster shares out (they are restored apart: checkpoints may predate them). loop_state: {name:
  tf.Variable} of the training loop saved beside the model (`train_lib.Run.loop_state`; None: none)."""
  extra = dict(loop_state or {})
  if extras:
    extra["shares"] = model.shares
    if model.ema_weights:
      extra["ema"] = _averages(model)
  return tf.train.Checkpoint(generator=model.generator, discriminator=model.discriminator,
                             encoder=model.encoder, g_optimizer=model.g_optimizer,
                             d_optimizer=model.d_optimizer, **extra)


def _averages(model):
  return tf.train.Checkpoint(**{f"w{i}": v for i, v in enumerate(model.ema_weights)})


def restore_averages(model, path):
  """Restores the moving averages of G and E from checkpoint `path`; a checkpoint written without
  them (--ema_decay turned on when resuming) starts them at the restored weights."""
  if not model.ema_weights:
    return
  if any(name.startswith("ema/") for name, _ in tf.train.list_variables(path)):
    tf.train.Checkpoint(ema=_averages(model)).restore(path).expect_partial()  # the same path as when saved
  else:
    for a, v in zip(model.ema_weights, model._averaged):
      a.assign(tf.convert_to_tensor(v))


def restore(model, path, loop_state=None, strict=True):
  """Restores model (networks, optimizers, moving averages) and, when given, the loop_state variables
  from checkpoint `path`; a variable the checkpoint predates keeps its initial value.
  strict: every object of the model must be in the checkpoint (resuming training)."""
  with readable(path):
    status = make_checkpoint(model, extras=False).restore(path)
    if strict:  # every object of the model restored; the extras in the file are restored below (no warning)
      status.assert_existing_objects_matched()
    status.expect_partial()
    restore_averages(model, path)
    tf.train.Checkpoint(shares=model.shares).restore(path).expect_partial()  # absent: uniform, as before
    if loop_state:
      tf.train.Checkpoint(**loop_state).restore(path).expect_partial()


@contextlib.contextmanager
def readable(path):
  """Turns a checkpoint whose files are cut short or corrupt into a UsageError that names it and the earlier
  checkpoints of its directory (TensorFlow's reader reports a short read as IndexError, corrupt data as DataLoss
  or OutOfRange); every other error (permissions, a missing file, memory) passes as it is."""
  try:
    yield
  except (IndexError, tf.errors.DataLossError, tf.errors.OutOfRangeError) as e:
    folder = os.path.dirname(path)
    state = tf.train.get_checkpoint_state(folder)
    others = [os.path.basename(p) for p in (state.all_model_checkpoint_paths if state else []) if p != path]
    fix = (f"; to go back to {' or '.join(others)}, name it in the first line of {folder}/checkpoint, or train "
           "into a new --model_dir" if others else " and no earlier checkpoint is left; train into a new --model_dir")
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    raise UsageError(f"checkpoint {path} cannot be read ({type(e).__name__}: {first}): its files are damaged{fix}") \
        from None


DATA_FILE = "data.json"  # MODEL_DIR/data.json: data.fingerprint of the rows the checkpoints were trained on


def check_resumable(cfg, model_dir, fingerprint=None):
  """UsageError naming the flag if cfg differs from the run saved in model_dir in a setting its checkpoint needs,
  or (given the data's `data.fingerprint`) if its training rows are not those the checkpoints were trained on."""
  path = os.path.join(model_dir, "config.json")
  if os.path.exists(path):
    saved = config_lib.Config.load(path)
    for name in config_lib.ARCHITECTURE:
      if getattr(saved, name) != getattr(cfg, name):
        raise UsageError(f"--{name}={getattr(cfg, name)} differs from {getattr(saved, name)} of the checkpoints in "
                         f"--model_dir={model_dir}; use the same value to resume, or another --model_dir")
  change = data_change(cfg, model_dir, trained_data(model_dir), fingerprint) if fingerprint is not None else None
  if change:
    raise UsageError(f"{change}; resume with the same data, or train into another --model_dir")


def _source(cfg):
  """The flags that name where cfg's data comes from."""
  if cfg.dataset in data_lib.FILE_DATASETS:
    return f"--data_path={cfg.data_path}"
  if cfg.dataset in data_lib.IMAGE_DATASETS:
    return f"--data_source={cfg.data_source}" + (f" --data_dir={cfg.data_dir}" if cfg.data_dir else "")
  return f"--dataset={cfg.dataset}"  # generated or bundled: its rows change only with the library's version


def trained_data(model_dir):
  """MODEL_DIR/data.json (`data.fingerprint` of the rows the checkpoints were trained on), or None before it."""
  path = os.path.join(model_dir, DATA_FILE)
  return files.read_json(path, f"delete {path} to skip this check") if os.path.exists(path) else None


def data_change(cfg, model_dir, saved, fingerprint):
  """A line saying how the training rows of `fingerprint` (`data.fingerprint`) differ from those model_dir was
  trained on (saved: its `trained_data`), or None when they are the same or model_dir predates data.json."""
  if saved is None or saved.get("sha256") == fingerprint["sha256"]:
    return None
  return (f"the training data of {_source(cfg)} ({fingerprint['train_rows']} rows, sha256 {fingerprint['sha256']}) "
          f"are not those the checkpoints in --model_dir={model_dir} were trained on ({saved.get('train_rows')} "
          f"rows, sha256 {saved.get('sha256')}, {DATA_FILE})")


def save_data_fingerprint(model_dir, fingerprint):
  """Writes MODEL_DIR/data.json (the chief, at every start: a resume has matched it, or the run predates it)."""
  files.atomic_json(os.path.join(model_dir, DATA_FILE), fingerprint)


def _weights(model):
  return [v.numpy() for net in (model.generator, model.discriminator, model.encoder) for v in net.weights]


def weights_fingerprint(model):
  """sha256 (16 hex digits) of every weight of G, D and E: equal fingerprints = identical weights."""
  digest = hashlib.sha256()
  for w in _weights(model):
    digest.update(np.ascontiguousarray(w).tobytes())
  return digest.hexdigest()[:16]


def weights_finite(model):
  """True when every weight of G, D and E is finite (a block whose losses were not yet checked is safe to save)."""
  return all(bool(np.isfinite(w).all()) for w in _weights(model))


@dataclasses.dataclass
class Trained:
  """A trained model_dir loaded for inference: G and E hold their moving averages (--ema_decay)."""
  cfg: config_lib.Config
  data: data_lib.Data
  model: model_lib.ClusterGAN
  train_minutes: float  # training time of every run of the model_dir, evaluations excluded
  weights_sha256: str  # of the trained weights, as training printed it (before the averages are swapped in)


def load_model(cfg, data, model_dir):
  """The ClusterGAN of model_dir with its latest checkpoint restored (default strategy)."""
  model = model_lib.build(cfg, data.data_shape, data.bounded)
  path = latest(model_dir)
  if path is None:
    raise UsageError(f"--model_dir={model_dir} has no checkpoint under ckpt/: train first")
  restore(model, path, strict=False)
  return model


def train_seconds(path):
  """Seconds trained up to checkpoint `path`, evaluations excluded (0 for checkpoints that predate the count)."""
  with readable(path):
    names = dict(tf.train.list_variables(path))
    key = "train_seconds/.ATTRIBUTES/VARIABLE_VALUE"
    return float(tf.train.load_variable(path, key)) if key in names else 0.0


def load(model_dir, out=sys.stderr, moved=None):
  """The trained model of model_dir, ready for evaluate, export and decode; a note to `out` when its data file no
  longer holds the rows it was trained on (MODEL_DIR/data.json), whose --standardize scaling is then kept.
  moved: {data_path, labels_path, data_dir} where the data lies now, replacing the training run's."""
  cfg = dataclasses.replace(config_lib.Config.from_model_dir(model_dir), **(moved or {}))
  if moved:
    config_lib.validate(cfg)  # --data_path where the model's data set reads none, ...
  try:
    data = cfg.load_data()
  except UsageError as e:
    if moved:
      raise
    raise UsageError(f"{e} (the training run's data, config.json; if it moved, pass its place now: --data_path, "
                     "--labels_path or --data_dir)") from None
  trained = trained_data(model_dir) or {}  # read once: the shape, the fingerprint and the scaling below
  if "shape" in trained and list(data.data_shape) != trained["shape"]:
    raise UsageError(f"the rows of {_source(cfg)} have shape {tuple(data.data_shape)}; the model in "
                     f"--model_dir={model_dir} was trained on rows of shape {tuple(trained['shape'])} ({DATA_FILE}): "
                     "give it the training data's file, or train a new model")
  change = data_change(cfg, model_dir, trained or None, data_lib.fingerprint(data))
  scaling = trained.get("standardization")
  if change and scaling:  # the model's inputs keep the training rows' scaling, in evaluation and export alike
    data = cfg.load_data(standardization=(scaling["mean"], scaling["std"]))
  if change and out is not None:
    kept = (", scaled by the training rows' statistics (data.json)" if scaling else
            f", scaled by today's rows' statistics ({DATA_FILE} predates the saved scaling)" if cfg.standardize else "")
    print(f"note: {change}: what follows uses today's rows{kept}", file=out, flush=True)
  # Inference and export run in float32 (mixed-precision weights are float32 already; TFLite
  # builtins have no bfloat16 kernels).
  model = load_model(dataclasses.replace(cfg, precision="float32"), data, model_dir)
  fingerprint = weights_fingerprint(model)
  model.use_averaged_weights()
  return Trained(cfg, data, model, round(train_seconds(latest(model_dir)) / 60, 3), fingerprint)
