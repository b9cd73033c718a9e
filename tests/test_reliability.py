"""Resume after SIGKILL, NaN guard, determinism and two-worker training (subprocesses, bounded in time)."""

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
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
  """A --deterministic run SIGKILLed 3 times at random points and rerun each time ends with the same
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

  # Kill i comes after the checkpoint at targets[i] (or later) plus a random pause, cut short 25 steps on, so
  # that no killed run can reach its 300 steps however fast the machine: a kill lands in training or saving.
  targets = sorted(rng.sample(range(5, 205, 5), 3))
  killed, deadline = 0, time.time() + 240
  while killed < 3 and time.time() < deadline:
    target = max(targets[killed], saved_step() + 5)
    proc = subprocess.Popen(train_cmd(tmp_path / "k", *args), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    while proc.poll() is None and saved_step() < target and time.time() < deadline:
      time.sleep(0.01)
    kill_at = time.time() + rng.uniform(0.0, 0.5)
    while proc.poll() is None and time.time() < kill_at and saved_step() < target + 25:
      time.sleep(0.005)
    if proc.poll() is None:
      proc.send_signal(signal.SIGKILL)
      killed += 1
    proc.wait()
  assert killed == 3
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


PORT_TAKEN = ("Address already in use", "Could not start gRPC server", "Failed to add port")


def _two_workers(model_dir, steps, attempts=3):
  """Runs 2 workers on 127.0.0.1 to --train_steps=steps; returns their stdouts (chief first). The free ports are
  found before the workers bind them, so another process may take one in between: then it starts again."""
  for _ in range(attempts):
    outs = _launch_two_workers(model_dir, steps)
    if outs is not None:
      return outs
  pytest.fail(f"a port was taken before a worker could bind it, {attempts} times")


def _launch_two_workers(model_dir, steps):
  """The two workers' stdouts, or None when a worker could not bind its port (the other is stopped)."""
  cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
  procs, logs = [], []
  for i in range(2):
    env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}))
    cmd = train_cmd(model_dir, f"--train_steps={steps}", "--strategy=multi_worker")
    logs.append((tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")))  # pipes could fill while it polls
    procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=logs[-1][0], stderr=logs[-1][1], text=True))
  deadline = time.time() + 240
  while time.time() < deadline and any(p.poll() is None for p in procs):
    if any(p.poll() not in (None, 0) for p in procs):  # one failed: its peer would wait for it until the deadline
      break
    time.sleep(0.2)
  for p in procs:
    if p.poll() is None:
      p.kill()
    p.wait()
  results = [tuple(_read(f) for f in pair) for pair in logs]
  failed = [err for p, (_, err) in zip(procs, results) if p.returncode != 0]
  if any(any(m in err for m in PORT_TAKEN) for err in failed):
    return None
  if time.time() >= deadline:
    pytest.fail("multi-worker training did not finish in 240 s")
  assert not failed, failed[0][-3000:]
  return [out for out, _ in results]


def _read(f):
  f.seek(0)
  text = f.read()
  f.close()
  return text


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


def test_a_taken_port_is_a_one_line_error(tmp_path):
  """A worker whose TF_CONFIG port another process holds (say, an old worker still running) stops with one line."""
  with socket.socket() as held:
    held.bind(("127.0.0.1", 0))
    held.listen()
    address = f"127.0.0.1:{held.getsockname()[1]}"
    cluster = {"worker": [address, f"127.0.0.1:{_free_ports(1)[0]}"]}
    env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}))
    proc = run(train_cmd(tmp_path, "--train_steps=5", "--strategy=multi_worker"), env=env, timeout=120)
  assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]  # 2: a usage error
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith("error: --strategy=multi_worker: Could not start gRPC server") and address in last, last
  assert "TF_CONFIG" in last


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
