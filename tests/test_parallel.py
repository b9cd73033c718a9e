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

from clustergan_tf import parallel, train_lib
from clustergan_tf.errors import UsageError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--dataset=synthetic", "--num_clusters=4", "--latent_dim=3", "--hidden_units=16,16", "--batch_size=8",
        "--n_critic=2", "--steps_per_loop=5", "--checkpoint_every=5", "--learning_rate=1e-3", "--logdir=none"]


def test_child_threads_share_the_cores():
  assert parallel.child_threads(2, 2) == (1, 1)  # one core each: one stream of one thread, as measured
  assert parallel.child_threads(2, 4) == (1, 1)
  assert parallel.child_threads(8, 2) == (2, 2)  # four cores each: --threads=auto's pools for four cores
  assert parallel.child_threads(16, 2) == (4, 2)


def test_last_progress_and_last_error_read_the_log(tmp_path):
  log = tmp_path / "train.log"
  assert parallel.last_progress(str(log)) == "starting"
  assert parallel.last_error(str(log)) == "no output"
  log.write_text("--precision=auto: float32\n"
                 "step 50/4000   1% | 9.1 steps/s 582 img/s | ETA 7m14s | d_loss 1.2 g_loss 0.9\n"
                 "step 100/4000   2% | 9.7 steps/s 618 img/s | ETA 6m42s | d_loss 1.1 g_loss 0.8\n"
                 "error: --data_dir=/x: no IDX files there\n")
  assert parallel.last_progress(str(log)) == "step 100/4000   2% | 9.7 steps/s 618 img/s | ETA 6m42s"
  assert parallel.last_error(str(log)) == "--data_dir=/x: no IDX files there"
  log.write_text("Traceback (most recent call last):\nValueError: boom\n")
  assert parallel.last_error(str(log)) == "ValueError: boom"


def test_report_reads_metrics_json_or_raises_what_the_exit_status_means(tmp_path, tiny_config):
  cfg = dataclasses.replace(tiny_config, model_dir=str(tmp_path))
  (tmp_path / "metrics.json").write_text(json.dumps({"step": 4, "results": {}}))
  assert parallel._report(0, cfg) == {"step": 4, "results": {}}
  (tmp_path / "train.log").write_text("error: --k must be >= 2\n")
  with pytest.raises(UsageError, match=re.escape(f"--k must be >= 2 [{tmp_path} (log {tmp_path}/train.log)]")):
    parallel._report(2, cfg)
  with pytest.raises(train_lib.TrainingDiverged):
    parallel._report(3, cfg)
  with pytest.raises(KeyboardInterrupt):
    parallel._report(130, cfg)
  with pytest.raises(parallel.ChildFailed, match="failed with exit status 1: --k must be >= 2"):
    parallel._report(1, cfg)


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
def test_children_train_and_report_in_order(tmp_path, tiny_config, capsys):
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
def test_sigterm_stops_every_child_with_a_checkpoint(tmp_path):
  cmd = [sys.executable, "-m", "clustergan_tf.reproduce", *TINY, f"--model_dir={tmp_path}", "--train_steps=100000",
         "--seeds=0,1", "--processes=2", "--nokmeans_baseline"]
  proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  dirs, deadline = [str(tmp_path / f"seed{s}" / "ckpt") for s in (0, 1)], time.time() + 180
  while proc.poll() is None and not all(map(tf.train.latest_checkpoint, dirs)) and time.time() < deadline:
    time.sleep(0.2)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 130, err[-2000:]
  assert "Traceback" not in err
  assert re.fullmatch(r"error: interrupted; 2 running training\(s\) saved a checkpoint \(.*seed0, .*seed1\); "
                      r"rerun the same command to resume", err.strip().splitlines()[-1]), err[-2000:]
  for s, ckpt_dir in enumerate(dirs):
    log = open(tmp_path / f"seed{s}" / "train.log").read()
    step = int(re.search(r"error: interrupted at step (\d+) of 100000; checkpoint saved", log).group(1))
    assert tf.train.latest_checkpoint(ckpt_dir).endswith(f"ckpt-{step}")
