"""Rules of the codebase that a reviewer would otherwise check by hand."""

import ast
import glob
import os
import shutil
import subprocess
import sys

import pytest
from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "clustergan_tf")
MAX_FUNCTION_LINES = 60


def _modules():
  return sorted(glob.glob(os.path.join(PACKAGE, "*.py")))


def _cli_modules():
  return [p for p in _modules() if "cli.run(main" in open(p).read()]


def test_no_function_is_longer_than_sixty_lines():
  long = []
  for path in _modules():
    for node in ast.walk(ast.parse(open(path).read())):
      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        lines = node.end_lineno - node.lineno + 1
        if lines > MAX_FUNCTION_LINES:
          long.append(f"{os.path.basename(path)}:{node.name} ({lines} lines)")
  assert not long


def test_no_command_line_module_imports_another():
  clis = {os.path.basename(p)[:-3] for p in _cli_modules()}
  assert {"train", "evaluate", "export", "decode", "reproduce", "experiments", "benchmark", "curves"} <= clis
  for path in _cli_modules():
    for node in ast.walk(ast.parse(open(path).read())):
      if isinstance(node, ast.ImportFrom) and node.module == "clustergan_tf":
        assert not {a.name for a in node.names} & clis, f"{os.path.basename(path)} imports a CLI"


def test_every_command_that_trains_checkpoints_on_sigterm():
  """cli.run(main, trains=True) routes SIGTERM (preemption) to the training loop's checkpoint-and-exit."""
  trains = {os.path.basename(p)[:-3]: any(call in open(p).read() for call in ("train_lib.train", "parallel.train_all"))
            for p in _cli_modules()}
  assert {"train", "reproduce", "select_k", "experiments"} <= {m for m, t in trains.items() if t}
  for path in _cli_modules():
    text = open(path).read()
    assert ("cli.run(main, trains=True)" in text) == trains[os.path.basename(path)[:-3]], os.path.basename(path)


def test_importing_a_command_line_module_defines_no_flags():
  """Flags are defined by each CLI's define_flags(), called only when it runs."""
  import importlib
  before = set(flags.FLAGS)
  for path in _cli_modules():
    importlib.import_module(f"clustergan_tf.{os.path.basename(path)[:-3]}")
  assert set(flags.FLAGS) == before


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is a test dependency: pip install -e '.[test]'")
def test_ruff_is_clean():
  proc = subprocess.run(["ruff", "check", "clustergan_tf", "tests"], cwd=ROOT, capture_output=True, text=True)
  assert proc.returncode == 0, proc.stdout + proc.stderr


def test_settings_are_declared_once():
  """No CLI redefines a training setting by hand: the Config field is the only declaration."""
  from clustergan_tf import config as config_lib
  names = {f.name for f in config_lib.FIELDS}
  for module in ("train.py", "reproduce.py", "experiments.py"):
    for node in ast.walk(ast.parse(open(os.path.join(PACKAGE, module)).read())):
      if isinstance(node, ast.Call) and getattr(node.func, "attr", "").startswith("DEFINE_") and node.args:
        assert getattr(node.args[0], "value", None) not in names, f"{module} defines a setting by hand"


def test_gpu_check_stops_before_training_without_the_idx_files(tmp_path):
  """.ci/gpu_check checks its DATA_DIR (and a GPU) before it trains anything, and says what is missing in one line."""
  env = dict(os.environ, OUT=str(tmp_path / "out"))
  proc = subprocess.run([os.path.join(ROOT, ".ci", "gpu_check"), str(tmp_path)], capture_output=True, text=True,
                        env=env, timeout=60)
  assert proc.returncode == 2
  assert proc.stderr.strip() == (f"gpu_check: {tmp_path} has no train-images-idx3-ubyte[.gz]; "
                                 "DATA_DIR needs MNIST's four IDX files")
  assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", [[".ci/gpu_check"], [sys.executable, ".ci/gpu_programs.py"],
                                     [sys.executable, ".ci/gpu_replay.py", "programs", "mnist"]])
def test_the_gpu_tools_print_their_usage_for_missing_arguments(command):
  """Developer tools too: a usage line and exit 2, not bash's or Python's error."""
  proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=60)
  assert (proc.returncode, proc.stderr.split()[0]) == (2, "usage:")
