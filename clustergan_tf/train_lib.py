"""The training loop: blocks of generator steps, each followed by named actions.

  NanGuard -> CollapseGuard -> Clock -> ShareEstimator -> TensorBoard -> Checkpointing -> Progress -> Evaluator
    -> LearningRates                                                                       after every block
  TimeBudget                                                                               before every block
  LearningRates                                                                            before the first block

One tf.function loop over `strategy.run(model.train_step)` serves every strategy: Keras 3
`fit` cannot reduce a GAN step's logs under MultiWorkerMirroredStrategy (keras#20585);
`ClusterGAN.train_step` itself also runs under `fit`.
"""

import contextlib
import dataclasses
import math
import os
import shutil
import sys
import tempfile
import time

import tensorflow as tf

from clustergan_tf import (checkpoint, diagnostics, distribute, evaluate_lib, files, hardware, optimizers, prior, quiet,
                           seeds, starts, summaries)
from clustergan_tf import config as config_lib
from clustergan_tf import data as data_lib
from clustergan_tf import model as model_lib
from clustergan_tf.errors import UsageError


class TrainingDiverged(RuntimeError):
  """Training diverged (a non-finite loss, or G stopped using z_c); the last checkpoint (written before) is intact."""


class TrainingInterrupted(RuntimeError):
  """SIGINT/SIGTERM during training; a checkpoint of the last finite weights was written."""


class Clock:
  """Training seconds: earlier runs of this model_dir plus this one, evaluations excluded, kept in a
  variable that checkpoints carry (a resumed --time_budget_minutes run keeps its budget)."""

  def __init__(self):
    self.seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="train_seconds")

  def start(self):
    """Starts this run's count (after the checkpoint restored the earlier runs' seconds)."""
    self.t0, self.excluded, self.before = time.time(), 0.0, float(self.seconds.numpy())
    self.warm = None  # (step, this_run seconds) at the end of this run's first block: tracing and compiling done

  def this_run(self):
    """Seconds trained by this run."""
    return time.time() - self.t0 - self.excluded

  def __call__(self, step=None, logs=None):
    """Records the seconds trained so far into the variable (an action: after every block), and the end of
    this run's first block."""
    self.seconds.assign(self.before + self.this_run())
    if self.warm is None and step is not None:
      self.warm = (step, self.this_run())

  def rate(self, step, start):
    """(generator steps per second of this run, whether it is known without compilation): since the end of
    the first block once a later block has run, else since `start`, the step this run began at."""
    if self.warm is not None and step > self.warm[0]:
      return (step - self.warm[0]) / max(self.this_run() - self.warm[1], 1e-9), True
    return (step - start) / max(self.this_run(), 1e-9), False

  @contextlib.contextmanager
  def paused(self):
    """Time spent within the block is not training time (evaluations)."""
    t = time.time()
    try:
      yield
    finally:
      self.excluded += time.time() - t

  @property
  def minutes(self):
    return round(float(self.seconds.numpy()) / 60, 3)


@dataclasses.dataclass
class Run:
  """What the loop and its actions share."""
  cfg: config_lib.Config
  data: data_lib.Data
  strategy: tf.distribute.Strategy
  chief: bool
  model: model_lib.ClusterGAN
  clock: Clock
  ckpt_dir: str  # MODEL_DIR/ckpt on the chief, a scratch directory on other workers
  resumed_from: str | None  # the checkpoint this run started from
  start: int  # generator step this run started at
  out: object  # where progress lines go
  loop_state: dict  # variables checkpoints carry beside the model: train_seconds, zc_loss_lowest (CollapseGuard)


