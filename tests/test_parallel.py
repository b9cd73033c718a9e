"""parallel: several trainings at once in child processes; their threads, reports, errors and interruption."""

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from clustergan_tf import hardware, parallel, train_lib
from clustergan_tf.errors import UsageError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--dataset=synthetic", "--num_clusters=4", "--latent_dim=3", "--hidden_units=16,16", "--batch_size=8",
        "--n_critic=2", "--steps_per_loop=5", "--checkpoint_every=5", "--learning_rate=1e-3", "--logdir=none"]


def test_child_threads_share_the_cores():
  assert parallel.child_threads(2, 2) == (1, 1)  # one core each: one stream of one thread, as measured
  assert parallel.child_threads(2, 4) == (1, 1)
  assert parallel.child_threads(8, 2) == (2, 2)  # four cores each: --threads=auto's pools for four cores
  assert parallel.child_threads(16, 2) == (4, 2)
  assert parallel.child_threads(8, 2, xla=True) == (4, 4)  # an XLA step: TF's defaults for four cores
  assert parallel.child_threads(2, 2, xla=True) == (1, 1)


def test_last_progress_reads_this_run_of_the_log(tmp_path):
  log = tmp_path / "train.log"
  assert parallel._tail(str(log)) == []
  assert parallel.last_progress([]) == "starting"
  log.write_text("step 900/900 100% | 9.0 steps/s 576 img/s | ETA 0m00s | d_loss 1.0\n")  # an earlier run
  offset = log.stat().st_size
  with open(log, "a") as f:
    f.write("--precision=auto: float32\n"
            "step 50/4000   1% | 9.1 steps/s 582 img/s | ETA 7m14s | d_loss 1.2 g_loss 0.9\n"
            "step 100/4000   2% | 9.7 steps/s 618 img/s | ETA 6m42s | d_loss 1.1 g_loss 0.8\n")
  assert parallel.last_progress(parallel._tail(str(log))) == "step 100/4000   2% | 9.7 steps/s 618 img/s | ETA 6m42s"
  first = "step 50/4000   1% | 2.0 steps/s 128 img/s | ETA ? (first block, compiling) | d_loss 1.2"
  assert parallel.last_progress([first]) == "step 50/4000   1% | 2.0 steps/s 128 img/s | ETA ? (first block, compiling)"
  assert parallel._tail(str(log), offset)[0] == "--precision=auto: float32"
  assert parallel.last_progress(parallel._tail(str(log), offset + 1000)) == "starting"


class Ended:
  """Stands in for a parallel.Child whose process has exited with `code` after writing `text` to its log."""

  def __init__(self, cfg, code, text):
    self.cfg, self.log, self.offset = cfg, parallel.log_path(cfg), 0
    self.process = type("P", (), {"exitcode": code})()
    os.makedirs(cfg.model_dir, exist_ok=True)
    with open(self.log, "w") as f:
      f.write(text)

  def lines(self):
    return parallel._tail(self.log, self.offset)


def test_report_reads_metrics_json_or_raises_what_the_exit_status_means(tmp_path, tiny_config):
  cfg = dataclasses.replace(tiny_config, model_dir=str(tmp_path))
  (tmp_path / "metrics.json").write_text(json.dumps({"step": 4, "results": {}}))
  assert parallel._report(Ended(cfg, 0, "")) == {"step": 4, "results": {}}
  where = re.escape(f"[{tmp_path} (log {tmp_path}/train.log)]")
  with pytest.raises(UsageError, match=r"^--k must be >= 2 " + where):
    parallel._report(Ended(cfg, 2, "error: --k must be >= 2\n"))
  with pytest.raises(train_lib.TrainingDiverged, match=r"^NaN in d_loss at step 7 " + where):
    parallel._report(Ended(cfg, 3, "step 5/9\nerror: training diverged: NaN in d_loss at step 7\n"))
  with pytest.raises(train_lib.TrainingInterrupted, match=r"^interrupted at step 4 of 9"):
    parallel._report(Ended(cfg, 130, "error: interrupted at step 4 of 9; checkpoint saved in x\n"))
  with pytest.raises(parallel.ChildFailed, match="failed with exit status 1: ValueError: boom"):
    parallel._report(Ended(cfg, 1, "Traceback (most recent call last):\nValueError: boom\n"))
  with pytest.raises(parallel.ChildFailed, match="was killed by SIGKILL"):
    parallel._report(Ended(cfg, -9, ""))


