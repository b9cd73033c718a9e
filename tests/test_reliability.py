"""Resume after SIGKILL, NaN guard, determinism and two-worker training (subprocesses, bounded in time)."""

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import tensorflow as tf

pytestmark = pytest.mark.slow  # every test runs a command-line module in a subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--dataset=synthetic", "--num_clusters=4", "--latent_dim=3", "--hidden_units=16,16", "--batch_size=8",
        "--n_critic=2", "--steps_per_loop=5", "--checkpoint_every=5", "--learning_rate=1e-3"]


def train_cmd(model_dir, *args):
  return [sys.executable, "-m", "clustergan_tf.train", *TINY, f"--model_dir={model_dir}", *args]


def run(cmd, env=None, timeout=300):
  return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


def fingerprint(stdout):
  return re.search(r"final weights sha256:([0-9a-f]+) at step (\d+)", stdout).groups()


def test_deterministic_runs_and_resume_after_kills(tmp_path, request):
  """A --deterministic run SIGKILLed 5 times at random points and rerun each time ends with the same
  step count and bit-identical weights as an uninterrupted run of the same seed in another process
  (noise is keyed by step and the data order by seed, so resuming loses nothing)."""
  args = ["--train_steps=300", "--deterministic"]
  uninterrupted = subprocess.Popen(train_cmd(tmp_path / "a", *args), cwd=ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)  # beside the killed runs: timing cannot change it
  request.addfinalizer(lambda: uninterrupted.poll() is None and uninterrupted.kill())  # a failed assert leaves none
  rng = random.Random(0)
  ckpt_dir = str(tmp_path / "k" / "ckpt")

  def saved_step():
    latest = tf.train.latest_checkpoint(ckpt_dir) if os.path.isdir(ckpt_dir) else None
    return int(latest.rsplit("-", 1)[1]) if latest else 0

  killed, deadline = 0, time.time() + 240
  while killed < 5 and time.time() < deadline:
    before = saved_step()
    proc = subprocess.Popen(train_cmd(tmp_path / "k", *args), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    while proc.poll() is None and saved_step() <= before and time.time() < deadline:
      time.sleep(0.05)  # wait for progress: a new checkpoint of this run
    time.sleep(rng.uniform(0.0, 0.5))  # then kill at a random point: training, saving or evaluating
    if proc.poll() is None:
      proc.send_signal(signal.SIGKILL)
      killed += 1
    proc.wait()
  assert killed == 5
  assert 0 < saved_step() < 300
  final = run(train_cmd(tmp_path / "k", *args))
  assert final.returncode == 0, final.stderr[-2000:]
  assert "resuming from" in final.stdout
  a_out, a_err = uninterrupted.communicate(timeout=300)
  assert uninterrupted.returncode == 0, a_err[-2000:]
  assert fingerprint(final.stdout) == fingerprint(a_out)
  assert json.loads((tmp_path / "k" / "metrics.json").read_text())["step"] == 300
  ev = run([sys.executable, "-m", "clustergan_tf.evaluate", f"--model_dir={tmp_path / 'k'}"])
  assert ev.returncode == 0, ev.stderr[-2000:]


def test_nan_stops_cleanly_and_keeps_the_last_good_checkpoint(tmp_path):
  good = run(train_cmd(tmp_path, "--train_steps=10"))
  assert good.returncode == 0, good.stderr[-2000:]
  bad = run(train_cmd(tmp_path, "--train_steps=50", "--learning_rate=1e10"))
  assert bad.returncode == 3
  last = bad.stderr.strip().splitlines()[-1]
  assert re.match(r"error: training diverged: \w+ became (nan|inf|-inf) by step 15; last good checkpoint: .*ckpt-10;",
                  last), last
  assert "Traceback" not in bad.stderr
  ev = run([sys.executable, "-m", "clustergan_tf.evaluate", f"--model_dir={tmp_path}"])
  assert ev.returncode == 0, ev.stderr[-2000:]
  assert json.loads((tmp_path / "metrics.json").read_text())["step"] == 10


def _free_ports(n):
  socks = [socket.socket() for _ in range(n)]
  for s in socks:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in socks]
  for s in socks:
    s.close()
  return ports


def _two_workers(model_dir, steps):
  """Runs 2 workers on 127.0.0.1 to --train_steps=steps; returns their stdouts (chief first)."""
  ports = _free_ports(2)
  cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
  procs = []
  for i in range(2):
    env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}))
    cmd = train_cmd(model_dir, f"--train_steps={steps}", "--strategy=multi_worker")
    procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  outs = []
  for p in procs:
    try:
      out, err = p.communicate(timeout=240)
    except subprocess.TimeoutExpired:
      for q in procs:
        q.kill()
      pytest.fail("multi-worker training did not finish in 240 s")
    assert p.returncode == 0, err[-3000:]
    outs.append(out)
  return outs


def test_two_workers_train_and_resume_identically(tmp_path):
  outs = _two_workers(tmp_path / "mw", 10)
  assert fingerprint(outs[0]) == fingerprint(outs[1])
  assert fingerprint(outs[0])[1] == "10"
  assert "argmax" in outs[0] and "argmax" not in outs[1]  # the chief alone evaluates
  assert json.loads((tmp_path / "mw" / "metrics.json").read_text())["step"] == 10
  assert str(tf.train.latest_checkpoint(str(tmp_path / "mw" / "ckpt"))).endswith("ckpt-10")
  outs = _two_workers(tmp_path / "mw", 15)  # both workers resume from the chief's checkpoint
  assert all("at step 10 of 15" in out for out in outs)
  assert fingerprint(outs[0]) == fingerprint(outs[1]) and fingerprint(outs[0])[1] == "15"
  assert json.loads((tmp_path / "mw" / "metrics.json").read_text())["step"] == 15
  assert str(tf.train.latest_checkpoint(str(tmp_path / "mw" / "ckpt"))).endswith("ckpt-15")


@pytest.mark.parametrize("module, extra, subdir", [("train", [], ""),
                                                   ("reproduce", ["--seeds=0", "--nokmeans_baseline"], "seed0"),
                                                   ("select_k", ["--k=4", "--seeds=0"], "k4/seed0")])
def test_sigterm_checkpoints_and_exits(tmp_path, module, extra, subdir):
  """Preemption: SIGTERM to any command that trains writes a checkpoint of the last finished step and
  exits 130 with one line."""
  cmd = [sys.executable, "-m", f"clustergan_tf.{module}", *TINY, f"--model_dir={tmp_path}", "--train_steps=100000",
         *extra]
  proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  ckpt_dir, deadline = str(tmp_path / subdir / "ckpt"), time.time() + 120
  while proc.poll() is None and not tf.train.latest_checkpoint(ckpt_dir) and time.time() < deadline:
    time.sleep(0.1)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=60)
  assert proc.returncode == 130, err[-2000:]
  assert "Traceback" not in err
  last = err.strip().splitlines()[-1]
  match = re.match(r"error: interrupted at step (\d+) of 100000; checkpoint saved in .*; rerun", last)
  assert match, err[-2000:]
  step = int(match.group(1))
  assert tf.train.latest_checkpoint(ckpt_dir).endswith(f"ckpt-{step}")
