"""Quiet TensorFlow start-up (clustergan_tf/quiet.py): the known noise is dropped, everything else still shows."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

from clustergan_tf import quiet

REPO = pathlib.Path(__file__).resolve().parents[1]

# Lines TF 2.21 prints at start-up on a CPU machine (see quiet.py for where each comes from).
ABSL_NOTE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
ONEDNN = ("I0000 00:00:1796033026.187883   24712 port.cc:153] oneDNN custom operations are on. You may see "
          "slightly different numerical results due to floating-point round-off errors from different "
          "computation orders. To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.")
CUDART = ("I0000 00:00:1796033026.188215   24712 cudart_stub.cc:31] Could not find cuda drivers on your machine, "
          "GPU will not be used.")
CUINIT = ("E0000 00:00:1796033029.322143   24712 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
          "Failed call to cuInit: UNKNOWN ERROR (303)")
WARNING = "W0000 00:00:1796033029.322143   24712 some_op.cc:12] a warning"
REMAPPER = ("E0000 00:00:1796033630.742097     543 meta_optimizer.cc:967] remapper failed: INVALID_ARGUMENT: "
            "Mutation::Apply error: fanout 'a/LeakyReluGrad' exist for missing node 'a/BiasAdd'.")
OTHER_CUINIT = ("E0000 00:00:1796033029.322143   24712 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
                "CUDA error: Failed call to cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected (100)")
PY_WARNING = "W1130 10:09:05.836158 140657402436480 file_utils.py:394] Python's absl, not TF's C++"
FATAL = "F0000 00:00:1796033029.322143   24712 cpu_feature_guard.cc:1] The TensorFlow library was compiled to use AVX"


def _dropped(pattern, lines):
  drop = re.compile(pattern.encode())
  return [line for line in lines if drop.search(line.encode() + b"\n")]


def test_startup_noise_at_level_2_without_driver(monkeypatch):
  monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")  # what quiet.py sets unless the user did
  dropped = _dropped(quiet._startup_noise(no_driver=True), [ABSL_NOTE, ONEDNN, CUDART, CUINIT, WARNING, REMAPPER,
                                                           OTHER_CUINIT, PY_WARNING, FATAL, "error: --foo is bad",
                                                           "Traceback"])
  assert dropped == [ABSL_NOTE, ONEDNN, CUDART, CUINIT, WARNING]


def test_startup_noise_keeps_cuinit_where_a_driver_is(monkeypatch):
  monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")  # INFO hidden, warnings shown
  assert _dropped(quiet._startup_noise(no_driver=False), [ABSL_NOTE, ONEDNN, CUINIT, WARNING]) == [ABSL_NOTE, ONEDNN]


def test_startup_noise_level_0_shows_info(monkeypatch):
  monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
  assert _dropped(quiet._startup_noise(no_driver=True), [ABSL_NOTE, ONEDNN, CUINIT]) == [CUINIT]
  assert quiet._startup_noise(no_driver=False) == ""  # nothing to filter: no child process either


def _run(args, tmp_path, **env):
  """Runs `python args...` as a newcomer would: TF_CPP_MIN_LOG_LEVEL left to quiet.py."""
  environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  environ.update(env)
  return subprocess.run([sys.executable, *args], cwd=tmp_path, env=environ, capture_output=True, text=True,
                        timeout=600)


FILTER_SCRIPT = """
import os, sys
from clustergan_tf import quiet
os.write(2, b"before\\n")
with quiet.stderr_without("^drop"):
  os.write(2, b"drop me\\n")
  os.write(2, b"keep me\\n")
  print("python keep", file=sys.stderr)
  if sys.argv[1] == "abort":
    os.write(2, b"F0000 fatal: last words\\n")
    os.abort()
  os.write(2, b"drop me too\\n")
os.write(2, b"after\\n")
os.write(2, b"drop outside the window\\n")
"""


@pytest.mark.slow
def test_stderr_filter_drops_only_its_pattern(tmp_path):
  out = _run(["-c", FILTER_SCRIPT, "ok"], tmp_path)
  assert out.returncode == 0
  assert out.stderr.splitlines() == ["before", "keep me", "python keep", "after", "drop outside the window"]


@pytest.mark.slow
def test_stderr_filter_still_prints_when_the_process_dies(tmp_path):
  """A fatal error inside the window (TF aborting on import) still reaches the terminal."""
  out = _run(["-c", FILTER_SCRIPT, "abort"], tmp_path)
  assert out.returncode != 0
  assert out.stderr.splitlines() == ["before", "keep me", "python keep", "F0000 fatal: last words"]


def _assert_quiet(stderr):
  for line in stderr.splitlines():
    assert not line.startswith(("E0000", "I0000")) and "cuInit" not in line and "InitializeLog" not in line, line


@pytest.mark.slow
def test_tensorflow_import_is_quiet(tmp_path):
  out = _run(["-c", "from clustergan_tf import cli; import tensorflow as tf; print(tf.reduce_sum([1, 2]).numpy())"],
             tmp_path)
  assert out.returncode == 0 and out.stdout.strip() == "3", out.stderr
  _assert_quiet(out.stderr)


@pytest.mark.slow
def test_train_cli_starts_quietly(tmp_path):
  out = _run(["-m", "clustergan_tf.train", f"--flagfile={REPO / 'synthetic.flags'}", "--train_steps=2",
              f"--model_dir={tmp_path / 'run'}"], tmp_path)
  assert out.returncode == 0, out.stderr
  assert "final weights sha256:" in out.stdout
  _assert_quiet(out.stderr)


@pytest.mark.slow
def test_train_cli_bad_flag_is_one_error_line(tmp_path):
  """Real errors still show: a bad flag is one `error:` line (and nothing else) with exit status 2."""
  out = _run(["-m", "clustergan_tf.train", "--no_such_flag=1"], tmp_path)
  assert out.returncode == 2
  lines = out.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error:") and "no_such_flag" in lines[0], out.stderr


def test_first_call_hides_the_remapper_line_once_and_nothing_else(capfd):
  def step():
    os.write(2, (REMAPPER + "\n").encode())
    os.write(2, b"E0000 a real error\n")
    return 7

  step_once_quiet = quiet.first_call(step)
  assert step_once_quiet() == 7 and step_once_quiet() == 7
  err = capfd.readouterr().err
  assert err.count("remapper failed") == 1 and err.count("a real error") == 2, err
