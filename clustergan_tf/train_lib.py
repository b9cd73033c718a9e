"""The training loop: one tf.function loop over `strategy.run(model.train_step)` for every strategy.

Keras 3 `fit` cannot reduce a GAN step's logs under MultiWorkerMirroredStrategy
(keras#20585), so a single explicit loop serves default, mirrored and multi-worker
alike; `ClusterGAN.train_step` itself also runs under `fit`.
"""

import dataclasses
import hashlib
import math
import os
import shutil
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from clustergan_tf import config as config_lib
from clustergan_tf import data as data_lib
from clustergan_tf import diagnostics, distribute, evaluate_lib, summaries
from clustergan_tf import model as model_lib
from clustergan_tf.errors import UsageError


class TrainingDiverged(RuntimeError):
  """A loss became NaN or Inf; the last checkpoint (written before it) is intact."""


class TrainingInterrupted(RuntimeError):
  """SIGINT/SIGTERM: a checkpoint of the last finished step was written; rerunning resumes."""


def _weights(model):
  """Every weight of G, D and E as numpy arrays, in a fixed order."""
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


def _fmt_time(seconds):
  seconds = int(seconds)
  h, m, s = seconds // 3600, seconds // 60 % 60, seconds % 60
  return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def _steps_to_next_stop(step, cfg):
  """Steps until the next loop end, checkpoint, evaluation or the last step, whichever comes first."""
  stops = [cfg.train_steps, (step // cfg.checkpoint_every + 1) * cfg.checkpoint_every,
           (step // cfg.steps_per_loop + 1) * cfg.steps_per_loop]
  if cfg.eval_every:
    stops.append((step // cfg.eval_every + 1) * cfg.eval_every)
  return min(stops) - step


def _progress_line(step, total, rate, images_per_step, logs, seconds_left=float("inf")):
  """'step 1200/5000  24% | 35.2 steps/s 11264 img/s | ETA 1m48s | d_loss ...'."""
  eta = max(0.0, min((total - step) / max(rate, 1e-9), seconds_left))
  return (f"step {step}/{total} {100 * step / total:3.0f}% | {rate:.1f} steps/s {rate * images_per_step:.0f} img/s"
          f" | ETA {_fmt_time(eta)} | " + " ".join(f"{k} {v:.4g}" for k, v in logs.items()))


def prepare_model_dir(model_dir):
  """Creates model_dir and proves it writable, or raises UsageError."""
  try:
    os.makedirs(model_dir, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=model_dir):
      pass
  except OSError as e:
    raise UsageError(f"--model_dir={model_dir} is not writable ({e.strerror}); choose another directory") from None


def make_checkpoint(model, train_seconds=None, averages=True):
  """Everything a resumed run needs: the three networks and both optimizers (step counter included),
  the moving averages of G and E (--ema_decay; averages=False leaves them out), and the seconds
  trained so far (so a --time_budget_minutes run that is resumed keeps its budget)."""
  extra = {} if train_seconds is None else {"train_seconds": train_seconds}
  if model.ema_weights and averages:
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


def _budget_spent(strategy, seconds, cfg, chief):
  """Whether --time_budget_minutes is used up, by the chief's clock (the only one that excludes its
  evaluations), told to every worker by a collective sum."""
  if not cfg.time_budget_minutes:
    return False
  over = tf.constant(1.0 if chief and seconds >= 60 * cfg.time_budget_minutes else 0.0)
  return bool(strategy.reduce("SUM", strategy.run(lambda: tf.identity(over)), axis=None) > 0)


# Settings a checkpoint is tied to: changing them on a rerun cannot resume that checkpoint.
_ARCHITECTURE = ("dataset", "num_clusters", "latent_dim", "hidden_units", "mlp_batchnorm", "critic_norm", "linear_generator", "batch_size",
                 "n_critic", "prior", "use_encoder")


def check_resumable(cfg, model_dir):
  """UsageError naming the flag if cfg differs from the run saved in model_dir in a setting its checkpoint needs."""
  path = os.path.join(model_dir, "config.json")
  if not os.path.exists(path):
    return
  saved = config_lib.Config.load(path)
  for name in _ARCHITECTURE:
    if getattr(saved, name) != getattr(cfg, name):
      raise UsageError(f"--{name}={getattr(cfg, name)} differs from {getattr(saved, name)} of the checkpoints in "
                       f"--model_dir={model_dir}; use the same value to resume, or another --model_dir")


def build_model(cfg, data, strategy):
  """Networks and optimizers in the strategy's scope; initial weights are a function of cfg.seed."""
  keras.utils.set_random_seed(cfg.seed)
  keras.mixed_precision.set_global_policy(cfg.precision)  # layers keep the policy they were built with
  try:
    with strategy.scope():
      model = model_lib.build(cfg, data.data_shape, data.bounded)
      model.compile(*model_lib.make_optimizers(cfg))
  finally:
    keras.mixed_precision.set_global_policy("float32")
  return model


def load_model(cfg, data, model_dir):
  """The ClusterGAN of model_dir with its latest checkpoint restored (default strategy)."""
  model = build_model(cfg, data, tf.distribute.get_strategy())
  latest = tf.train.latest_checkpoint(os.path.join(model_dir, "ckpt"))
  if latest is None:
    raise UsageError(f"--model_dir={model_dir} has no checkpoint under ckpt/: train first")
  make_checkpoint(model, averages=False).restore(latest).expect_partial()
  restore_averages(model, latest)
  return model


def restore(model_dir):
  """(cfg, data, model) of a trained model_dir, for evaluate, export and decode."""
  cfg = config_lib.Config.from_model_dir(model_dir)
  data = data_lib.load(cfg.dataset, cfg.data_source, cfg.data_dir, cfg.data_path, cfg.labels_path)
  # Inference and export run in float32 (mixed-precision weights are float32 already; TFLite
  # builtins have no bfloat16 kernels), with G and E at their moving averages (--ema_decay).
  model = load_model(dataclasses.replace(cfg, precision="float32"), data, model_dir)
  model.use_averaged_weights()
  return cfg, data, model


def train(cfg, data=None, out=sys.stdout):
  """Trains (or resumes) a ClusterGAN as configured; evaluates and writes metrics.json. Returns the report."""
  config_lib.validate(cfg)
  strategy = distribute.make_strategy(cfg.strategy, cfg.cpu_replicas)
  if cfg.deterministic:
    tf.config.experimental.enable_op_determinism()
  replicas = strategy.num_replicas_in_sync
  if cfg.batch_size % replicas:
    raise UsageError(f"--batch_size={cfg.batch_size} is not divisible by the {replicas} replicas; "
                     f"use a multiple of {replicas}")
  chief = distribute.is_chief(strategy)
  if data is None:
    data = data_lib.load(cfg.dataset, cfg.data_source, cfg.data_dir, cfg.data_path, cfg.labels_path)
  x_train = data.split("train")[0]
  if len(x_train) < cfg.batch_size * cfg.n_critic:
    raise UsageError(f"--batch_size={cfg.batch_size} x --n_critic={cfg.n_critic} needs at least that many "
                     f"training rows; {data.name} has {len(x_train)}")
  data.split(cfg.eval_split, flag="--eval_split")  # fail before training, not after
  prepare_model_dir(cfg.model_dir)
  shared_ckpt_dir = os.path.join(cfg.model_dir, "ckpt")
  latest = tf.train.latest_checkpoint(shared_ckpt_dir)
  if latest:
    check_resumable(cfg, cfg.model_dir)
  # Every worker resumes from the shared directory; non-chief workers must take part in
  # saving, but into a scratch directory.
  ckpt_dir = shared_ckpt_dir if chief else tempfile.mkdtemp(prefix="clustergan_worker_")

  model = build_model(cfg, data, strategy)
  train_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="train_seconds")
  ckpt = make_checkpoint(model, train_seconds)
  manager = tf.train.CheckpointManager(ckpt, ckpt_dir, max_to_keep=3)
  start = 0
  if latest:
    make_checkpoint(model, averages=False).restore(latest).assert_existing_objects_matched()
    restore_averages(model, latest)
    # Seconds trained so far: absent from checkpoints older than --time_budget_minutes (then 0).
    tf.train.Checkpoint(train_seconds=train_seconds).restore(latest).expect_partial()
    start = int(tf.convert_to_tensor(model.step))
    # The checkpoint holds the optimizers' learning rates; the flags of this run win.
    model.g_optimizer.learning_rate = cfg.learning_rate
    model.d_optimizer.learning_rate = cfg.critic_learning_rate
    print(f"resuming from {latest} at step {start} of {cfg.train_steps}", file=out, flush=True)
  if chief:
    cfg.save(os.path.join(cfg.model_dir, "config.json"))

  # Batch b is a function of (seed, b): a resumed run starts where the interrupted one stopped.
  ds = data_lib.train_dataset(x_train, cfg.batch_size * cfg.n_critic, seed=cfg.seed, start_batch=start)
  iterator = iter(strategy.experimental_distribute_dataset(ds))

  step_fn = tf.function(model.train_step, jit_compile=cfg.jit_compile and distribute.supports_xla(strategy))

  @tf.function
  def train_loop(iterator, num_steps):
    sums = {k: tf.constant(0.0) for k in model_lib.LOG_KEYS}
    for _ in tf.range(num_steps):
      logs = strategy.run(step_fn, args=(next(iterator),))
      sums = {k: sums[k] + strategy.reduce("MEAN", logs[k], axis=None) for k in model_lib.LOG_KEYS}
    return {k: v / tf.cast(num_steps, tf.float32) for k, v in sums.items()}

  logdir = None if not chief or cfg.logdir == "none" else (cfg.logdir or os.path.join(cfg.model_dir, "logs"))
  writers = {}
  if logdir:
    writers = {name: tf.summary.create_file_writer(os.path.join(logdir, name)) for name in ("train", "eval")}
    summaries.write_hparams(writers["eval"], cfg)
  x_eval = data.split(cfg.eval_split)[0]
  labeller = None
  y_train = data.split("train")[1]
  if chief and cfg.is_clustergan and y_train is not None:
    labeller = diagnostics.ModeLabeller(x_train, y_train, seed=cfg.seed)

  def evaluate(step, final=False):
    """Metrics (+ TensorBoard scalars and images) of the evaluation split, with G and E at their moving
    averages when --ema_decay is set; appends a line to MODEL_DIR/curve.jsonl; also returns the pictures."""
    record_time()  # before the evaluation, which is not training time
    with model.averaged_weights():
      report, assignments, latents = evaluate_lib.evaluate(model, data, cfg.eval_split, cfg, step, labeller)
      pics = summaries.pictures(model, data, cfg, x_eval) if writers or final else {}
      if writers:
        summaries.write_eval(writers["eval"], step, report, model, data, cfg, x_eval, pics)
    report["train_minutes"] = round(float(train_seconds.numpy()) / 60, 3)  # all runs of this model_dir, no evaluations
    evaluate_lib.append_curve(cfg.model_dir, report)
    return report, assignments, latents, pics

  step, t0, last_print = start, time.time(), 0.0
  eval_seconds = 0.0  # evaluations during training do not count as training time
  seconds_before = float(train_seconds.numpy())  # trained by earlier (interrupted) runs of this model_dir

  def record_time():
    """Training seconds so far (earlier runs + this one, evaluations excluded) into the checkpointed variable."""
    train_seconds.assign(seconds_before + time.time() - t0 - eval_seconds)
  checked = start  # last step whose losses passed the NaN/Inf check
  images_per_step = cfg.batch_size * cfg.n_critic  # real examples consumed per generator step
  learning_rates = {"g": cfg.learning_rate, "d": cfg.critic_learning_rate}  # constant: no schedule
  try:
    while step < cfg.train_steps:
      if _budget_spent(strategy, float(train_seconds.numpy()), cfg, chief):
        print(f"time budget of {cfg.time_budget_minutes:g} minutes spent at step {step} of {cfg.train_steps}",
              file=out, flush=True)
        break
      n = _steps_to_next_stop(step, cfg)
      logs = {k: float(v) for k, v in train_loop(iterator, tf.constant(n)).items()}
      step += n
      bad = [k for k, v in logs.items() if not math.isfinite(v)]
      if bad:
        raise TrainingDiverged(
            f"{bad[0]} became {logs[bad[0]]} by step {step}; last good checkpoint: "
            f"{manager.latest_checkpoint or latest or 'none'}; lower --learning_rate or check the data")
      checked = step
      elapsed = time.time() - t0
      record_time()
      rate = (step - start) / max(elapsed - eval_seconds, 1e-9)
      if writers:
        summaries.write_train(writers["train"], step, logs, rate, rate * images_per_step, learning_rates)
      if step % cfg.checkpoint_every == 0 or step == cfg.train_steps:
        manager.save(checkpoint_number=step)
      if elapsed - last_print >= 10 or step == cfg.train_steps or step == start + n:
        last_print = elapsed
        left = 60 * cfg.time_budget_minutes - float(train_seconds.numpy()) if cfg.time_budget_minutes else float("inf")
        print(_progress_line(step, cfg.train_steps, rate, images_per_step, logs, left), file=out, flush=True)
      if chief and cfg.eval_every and step % cfg.eval_every == 0 and step < cfg.train_steps:
        t_eval = time.time()
        print(evaluate_lib.format_report(evaluate(step)[0]), file=out, flush=True)
        eval_seconds += time.time() - t_eval
  except KeyboardInterrupt:  # SIGINT, or SIGTERM routed to it by the CLI
    step = int(tf.convert_to_tensor(model.step))
    if step != checked and not weights_finite(model):  # the unchecked block diverged: keep the old checkpoint
      raise TrainingInterrupted(f"interrupted at step {step} of {cfg.train_steps}; last checkpoint: "
                                f"{manager.latest_checkpoint or latest or 'none'}; rerun to resume") from None
    record_time()
    manager.save(checkpoint_number=step)
    raise TrainingInterrupted(f"interrupted at step {step} of {cfg.train_steps}; checkpoint saved in {ckpt_dir}; "
                              f"rerun the same command to resume") from None

  if manager.latest_checkpoint is None or int(manager.latest_checkpoint.rsplit("-", 1)[1]) != step:
    manager.save(checkpoint_number=step)
  fingerprint = weights_fingerprint(model)
  print(f"final weights sha256:{fingerprint} at step {step}", file=out, flush=True)
  if not chief:
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    return None
  report, assignments, (zn, probs), pics = evaluate(step, final=True)
  report["weights_sha256"] = fingerprint
  evaluate_lib.write(cfg.model_dir, report, assignments)
  summaries.save_pngs(cfg.model_dir, pics)
  if logdir:
    clusters = assignments.get("argmax", assignments["kmeans"])
    summaries.write_projector(logdir, zn, probs, assignments["labels"], clusters, x_eval, data.data_shape)
    for w in writers.values():
      w.flush()
  print(evaluate_lib.format_report(report), file=out, flush=True)
  return report