def test_one_process_trains_in_order_here_with_the_shared_data(tiny_config, tiny_data, capsys):
  calls = []

  def fake_train(cfg, data=None, out=None):
    calls.append((cfg.seed, data))
    return {"seed": cfg.seed}
  cfgs = [dataclasses.replace(tiny_config, seed=s) for s in (3, 1)]
  assert parallel.train_all(cfgs, 1, tiny_data, sys.stdout, fake_train) == [{"seed": 3}, {"seed": 1}]
  assert calls == [(3, tiny_data), (1, tiny_data)]
  assert capsys.readouterr().out.count(f"== {tiny_config.model_dir} ==") == 2


def test_multi_worker_cannot_share_one_machine(tiny_config):
  with pytest.raises(UsageError, match="--processes=2 .* --strategy=multi_worker train one at a time"):
    parallel.check(dataclasses.replace(tiny_config, strategy="multi_worker"), 2)


@pytest.mark.slow  # child processes, each starting TensorFlow
def test_children_train_and_report_in_order(tmp_path, tiny_config, capsys, monkeypatch):
  for name in hardware.THREAD_ENV:
    monkeypatch.delenv(name, raising=False)  # a user's own pools would be kept
  cfgs = [dataclasses.replace(tiny_config, seed=s, logdir="none", model_dir=str(tmp_path / f"seed{s}"))
          for s in (0, 1, 2)]
  reports = parallel._run_children(cfgs, 2, (1, 1), sys.stdout)
  assert [r["step"] for r in reports] == [4, 4, 4]
  for cfg, report in zip(cfgs, reports):
    with open(os.path.join(cfg.model_dir, "metrics.json")) as f:
      assert json.load(f) == report
    assert "final weights sha256:" in open(os.path.join(cfg.model_dir, "train.log")).read()
  out = capsys.readouterr().out
  assert "--processes=2: 3 trainings, 2 at a time, 1 intra-op thread(s), 1 inter-op each" in out
  assert out.count("finished ") == 3


@pytest.mark.slow  # a command in a subprocess
@pytest.mark.parametrize("how", ["parent", "group", "parent_killed"])
def test_sigterm_stops_every_child_with_a_checkpoint(tmp_path, how):
  """SIGTERM to the command, or to its whole process group (timeout, Slurm: each child is signalled twice),
  or SIGKILL to the command alone: every child checkpoints once and exits; the command, where it lives, exits 130
  with one line."""
  cmd = [sys.executable, "-m", "clustergan_tf.reproduce", *TINY, f"--model_dir={tmp_path}", "--train_steps=100000",
         "--seeds=0,1", "--processes=2", "--nokmeans_baseline"]
  proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True)
  dirs, deadline = [str(tmp_path / f"seed{s}" / "ckpt") for s in (0, 1)], time.time() + 180
  while proc.poll() is None and not all(map(tf.train.latest_checkpoint, dirs)) and time.time() < deadline:
    time.sleep(0.2)
  if how == "group":
    os.killpg(proc.pid, signal.SIGTERM)
  else:
    proc.send_signal(signal.SIGKILL if how == "parent_killed" else signal.SIGTERM)
  _, err = proc.communicate(timeout=120)
  logs = [str(tmp_path / f"seed{s}" / "train.log") for s in (0, 1)]
  while how == "parent_killed" and time.time() < deadline + 120 and not all(
      "error: interrupted at step" in open(log).read() for log in logs):
    time.sleep(0.2)
  if how != "parent_killed":
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    assert re.fullmatch(r"error: interrupted; 2 of 2 running training\(s\) saved a checkpoint \(.*seed0, .*seed1\); "
                        r"rerun the same command to resume", err.strip().splitlines()[-1]), err[-2000:]
  for log, ckpt_dir in zip(logs, dirs):
    text = open(log).read()
    assert text.count("error: ") == 1 and "Traceback" not in text, text[-2000:]
    step = int(re.search(r"error: interrupted at step (\d+) of 100000; checkpoint saved", text).group(1))
    assert tf.train.latest_checkpoint(ckpt_dir).endswith(f"ckpt-{step}")
