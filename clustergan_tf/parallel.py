"""Several trainings at once, each in its own process with an equal share of the CPU's cores.

The step's ops are small at batch 64, so on a 2-core CPU two single-thread trainings run about 20 steps/s
together where one training on both cores runs 15 (BUILD_NOTES, thirteenth session): `reproduce` and `select_k`
train their runs N at a time with --processes=N. CPU only: each GPU process would claim the whole GPU.
"""

import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time

from clustergan_tf import hardware

POLL_SECONDS = 60  # how often the parent prints each child's progress line
EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 2, 3, 130  # the exit statuses of `cli.run`


class ChildFailed(Exception):
  """A child training ended with an error that is not the user's (a bug: its traceback is in its log)."""


def child_threads(num_cores, processes):
  """(intra-op, inter-op) threads of each of `processes` trainings on `num_cores` cores: one stream of one
  thread where a process has one core (as measured), else --threads=auto's pools for its share."""
  share = max(1, num_cores // processes)
  return (1, 1) if share == 1 else hardware.thread_pools(share, has_gpus=False)


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
  return _run_children(cfgs, processes, child_threads(hardware.cores(), processes), out)


def check(cfg, processes):
  """UsageError where trainings cannot share the machine as processes: several workers, or GPUs (each process
  would claim every GPU's memory)."""
  import tensorflow as tf

  from clustergan_tf.errors import UsageError
  if cfg.strategy == "multi_worker":
    raise UsageError(f"--processes={processes} runs trainings side by side on one machine; with "
                     "--strategy=multi_worker train one at a time (--processes=1)")
  if cfg.cpu_replicas <= 1 and tf.config.list_physical_devices("GPU"):
    raise UsageError(f"--processes={processes} is for CPUs: this machine has GPUs, which one training at a time "
                     "uses whole (--processes=1)")


def _run_children(cfgs, processes, threads, out):
  """Runs train_lib.train(cfg) for each cfg in `processes` children at a time; the reports in order. Ctrl-C or
  SIGTERM here stops every child the way it stops one training (checkpoint, then exit), then re-raises."""
  context = multiprocessing.get_context("spawn")  # a fresh interpreter: no TensorFlow runtime inherited
  pending, running, reports = list(enumerate(cfgs)), {}, [None] * len(cfgs)
  env = {} if cfgs[0].threads != "auto" or any(os.environ.get(v) for v in hardware.THREAD_ENV) else dict(
      zip(hardware.THREAD_ENV, map(str, threads)))
  shown = f"{threads[0]} intra-op thread(s), {threads[1]} inter-op" if env else "TensorFlow's thread pools"
  print(f"--processes={processes}: {len(cfgs)} trainings, {processes} at a time, {shown} each; "
        f"each logs to MODEL_DIR/train.log", file=out, flush=True)
  start = time.monotonic()
  try:
    while pending or running:
      while pending and len(running) < processes:
        i, cfg = pending.pop(0)
        os.makedirs(cfg.model_dir, exist_ok=True)
        child = context.Process(target=_child, args=(cfg, log_path(cfg), env), daemon=False)
        child.start()
        running[child.sentinel] = (child, i, cfg)
        print(f"started {cfg.model_dir} (log {log_path(cfg)})", file=out, flush=True)
      done = multiprocessing.connection.wait(list(running), timeout=POLL_SECONDS)
      for sentinel in done:
        child, i, cfg = running.pop(sentinel)
        child.join()
        reports[i] = _report(child.exitcode, cfg)
        print(f"finished {cfg.model_dir}: {_summary(reports[i])}", file=out, flush=True)
      if not done:
        minutes = (time.monotonic() - start) / 60
        for _, _, cfg in running.values():
          print(f"[{minutes:.0f} min] {cfg.model_dir}: {last_progress(log_path(cfg))}", file=out, flush=True)
  except KeyboardInterrupt:  # Ctrl-C or SIGTERM here, or a child stopped by one
    from clustergan_tf import train_lib
    stopped = [cfg.model_dir for _, _, cfg in running.values()]
    _stop([child for child, _, _ in running.values()])
    raise train_lib.TrainingInterrupted(
        f"interrupted; {len(stopped)} running training(s) saved a checkpoint ({', '.join(stopped) or 'none'}); "
        "rerun the same command to resume") from None
  except BaseException:  # a child's failure: stop the others cleanly
    _stop([child for child, _, _ in running.values()])
    raise
  return reports


def _stop(children):
  """SIGTERM to every child (each checkpoints and exits, as one training does), then wait for them."""
  for child in children:
    if child.is_alive():
      os.kill(child.pid, signal.SIGTERM)
  for child in children:
    child.join()


def _report(exitcode, cfg):
  """metrics.json of a child that ended with status `exitcode`, or the error its ending means."""
  from clustergan_tf import evaluate_lib, train_lib
  from clustergan_tf.errors import UsageError
  where = f"{cfg.model_dir} (log {log_path(cfg)})"
  if exitcode == 0:
    return evaluate_lib.read(cfg.model_dir)
  last = last_error(log_path(cfg))
  if exitcode == EXIT_USAGE:
    raise UsageError(f"{last} [{where}]")
  if exitcode == EXIT_DIVERGED:
    raise train_lib.TrainingDiverged(f"{last} [{where}]")
  if exitcode == EXIT_INTERRUPTED:
    raise KeyboardInterrupt
  raise ChildFailed(f"training {where} failed with exit status {exitcode}: {last}")


def _summary(report):
  results = report.get("results") or {}
  accs = [f"{m} ACC {r['acc']:.4f}" for m, r in results.items() if "acc" in r]
  return f"step {report.get('step')}" + (", " + ", ".join(accs) if accs else "")


def _tail(path, size=4096):
  """The last lines of a text file (up to `size` bytes); [] when it cannot be read."""
  try:
    with open(path, "rb") as f:
      f.seek(max(0, os.path.getsize(path) - size))
      return f.read().decode("utf-8", "replace").splitlines()
  except OSError:
    return []


def last_progress(path):
  """The training's latest progress line ('step 1200/4000 30% | 9.7 steps/s ... | ETA 4m49s'), without the
  losses; 'starting' before the first one."""
  lines = [line for line in _tail(path) if line.startswith("step ") and "| ETA" in line]
  if not lines:
    return "starting"
  head, _, rest = lines[-1].partition("| ETA ")
  return f"{head}| ETA {rest.split(' ')[0]}"


def last_error(path):
  """The child's one-line error ('error: ...' without the prefix), else its last line."""
  lines = [line for line in _tail(path) if line.strip()]
  errors = [line for line in lines if line.startswith("error: ")]
  return errors[-1][len("error: "):] if errors else (lines[-1] if lines else "no output")


def _child(cfg, path, env):
  """One training in a child process: output to `path`, Ctrl-C left to the parent (which forwards it as
  SIGTERM, so a child is never interrupted twice while it checkpoints), exit statuses as `cli.run`'s."""
  os.environ.update(env)
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  signal.signal(signal.SIGTERM, signal.default_int_handler)
  log = open(path, "a", buffering=1)
  os.dup2(log.fileno(), 1)  # TensorFlow's own C++ output too
  os.dup2(log.fileno(), 2)
  sys.stdout = sys.stderr = log
  from clustergan_tf import quiet  # noqa: F401  (before TensorFlow)
  from clustergan_tf import train_lib
  from clustergan_tf.errors import UsageError
  try:
    train_lib.train(cfg, out=log)
  except UsageError as e:
    print(f"error: {e}", file=log, flush=True)
    os._exit(EXIT_USAGE)
  except KeyboardInterrupt:
    print("error: interrupted", file=log, flush=True)
    os._exit(EXIT_INTERRUPTED)
  except train_lib.TrainingInterrupted as e:
    print(f"error: {e}", file=log, flush=True)
    os._exit(EXIT_INTERRUPTED)
  except train_lib.TrainingDiverged as e:
    print(f"error: training diverged: {e}", file=log, flush=True)
    os._exit(EXIT_DIVERGED)
  log.flush()
