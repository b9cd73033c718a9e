"""select_k: one run per (K, seed) under MODEL_DIR/k<K>/seed<s>, the table, select_k.json and the pick."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from clustergan_tf import select_k
from clustergan_tf.config import Config
from clustergan_tf.errors import UsageError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRUTH = np.repeat(np.arange(10), 50)


def fake_train(cfg, data=None, out=None):
  """Stands in for train_lib.train: seeds agree at K=10 only; writes assignments.npz, returns a report."""
  k, rng = cfg.num_clusters, np.random.default_rng(cfg.seed)
  clusters = TRUTH.copy() if k == 10 else rng.integers(0, k, size=len(TRUTH))
  os.makedirs(cfg.model_dir, exist_ok=True)
  np.savez(os.path.join(cfg.model_dir, "assignments.npz"), labels=TRUTH, argmax=clusters, kmeans=clusters)
  fake_train.calls.append((k, cfg.seed, cfg.model_dir))
  return {"results": {"argmax": {"acc": 1.0 if k == 10 else 0.3}}, "label_free_score": 0.9 - abs(k - 8) / 100}


@pytest.fixture
def base(tmp_path):
  fake_train.calls = []
  return Config(model_dir=str(tmp_path / "sel"))


@pytest.mark.parametrize("k, seeds, message", [(["1", "4"], ["0"], "--k=1,4: every value must be >= 2"),
                                                ([], ["0"], "--k= must list distinct integers, at least one"),
                                                (["4"], ["0", "0"], "--seeds=0,0 must list distinct integers")])
def test_k_and_seeds_are_checked_by_the_shared_integer_list(monkeypatch, k, seeds, message):
  import types
  monkeypatch.setattr(select_k, "FLAGS", types.SimpleNamespace(k=k, seeds=seeds))
  with pytest.raises(UsageError, match=message):
    select_k.main(["prog"])


def test_select_trains_every_k_and_seed_and_picks_the_k_the_seeds_agree_on(base, tiny_data, capsys):
  result = select_k.select(base, [6, 10, 14], [0, 1], data=tiny_data, train_fn=fake_train)
  assert [c[:2] for c in fake_train.calls] == [(6, 0), (6, 1), (10, 0), (10, 1), (14, 0), (14, 1)]
  assert fake_train.calls[3][2] == os.path.join(base.model_dir, "k10", "seed1")
  assert result["picked"] == 10 and result["k"] == [6, 10, 14] and result["score"][1] == pytest.approx(1.0)
  saved = json.load(open(os.path.join(base.model_dir, "select_k.json")))
  assert {"k", "score", "picked", "agreement", "balance", "acc_not_used"} <= set(saved)
  assert saved["picked"] == 10 and saved["criterion"] == "agreement x balance"
  lines = capsys.readouterr().out.strip().splitlines()
  assert lines[-1] == "picked K=10"
  assert "| K | score | agreement (mean pairwise ARI) |" in "\n".join(lines)
  assert "mean ACC (labels: not used to pick)" in "\n".join(lines)
  assert any(line.startswith("| 10 | 1.0000 | 1.0000 | 1.0000 | 1.0000 | 10.0 | 0.8800 | 1.0000 |") for line in lines)


def test_learned_shares_judge_balance_against_each_runs_prior_shares(tmp_path):
  """score_all reads prior_shares from the reports when the runs learned them (else: the entropy form)."""
  even = np.repeat(np.arange(4), 5)
  for s in (0, 1):
    os.makedirs(select_k.run_dir(str(tmp_path), 4, s))
    np.savez(os.path.join(select_k.run_dir(str(tmp_path), 4, s), "assignments.npz"), argmax=even)
  reports = {4: [{"results": {}, "prior_shares": [0.25] * 4}, {"results": {}, "prior_shares": [0.7, 0.1, 0.1, 0.1]}]}
  uniform = select_k.score_all(str(tmp_path), [4], [0, 1], reports, "argmax")[0]
  learned = select_k.score_all(str(tmp_path), [4], [0, 1], reports, "argmax", learned=True)[0]
  assert uniform["balance"] == pytest.approx(1.0)
  kl = 0.25 * (np.log(0.25 / 0.7) + 3 * np.log(0.25 / 0.1))  # the second run's shares are far from its prior's
  assert learned["balance"] == pytest.approx((1.0 + 1.0 - kl / np.log(4)) / 2)


def test_one_seed_falls_back_to_the_label_free_score_and_says_so(base, tiny_data, capsys):
  result = select_k.select(base, [6, 8, 10], [3], data=tiny_data, train_fn=fake_train)
  assert result["picked"] == 8 and result["criterion"].startswith("label_free_score")
  out = capsys.readouterr().out
  assert "one seed: K is scored by the model's own label_free_score" in out


def test_no_matplotlib_no_png_and_a_note(base, tiny_data, capsys, monkeypatch):
  monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
  select_k.select(base, [6, 10], [0, 1], data=tiny_data, train_fn=fake_train)
  assert "no select_k.png: matplotlib is not installed" in capsys.readouterr().out
  assert not os.path.exists(os.path.join(base.model_dir, "select_k.png"))


def test_png_with_matplotlib(base, tiny_data):
  pytest.importorskip("matplotlib")
  select_k.select(base, [6, 10], [0, 1], data=tiny_data, train_fn=fake_train)
  assert os.path.getsize(os.path.join(base.model_dir, "select_k.png")) > 0


@pytest.mark.slow
def test_bad_k_is_a_one_line_error(tmp_path):
  proc = subprocess.run([sys.executable, "-m", "clustergan_tf.select_k", "--k=1,4", f"--model_dir={tmp_path}"],
                        cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 2 and "Traceback" not in proc.stderr
  assert proc.stderr.strip().splitlines()[-1] == "error: --k=1,4: every value must be >= 2"