def _check(cfg, data, strategy):
  """UsageError for settings that cannot work with this data or strategy; returns the data."""
  config_lib.validate(cfg)
  replicas = strategy.num_replicas_in_sync
  if cfg.batch_size % replicas:
    raise UsageError(f"--batch_size={cfg.batch_size} is not divisible by the {replicas} replicas; "
                     f"use a multiple of {replicas}")
  if data is None:
    data = cfg.load_data()
  rows = len(data.split("train")[0])
  if rows < cfg.batch_size * cfg.n_critic:
    fits = 2 ** int(math.log2(rows // cfg.n_critic)) if rows >= cfg.n_critic * replicas else 0
    fits -= fits % replicas
    fix = f"try --batch_size={fits}" if fits else f"try --n_critic=1 --batch_size={replicas}, or more rows"
    raise UsageError(f"--batch_size={cfg.batch_size} x --n_critic={cfg.n_critic} needs at least that many "
                     f"training rows; {data.name} has {rows}: {fix}")
  evaluated = len(data.split(cfg.eval_split, flag="--eval_split")[0])  # fail before training, not after
  if evaluated < cfg.num_clusters:
    raise UsageError(f"--num_clusters={cfg.num_clusters} is more clusters than the {evaluated} rows of {data.name}'s "
                     f"{cfg.eval_split} split that training clusters at the end; choose fewer")
  return data


def prepare(cfg, data=None, out=sys.stdout, adopt=None):
  """Checks the settings, builds the model and resumes it from MODEL_DIR's latest checkpoint if any, else
  from adopt = (checkpoint, seconds) when given (the picked start of --starts; its seconds join the clock)."""
  strategy = distribute.make_strategy(cfg.strategy, cfg.cpu_replicas)
  if cfg.deterministic:
    tf.config.experimental.enable_op_determinism()
  data = _check(cfg, data, strategy)
  for note in (data_lib.image_note(data), data_lib.header_note(cfg.data_path), data_lib.labels_note(data),
               data_lib.id_note(data), data_lib.scale_note(data)):
    if note:
      print(note, file=out, flush=True)
  cfg = hardware.resolve(cfg, data.data_shape, out)  # the Run's cfg and config.json hold what runs
  files.writable_directory(cfg.model_dir, "model_dir")
  chief = distribute.is_chief(strategy)
  if cfg.logdir and cfg.logdir != "none":  # the chief writes it; every worker stops alike, none waits for it
    files.writable_directory(cfg.logdir, "logdir")
  latest, extra_seconds = checkpoint.latest(cfg.model_dir), 0.0
  fingerprint = data_lib.fingerprint(data)
  if latest:
    checkpoint.check_resumable(cfg, cfg.model_dir, fingerprint)
  elif adopt:
    latest, extra_seconds = adopt
    checkpoint.check_resumable(cfg, os.path.dirname(os.path.dirname(latest)), fingerprint)  # START_DIR/ckpt/ckpt-N
  # Every worker resumes from the shared directory; the others take part in saving, into scratch.
  ckpt_dir = checkpoint.directory(cfg.model_dir) if chief else tempfile.mkdtemp(prefix="clustergan_worker_")
  model = model_lib.build(cfg, data.data_shape, data.bounded, strategy)
  clock, start = Clock(), 0
  state = {"train_seconds": clock.seconds,
           "zc_loss_lowest": tf.Variable(math.inf, dtype=tf.float64, trainable=False, name="zc_loss_lowest")}
  if latest:
    checkpoint.restore(model, latest, state)
    clock.seconds.assign_add(extra_seconds)
    start = int(tf.convert_to_tensor(model.step))
    # The checkpoint holds the optimizers' learning rates; LearningRates sets this run's before its first block.
    print(f"resuming from {latest} at step {start} of {cfg.train_steps}", file=out, flush=True)
  if chief:
    cfg.save(os.path.join(cfg.model_dir, "config.json"))
    checkpoint.save_data_fingerprint(cfg.model_dir, fingerprint)
  return Run(cfg, data, strategy, chief, model, clock, ckpt_dir, latest, start, out, state)


def make_block(run):
  """fn(num_steps) -> {log key: float}: trains num_steps generator steps (one tf.function call) and
  returns their mean logs. Batch b is a function of (seed, b): a resumed run continues the order."""
  cfg, strategy, model = run.cfg, run.strategy, run.model
  ds = data_lib.train_dataset(run.data.split("train")[0], cfg.batch_size * cfg.n_critic, seed=cfg.seed,
                              start_batch=run.start)
  iterator = iter(strategy.experimental_distribute_dataset(ds))
  step_fn = tf.function(model.train_step, jit_compile=cfg.jit_compile and distribute.supports_xla(strategy))

  @tf.function
  def loop(iterator, num_steps):
    sums = {k: tf.constant(0.0) for k in model_lib.LOG_KEYS}
    for _ in tf.range(num_steps):
      logs = strategy.run(step_fn, args=(next(iterator),))
      sums = {k: sums[k] + strategy.reduce("MEAN", logs[k], axis=None) for k in model_lib.LOG_KEYS}
    return {k: v / tf.cast(num_steps, tf.float32) for k, v in sums.items()}

  # The first call optimises the loop's graph: grappler's remapper logs a harmless error there (conv nets).
  return quiet.first_call(lambda num_steps: {k: float(v) for k, v in loop(iterator, tf.constant(num_steps)).items()})


def steps_to_next_stop(step, cfg):
  """Steps until the next loop end, checkpoint, evaluation or the last step, whichever comes first."""
  stops = [cfg.train_steps, (step // cfg.checkpoint_every + 1) * cfg.checkpoint_every,
           (step // cfg.steps_per_loop + 1) * cfg.steps_per_loop]
  if cfg.eval_every:
    stops.append((step // cfg.eval_every + 1) * cfg.eval_every)
  if cfg.cluster_shares == "learned":
    stops.append((step // cfg.shares_every + 1) * cfg.shares_every)
  return min(stops) - step


# -- actions ------------------------------------------------------------------------------------
class TimeBudget:
  """Stops training when --time_budget_minutes is spent, by the chief's clock (the only one that
  excludes its evaluations), told to every worker by a collective sum."""

  def __init__(self, run):
    self.run = run

  def spent(self, step):
    cfg = self.run.cfg
    if not budget_spent(cfg, chief_seconds(self.run)):
      return False
    print(f"time budget of {cfg.time_budget_minutes:g} minutes spent at step {step} of {cfg.train_steps}",
          file=self.run.out, flush=True)
    return True


def budget_spent(cfg, seconds):
  """Whether `seconds` of training have used up --time_budget_minutes (never, without a budget)."""
  return bool(cfg.time_budget_minutes) and seconds >= 60 * cfg.time_budget_minutes


def chief_seconds(run):
  """Training seconds by the chief's clock (the only one that excludes its evaluations), told to every worker:
  a collective sum of the chief's value at global replica 0 and zeros elsewhere."""
  seconds = float(run.clock.seconds.numpy()) if run.chief else 0.0

  def value():
    first = tf.equal(tf.distribute.get_replica_context().replica_id_in_sync_group, 0)
    return tf.where(first, tf.constant(seconds, tf.float64), tf.constant(0.0, tf.float64))

  return float(run.strategy.reduce("SUM", run.strategy.run(value), axis=None))


def fraction_done(step, cfg, seconds):
  """Fraction of training done: the larger of step / --train_steps and seconds / --time_budget_minutes."""
  done = step / cfg.train_steps if cfg.train_steps else 1.0
  if cfg.time_budget_minutes:
    done = max(done, seconds / (60 * cfg.time_budget_minutes))
  return min(done, 1.0)


class LearningRates:
  """Before each block, both optimizers' rates are this run's flags (not a checkpoint's), times
  `optimizers.decay_factor` of the training done when --lr_decay_from < 1 (every worker the same, by the
  chief's clock): a staircase of one step per block (--steps_per_loop). Runs last after a block, so
  TensorBoard logs the rates the block trained with. With --time_budget_minutes and a decay the rates
  depend on the clock, so such runs are not bit-reproducible."""

  def __init__(self, run):
    self.run = run

  def __call__(self, step, logs=None):
    cfg, model = self.run.cfg, self.run.model
    factor = 1.0
    if cfg.lr_decay_from < 1:
      seconds = chief_seconds(self.run) if cfg.time_budget_minutes else 0.0  # the same cfg on every worker
      factor = optimizers.decay_factor(fraction_done(step, cfg, seconds), cfg.lr_decay_from)
    model.g_optimizer.learning_rate = cfg.learning_rate * factor
    model.d_optimizer.learning_rate = cfg.critic_learning_rate * factor


class NanGuard:
  """Raises TrainingDiverged when a logged loss is NaN or Inf; remembers the last step that passed."""

  def __init__(self, run, checkpointing):
    self.checked, self.checkpointing = run.start, checkpointing

  def __call__(self, step, logs):
    bad = [k for k, v in logs.items() if not math.isfinite(v)]
    if bad:
      raise TrainingDiverged(f"{bad[0]} became {logs[bad[0]]} by step {step}; last good checkpoint: "
                             f"{self.checkpointing.last()}; lower --learning_rate or check the data")
    self.checked = step


class CollapseGuard:
  """--collapse_guard: raises TrainingDiverged when G stops using z_c. The z_c cycle loss is a cross-entropy,
  about log K when E can only guess; a run that took it below a tenth of log K and sees it back above half
  has collapsed (every mode draws alike, the critic wins) although every loss is finite. Its memory of the
  lowest loss travels in the checkpoints, so a run resumed from a checkpoint saved during a collapse (an
  interrupt saves the weights as they are) is stopped at its first block; with learned shares chance level
  is the shares' entropy, below log K, so a collapse there may stay under the threshold."""

  def __init__(self, run, checkpointing):
    cfg = run.cfg
    self.on = cfg.collapse_guard and cfg.is_clustergan and cfg.beta_c > 0 and cfg.num_clusters > 1
    self.log_k, self.checkpointing = math.log(cfg.num_clusters), checkpointing
    self.lowest = run.loop_state["zc_loss_lowest"]

  def __call__(self, step, logs):
    if not self.on:
      return
    loss = logs["zc_loss"]
    lowest = min(float(self.lowest.numpy()), float(loss))
    self.lowest.assign(lowest)
    if lowest < 0.1 * self.log_k and loss > 0.5 * self.log_k:
      raise TrainingDiverged(
          f"G stopped using z_c by step {step} (zc_loss {loss:.3g}, log K = {self.log_k:.3g}; it was "
          f"{lowest:.3g}): a mode collapse; last good checkpoint: {self.checkpointing.last()}; the same "
          "command repeats it from there: resume with --lr_decay_from=0.5 or a lower --learning_rate, use another "
          "--seed, or pass --nocollapse_guard to train on")


class Checkpointing:
  """Saves every --checkpoint_every steps, at the end, and on an interrupt (when the weights are finite)."""

  def __init__(self, run):
    self.run = run
    ckpt = checkpoint.make_checkpoint(run.model, run.loop_state)
    self.manager = tf.train.CheckpointManager(ckpt, run.ckpt_dir, max_to_keep=3)

  def last(self):
    return self.manager.latest_checkpoint or self.run.resumed_from or "none"

  def __call__(self, step, logs):
    if step % self.run.cfg.checkpoint_every == 0 or step == self.run.cfg.train_steps:
      checkpoint.save(self.manager, step)

  def final(self, step):
    """Saves step unless it is saved already."""
    latest = self.manager.latest_checkpoint
    if latest is None or int(latest.rsplit("-", 1)[1]) != step:
      checkpoint.save(self.manager, step)

  def interrupted(self, checked):
    """Raises TrainingInterrupted, after saving unless the block after step `checked` left non-finite weights (or
    this step's checkpoint was just written: an interrupt held during that save). A second Ctrl-C or SIGTERM
    meanwhile is dropped, so that it cannot cut the save short."""
    with checkpoint.uninterrupted(then_raise=False):
      model, total = self.run.model, self.run.cfg.train_steps
      step = int(tf.convert_to_tensor(model.step))
      if step != checked and not checkpoint.weights_finite(model):
        raise TrainingInterrupted(f"interrupted at step {step} of {total}; last checkpoint: {self.last()}; "
                                  "rerun to resume")
      self.run.clock()
      self.final(step)
    raise TrainingInterrupted(f"interrupted at step {step} of {total}; checkpoint saved in {self.run.ckpt_dir}; "
                              "rerun the same command to resume")


class ShareEstimator:
  """--cluster_shares=learned: every --shares_every steps, the prior's cluster shares become E's mean
  softmax(z_c) over (up to) SHARE_ROWS training rows, each at least --shares_floor / K."""

  SHARE_ROWS = 5000

  def __init__(self, run):
    self.run, cfg = run, run.cfg
    x = run.data.split("train")[0]
    self.x = x[seeds.rows(len(x), self.SHARE_ROWS, cfg.seed)]
    if cfg.cluster_shares == "learned" and cfg.shares_warmup >= cfg.train_steps:
      print(f"note: --shares_warmup={cfg.shares_warmup} >= --train_steps={cfg.train_steps}: the shares stay uniform "
            "in this run; lower --shares_warmup to learn them", file=run.out, flush=True)

  def __call__(self, step, logs):
    cfg, shares = self.run.cfg, self.run.model.shares
    if cfg.cluster_shares != "learned" or step % cfg.shares_every or step <= cfg.shares_warmup:
      return
    estimate = evaluate_lib.encode(self.run.model.encoder, self.x)[1].mean(axis=0)
    moved = cfg.shares_momentum * shares.numpy() + (1.0 - cfg.shares_momentum) * estimate
    shares.assign(prior.shares_floored(moved, cfg.shares_floor))


class TensorBoard:
  """Scalars after every block, evaluations, HParams and the Projector, under --logdir (chief only)."""

  def __init__(self, run):
    self.run, cfg = run, run.cfg
    self.logdir = None if not run.chief or cfg.logdir == "none" else (cfg.logdir or os.path.join(cfg.model_dir, "logs"))
    self.writers = {}
    if self.logdir:
      self.writers = {k: tf.summary.create_file_writer(os.path.join(self.logdir, k)) for k in ("train", "eval")}
      summaries.write_hparams(self.writers["eval"], cfg)

  def __call__(self, step, logs):
    if self.writers:
      cfg, (rate, _) = self.run.cfg, self.run.clock.rate(step, self.run.start)
      model = self.run.model
      rates = {"g": float(model.g_optimizer.learning_rate.numpy()), "d": float(model.d_optimizer.learning_rate.numpy())}
      summaries.write_train(self.writers["train"], step, logs, rate, rate * cfg.batch_size * cfg.n_critic, rates)

  def evaluation(self, step, report, x, pics):
    if self.writers:
      summaries.write_eval(self.writers["eval"], step, report, self.run.model, self.run.data, self.run.cfg, x, pics)

  def final(self, evaluation, x):
    """The Projector of the final evaluation's latents; flushes every writer."""
    if not self.logdir:
      return
    assigned = evaluation.assignments
    labels = assigned["labels"]
    if "class_names" in assigned:  # the Projector colours by the user's own label text; -1 (no label) is the last
      names = [*assigned["class_names"], "(no label)"]
      labels = [names[i] for i in labels]
    summaries.write_projector(self.logdir, evaluation.zn, evaluation.probs, labels,
                              assigned.get("argmax", assigned["kmeans"]), x, self.run.data.data_shape)
    for w in self.writers.values():
      w.flush()


class Progress:
  """A progress line after the first block, every 10 s and at the last step: speed and ETA from the second
  block on, the first block's time (tracing, compiling) left out."""

  def __init__(self, run):
    self.run, self.last_print = run, None
    self.unit = "img" if len(run.data.data_shape) == 3 or run.model.row_image else "rows"  # vectors: rows

  def __call__(self, step, logs):
    cfg, clock = self.run.cfg, self.run.clock
    now = time.time()
    if self.last_print is not None and now - self.last_print < 10 and step != cfg.train_steps:
      return
    self.last_print = now
    left = 60 * cfg.time_budget_minutes - float(clock.seconds.numpy()) if cfg.time_budget_minutes else float("inf")
    rate, warm = clock.rate(step, self.run.start)
    active = self.run.model.active_log_keys
    logs = {k: v for k, v in logs.items() if k in active}  # not the terms these settings leave out
    print(progress_line(step, cfg.train_steps, rate, cfg.batch_size * cfg.n_critic, logs, left, eta_known=warm,
                        unit=self.unit), file=self.run.out, flush=True)


def _fmt_time(seconds):
  seconds = int(seconds)
  h, m, s = seconds // 3600, seconds // 60 % 60, seconds % 60
  return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def progress_line(step, total, rate, rows_per_step, logs, seconds_left=float("inf"), eta_known=True, unit="img"):
  """'step 1200/5000  24% | 35.2 steps/s 11264 img/s | ETA 1m48s | d_loss ...' (unit: "img" for images, "rows" for
  vectors); eta_known False: the rate includes tracing and compiling (the first block), so the ETA is not known
  yet: 'ETA ? (first block, compiling)'."""
  if not eta_known and step < total:
    eta = "? (first block, compiling)"
  else:
    eta = _fmt_time(max(0.0, min((total - step) / max(rate, 1e-9), seconds_left)))
  return (f"step {step}/{total} {100 * step / total:3.0f}% | {rate:.1f} steps/s {rate * rows_per_step:.0f} {unit}/s"
          f" | ETA {eta} | " + " ".join(f"{k} {v:.4g}" for k, v in logs.items()))


class Evaluator:
  """Evaluates every --eval_every steps (chief only, G and E at their moving averages, time excluded from
  training), writes TensorBoard and MODEL_DIR/curve.jsonl; also the final evaluation."""

  def __init__(self, run, tensorboard):
    self.run, self.tensorboard = run, tensorboard
    cfg, data = run.cfg, run.data
    self.x_eval = data.split(cfg.eval_split)[0]
    self.labeller = diagnostics.labeller(cfg, data) if run.chief else None

  def __call__(self, step, logs):
    """Evaluates when due, unless this is the last step (by count or by time budget): the final evaluation covers it."""
    run, cfg = self.run, self.run.cfg
    if not (run.chief and cfg.eval_every and step % cfg.eval_every == 0) or step >= cfg.train_steps:
      return
    if not budget_spent(cfg, float(run.clock.seconds.numpy())):
      print(evaluate_lib.format_report(self.evaluate(step)[0].report), file=self.run.out, flush=True)

  def evaluate(self, step, final=False):
    """(evaluate_lib.Evaluation, {name: picture}); pictures only when TensorBoard or the final PNGs need them."""
    run = self.run
    with run.clock.paused(), run.model.averaged_weights():
      evaluation = evaluate_lib.evaluate(run.model, run.data, run.cfg.eval_split, run.cfg, step, self.labeller)
      pics = summaries.pictures(run.model, run.data, run.cfg, self.x_eval) if self.tensorboard.writers or final else {}
      self.tensorboard.evaluation(step, evaluation.report, self.x_eval, pics)
    evaluate_lib.append_curve(run.cfg.model_dir, evaluation.report, run.clock.minutes)
    return evaluation, pics


# -- the loop -----------------------------------------------------------------------------------
def train(cfg, data=None, out=sys.stdout):
  """Trains (or resumes) a ClusterGAN as configured, after choosing among --starts; evaluates and writes
  metrics.json. Returns the report (None on non-chief workers)."""
  hardware.set_threads(cfg, out)  # before anything (data, strategy) starts TensorFlow's runtime
  adopt = None
  if cfg.starts > 1:
    cfg, data, adopt = choose_start(cfg, data, out)
  run = prepare(cfg, data, out, adopt)
  checkpointing, tensorboard = Checkpointing(run), TensorBoard(run)
  guard, budget, evaluator = NanGuard(run, checkpointing), TimeBudget(run), Evaluator(run, tensorboard)
  rates = LearningRates(run)
  actions = (guard, CollapseGuard(run, checkpointing), run.clock, ShareEstimator(run), tensorboard, checkpointing,
             Progress(run), evaluator, rates)
  block = make_block(run)
  step = run.start
  run.clock.start()
  rates(step)
  try:
    while step < cfg.train_steps and not budget.spent(step):
      n = steps_to_next_stop(step, cfg)
      logs = block(n)
      step += n
      for action in actions:
        action(step, logs)
  except KeyboardInterrupt:  # SIGINT, or SIGTERM routed to it by the CLI
    checkpointing.interrupted(guard.checked)
  return finish(run, step, checkpointing, evaluator)


def choose_start(cfg, data, out):
  """--starts > 1: trains each start (or reads its finished report) and writes MODEL_DIR/starts.json.
  Returns the Config to continue (the picked start's seed), the data, and adopt for `prepare`."""
  config_lib.validate(cfg)
  data = cfg.load_data() if data is None else data
  start_cfgs = starts.configs(cfg)
  reports = []
  for i, start_cfg in enumerate(start_cfgs):
    report = starts.finished(start_cfg)
    if report is None:
      print(f"start {i} of {cfg.starts}: seed {start_cfg.seed}, {start_cfg.train_steps} steps in "
            f"{start_cfg.model_dir}", file=out, flush=True)
      report = train(start_cfg, data, out)
    reports.append(report)
  record = starts.pick(start_cfgs, reports)
  files.writable_directory(cfg.model_dir, "model_dir")
  files.atomic_json(os.path.join(cfg.model_dir, starts.RECORD), record)
  i = record["picked"]
  print(f"picked start {i} of {cfg.starts} (seed {record['seeds'][i]}, label_free_score "
        f"{record['label_free_score'][i]:.4f}, the highest); continuing it", file=out, flush=True)
  picked = start_cfgs[i]
  return (dataclasses.replace(cfg, seed=picked.seed), data,
          (checkpoint.latest(picked.model_dir), starts.other_seconds(record)))


def finish(run, step, checkpointing, evaluator):
  """Saves the last step, prints the weights' fingerprint, and on the chief evaluates and writes
  metrics.json, assignments.npz, the PNGs and the Projector."""
  checkpointing.final(step)
  fingerprint = checkpoint.weights_fingerprint(run.model)
  print(f"final weights sha256:{fingerprint} at step {step}", file=run.out, flush=True)
  if not run.chief:
    shutil.rmtree(run.ckpt_dir, ignore_errors=True)
    return None
  evaluation, pics = evaluator.evaluate(step, final=True)
  report = evaluate_lib.write(run.cfg.model_dir, evaluation, run.clock.minutes, fingerprint)
  summaries.save_pngs(run.cfg.model_dir, pics)
  evaluator.tensorboard.final(evaluation, evaluator.x_eval)
  print(evaluate_lib.format_report(report), file=run.out, flush=True)
  return report
