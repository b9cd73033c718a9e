"""Several trainings at once, each in its own process with an equal share of the CPU's cores.

The step's ops are small at batch 64, so on a 2-core CPU two single-thread trainings run about 20 steps/s
together where one training on both cores runs 15 (BUILD_NOTES, thirteenth session): `reproduce` and `select_k`
train their runs N at a time with --processes=N. CPU only: each GPU process would claim the whole GPU.
"""

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time

from clustergan_tf import errors, files, hardware

POLL_SECONDS = 60  # how often the parent prints each child's progress line


class ChildFailed(Exception):
  """A child training ended in a way that is no user mistake: killed (out of memory?) or a bug, whose
  traceback is in its log."""


def child_threads(num_cores, processes, xla=False):
  """(intra-op, inter-op) threads of each of `processes` trainings on `num_cores` cores: one stream of one
  thread where a process has one core (as measured), else --threads=auto's pools for its share; for an XLA step
  TF's defaults on a machine of its share (share, share: not measured, no machine here has the cores)."""
  share = max(1, num_cores // processes)
  if share == 1:
    return 1, 1
  return hardware.thread_pools(share, has_gpus=False, xla=xla) or (share, share)


def log_path(cfg):
  return os.path.join(cfg.model_dir, "train.log")


def train_all(cfgs, processes=1, data=None, out=sys.stdout, train_fn=None):
  """The reports of train_lib.train (metrics.json's content) for every Config, in order. processes 1: one after
  another in this process, sharing `data` and `train_fn`; more: up to `processes` child processes at a time,
  each loading its own data (the same rows: loading is deterministic) and printing to MODEL_DIR/train.log."""
  if processes <= 1 or len(cfgs) <= 1:
    from clustergan_tf import train_lib
    train_fn = train_fn or train_lib.train
    reports = []
    for cfg in cfgs:
      print(f"\n== {cfg.model_dir} ==", file=out, flush=True)
      reports.append(train_fn(cfg, data=data, out=out))
    return reports
  check(cfgs[0], processes)
  return _run_children(cfgs, processes, child_threads(hardware.cores(), processes, hardware.step_uses_xla(cfgs[0])),
                       out)


def check(cfg, processes):
  """UsageError where trainings cannot share the machine as processes: several workers, or GPUs (each process
  would claim every GPU's memory)."""
  import tensorflow as tf
  if cfg.strategy == "multi_worker":
    raise errors.UsageError(f"--processes={processes} runs trainings side by side on one machine; with "
                            "--strategy=multi_worker train one at a time (--processes=1)")
  if cfg.cpu_replicas <= 1 and tf.config.list_physical_devices("GPU"):
    raise errors.UsageError(f"--processes={processes} is for CPUs: this machine has GPUs, which one training at "
                            "a time uses whole (--processes=1)")


class Child:
  """One training in a child process; `offset`: where its run begins in train.log (a rerun appends)."""

  def __init__(self, context, index, cfg, env):
    self.index, self.cfg, self.log = index, cfg, log_path(cfg)
    self.offset = os.path.getsize(self.log) if os.path.exists(self.log) else 0
    self.process = context.Process(target=_child, args=(cfg, self.log), daemon=False)
    with _environment(env), _ignoring(signal.SIGINT):  # inherited from the start: Ctrl-C reaches it via us
      self.process.start()

  def lines(self):
    """This run's lines of train.log (the last few KB)."""
    return _tail(self.log, self.offset)


def _run_children(cfgs, processes, threads, out):
  """Runs train_lib.train(cfg) for each cfg in `processes` children at a time; the reports in order. Ctrl-C or
  SIGTERM here stops every child the way it stops one training (checkpoint, then exit), then raises
  TrainingInterrupted naming the runs that saved a checkpoint."""
  from clustergan_tf import train_lib
  context = multiprocessing.get_context("spawn")  # a fresh interpreter: no TensorFlow runtime inherited
  env = dict(zip(hardware.THREAD_ENV, map(str, threads))) if hardware.auto_threads(cfgs[0]) else {}
  shown = f"{threads[0]} intra-op thread(s), {threads[1]} inter-op" if env else "TensorFlow's thread pools"
  print(f"--processes={processes}: {len(cfgs)} trainings, {processes} at a time, {shown} each; "
        f"each logs to MODEL_DIR/train.log", file=out, flush=True)
  pending, running, reports, start = list(enumerate(cfgs)), {}, [None] * len(cfgs), time.monotonic()
  next_status = start + POLL_SECONDS
  try:
    while pending or running:
      while pending and len(running) < processes:
        i, cfg = pending.pop(0)
        files.writable_directory(cfg.model_dir, "model_dir")
        child = Child(context, i, cfg, env)
        running[child.process.sentinel] = child
        print(f"started {cfg.model_dir} (log {child.log})", file=out, flush=True)
      done = multiprocessing.connection.wait(list(running), timeout=max(0.0, next_status - time.monotonic()))
      for sentinel in done:
        child = running.pop(sentinel)
        child.process.join()
        reports[child.index] = _report(child)
        print(f"finished {child.cfg.model_dir}: {_summary(reports[child.index])}", file=out, flush=True)
      if time.monotonic() >= next_status:  # every POLL_SECONDS, whether or not a child finished meanwhile
        next_status = time.monotonic() + POLL_SECONDS
        minutes = (time.monotonic() - start) / 60
        for child in running.values():
          print(f"[{minutes:.0f} min] {child.cfg.model_dir}: {last_progress(child.lines())}", file=out, flush=True)
  except KeyboardInterrupt:  # Ctrl-C or SIGTERM here
    children = list(running.values())
    _stop(children)
    saved = [c.cfg.model_dir for c in children if any("checkpoint saved in" in line for line in c.lines())]
    raise train_lib.TrainingInterrupted(
        f"interrupted; {len(saved)} of {len(children)} running training(s) saved a checkpoint"
        f"{' (' + ', '.join(saved) + ')' if saved else ''}; rerun the same command to resume") from None
  except BaseException:  # a child's failure: stop the others the same way
    _stop(list(running.values()))
    raise
  return reports


def _stop(children):
  """SIGTERM to every child (each checkpoints and exits, as one training does), then waits for them; a second
  Ctrl-C or SIGTERM here is ignored, so that no checkpoint is cut short."""
  with _ignoring(signal.SIGINT, signal.SIGTERM):
    for child in children:
      if child.process.exitcode is None:  # not reaped: the pid is still this child's
        os.kill(child.process.pid, signal.SIGTERM)
    for child in children:
      child.process.join()


def _report(child):
  """metrics.json of a child that exited 0, or the error that its exit status and last log line mean."""
  from clustergan_tf import evaluate_lib, train_lib
  code, where = child.process.exitcode, f"{child.cfg.model_dir} (log {child.log})"
  if code == 0:
    return evaluate_lib.read(child.cfg.model_dir)
  lines = [line for line in child.lines() if line.strip()]
  last = lines[-1] if lines else "no output"
  message = f"{last.removeprefix('error: ')} [{where}]"
  if code == errors.EXIT_USAGE:
    raise errors.UsageError(message)
  if code == errors.EXIT_DIVERGED:
    raise train_lib.TrainingDiverged(message.removeprefix("training diverged: "))
  if code == errors.EXIT_INTERRUPTED:
    raise train_lib.TrainingInterrupted(message)
  if code < 0:
    raise ChildFailed(f"training {where} was killed by {signal.Signals(-code).name} (out of memory?)")
  raise ChildFailed(f"training {where} failed with exit status {code}: {last}")


def _summary(report):
  results = report.get("results") or {}
  accs = [f"{m} ACC {r['acc']:.4f}" for m, r in results.items() if "acc" in r]
  return f"step {report.get('step')}" + (", " + ", ".join(accs) if accs else "")


def _tail(path, offset=0, size=4096):
  """The lines of a text file after byte `offset`, at most its last `size` bytes; [] where it cannot be read."""
  try:
    with open(path, "rb") as f:
      f.seek(max(offset, os.path.getsize(path) - size))
      return f.read().decode("utf-8", "replace").splitlines()
  except OSError:
    return []


def last_progress(lines):
  """The latest progress line among a log's lines ('step 1200/4000 30% | 9.7 steps/s ... | ETA 4m49s'),
  without the losses; 'starting' before the first one."""
  lines = [line for line in lines if line.startswith("step ") and "| ETA" in line]
  if not lines:
    return "starting"
  head, _, rest = lines[-1].partition("| ETA ")
  return f"{head}| ETA {rest.split(' | ')[0]}"


@contextlib.contextmanager
def _environment(env):
  """os.environ with `env` added inside the block (what a child started there inherits), restored after."""
  saved = {k: os.environ.get(k) for k in env}
  os.environ.update(env)
  try:
    yield
  finally:
    for k, v in saved.items():
      if v is None:
        os.environ.pop(k, None)
      else:
        os.environ[k] = v


@contextlib.contextmanager
def _ignoring(*signums):
  """The signals ignored inside the block (only the main thread may change handlers: elsewhere, unchanged)."""
  if threading.current_thread() is not threading.main_thread():
    yield
    return
  saved = [signal.signal(s, signal.SIG_IGN) for s in signums]
  try:
    yield
  finally:
    for s, handler in zip(signums, saved):
      signal.signal(s, handler)


def _stop_with_parent():
  """A thread that SIGTERMs this child when its parent dies (killed, even by SIGKILL): it checkpoints and exits
  instead of training on beside a rerun of the same command."""
  parent = multiprocessing.parent_process()
  if parent is None:
    return

  def watch():
    multiprocessing.connection.wait([parent.sentinel])
    os.kill(os.getpid(), signal.SIGTERM)
  threading.Thread(target=watch, daemon=True).start()


def _child(cfg, path):
  """One training in a child process: output to `path` (file descriptors 1 and 2, TensorFlow's C++ lines
  included), SIGINT ignored since its start, SIGTERM once, one-line endings and exit statuses as `cli.run`'s."""
  from clustergan_tf import cli
  signal.signal(signal.SIGTERM, cli.interrupt_once)
  _stop_with_parent()
  log = open(path, "a", buffering=1)
  os.dup2(log.fileno(), 1)
  os.dup2(log.fileno(), 2)
  sys.stdout = sys.stderr = log
  from clustergan_tf import train_lib
  try:
    train_lib.train(cfg, out=log)
  except BaseException as e:
    ending = cli.ending(e, cfg.model_dir)
    if ending is None:
      raise  # a bug: multiprocessing prints the traceback into the log and exits 1
    print(f"error: {ending[0]}", file=log, flush=True)
    os._exit(ending[1])
  log.flush()
