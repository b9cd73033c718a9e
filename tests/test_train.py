"""The train and evaluate CLIs end to end (subprocesses), and their one-line errors."""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from clustergan_tf import metrics, quiet

pytestmark = pytest.mark.slow  # every test runs a command-line module in a subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--num_clusters=4", "--latent_dim=3", "--hidden_units=16,16", "--batch_size=8", "--n_critic=2",
        "--steps_per_loop=2", "--checkpoint_every=2"]


def run(module, *args):
  return subprocess.run([sys.executable, "-m", f"clustergan_tf.{module}", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)


def assert_one_line_error(proc, *fragments):
  assert proc.returncode != 0, proc.stdout
  assert "Traceback" not in proc.stderr, proc.stderr
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith("error: "), proc.stderr
  for fragment in fragments:
    assert fragment in last, last


def test_train_then_evaluate_end_to_end(tmp_path):
  model_dir = tmp_path / "run"
  proc = run("train", "--flagfile=synthetic.flags", "--train_steps=4", f"--model_dir={model_dir}", *TINY)
  assert proc.returncode == 0, proc.stderr
  assert re.search(r"^step 2/4  50% \| [\d.]+ steps/s \d+ rows/s \| ETA \? \(first block, compiling\) \| d_loss ",
                   proc.stdout, re.M)
  assert re.search(r"^step 4/4 100% \| [\d.]+ steps/s \d+ rows/s \| ETA 0m00s \| d_loss ", proc.stdout, re.M)
  assert "r1_penalty" not in proc.stdout and "gradient_penalty" in proc.stdout  # the terms WGAN-GP uses
  report = json.loads((model_dir / "metrics.json").read_text())
  assert report["dataset"] == "synthetic" and report["split"] == "test" and report["step"] == 4
  assert report["num_clusters"] == 4
  saved = np.load(model_dir / "assignments.npz")
  assert set(saved.files) == {"labels", "argmax", "kmeans", "outlier_score"} and len(saved["labels"]) == 2000
  for method in ("argmax", "kmeans"):  # the reported figures are those of the saved clusters
    assert report["results"][method] == metrics.all_metrics(saved["labels"], saved[method])
  assert len(report["weights_sha256"]) == 16 and f"final weights sha256:{report['weights_sha256']}" in proc.stdout
  assert json.loads((model_dir / "config.json").read_text())["train_steps"] == 4  # flag overrides flag file

  pictures = sorted(p.name for p in (model_dir / "images").iterdir())
  assert pictures == ["interpolation_0_to_1.png", "real_vs_reconstruction.png", "samples_by_cluster.png"]
  (model_dir / "metrics.json").unlink()
  shutil.rmtree(model_dir / "images")
  proc = run("evaluate", f"--model_dir={model_dir}", "--split=train")
  assert proc.returncode == 0, proc.stderr
  assert f"wrote {model_dir / 'metrics.json'} and assignments.npz of the train split" in proc.stdout
  assert sorted(p.name for p in (model_dir / "images").iterdir()) == pictures  # evaluate draws them too
  assert f"and the pictures in {model_dir / 'images'}" in proc.stdout
  again = json.loads((model_dir / "metrics.json").read_text())
  assert again["split"] == "train" and again["step"] == 4 and again["num_examples"] == 10000
  # one schema whoever writes metrics.json: evaluate keeps the training fields
  assert (again["train_minutes"], again["weights_sha256"]) == (report["train_minutes"], report["weights_sha256"])
  assert "mode_purity" in report["diagnostics"] and again["diagnostics"] == report["diagnostics"]  # of G: any split

  proc = run("train", "--flagfile=synthetic.flags", "--train_steps=6", f"--model_dir={model_dir}", *TINY)
  assert proc.returncode == 0, proc.stderr
  assert "resuming from" in proc.stdout and "at step 4 of 6" in proc.stdout
  assert json.loads((model_dir / "metrics.json").read_text())["step"] == 6

  export_dir = tmp_path / "export"
  proc = run("export", f"--model_dir={model_dir}", f"--export_dir={export_dir}", "--parity")
  assert proc.returncode == 0, proc.stderr
  assert re.search(r"^\| tflite_int8 \| [\d.e+-]+ \| [\d.]+% \|$", proc.stdout, re.M), proc.stdout
  # the converter's and LiteRT's own stderr lines, and the TF1 loader's deprecation, are kept off
  assert not re.search(quiet.TFLITE_NOISE, proc.stderr, re.M) and "deprecated" not in proc.stderr, proc.stderr
  proc = run("export", f"--check={export_dir}")
  assert proc.returncode == 0 and proc.stdout.strip().endswith(f"{export_dir}: OK"), proc.stderr


@pytest.mark.parametrize("args,fragments", [
    (["--dataset=cifar"], ["--dataset", "cifar"]),
    (["--num_clusters=1"], ["--num_clusters=1", ">= 2"]),
    (["--hidden_units=a,b"], ["--hidden_units"]),
    (["--dataset=mnist", "--data_source=idx", "--data_dir=/nonexistent"], ["--data_dir=/nonexistent"]),
    (["--dataset=vectors"], ["--data_path"]),
    (["--dataset=images"], ["--data_path=FILE.npy", "directory of image files"]),
    (["--model_dir=/proc/version/run"], ["--model_dir=/proc/version/run", "not writable"]),
    (["positional"], ["unexpected arguments"]),
])
def test_bad_input_gets_one_line_error(args, fragments):
  """One case per way a mistake reaches the CLI (absl's parser, a list flag, `config.validate`, the data, the
  model_dir); every message of `validate` is checked in-process in test_config."""
  assert_one_line_error(run("train", "--train_steps=1", *args), *fragments)


def test_evaluate_without_a_model(tmp_path):
  assert_one_line_error(run("evaluate", f"--model_dir={tmp_path}"), "config.json")


def test_experiments_needs_an_experiment():
  assert_one_line_error(run("experiments"), "--experiment is required")


@pytest.mark.parametrize("module", ["train", "reproduce", "experiments"])
def test_help_lists_the_settings_with_their_help(module):
  proc = run(module, "--help")  # absl exits with status 1 after printing the usage
  assert "--real_balance_weight: Real-data term: weight of -H(mean softmax(E_c(x)))" in proc.stdout
