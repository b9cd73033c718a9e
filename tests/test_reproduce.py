"""reproduce: the per-seed table, its mean row (over all seeds, never best-of-N) and the label-free pick."""

import pytest

from clustergan_tf import reproduce
from clustergan_tf.errors import UsageError


def report(acc, minutes, step, score=None):
  out = {"results": {"argmax": {"acc": acc, "purity": acc, "nmi": 0.5, "ari": 0.25}}, "train_minutes": minutes,
         "step": step}
  if score is not None:
    out["label_free_score"] = score
  return out


def test_seed_rows_and_the_mean_over_all_seeds():
  rows = reproduce.seed_rows([0, 1], [report(0.8, 1.0, 10, 0.7), report(0.6, 3.0, 30)], "argmax")
  assert rows[0] == "| seed 0 | 0.8000 | 0.8000 | 0.5000 | 0.2500 | 1.0 | 10 | 0.7000 |"
  assert rows[1] == "| seed 1 | 0.6000 | 0.6000 | 0.5000 | 0.2500 | 3.0 | 30 |  |"
  assert rows[2].startswith("| **mean ± std** | **0.7000** ± 0.1000 | **0.7000** ± 0.1000 | **0.5000** ± 0.0000")
  assert rows[2].endswith("| 2.0 | 20 |  |")


@pytest.mark.parametrize("seeds, message", [(["0", "x"], "--seeds=0,x must be comma-separated integers"),
                                             ([], "--seeds= must list distinct integers, at least one"),
                                             (["1", "1"], "--seeds=1,1 must list distinct integers, at least one")])
def test_seeds_must_be_distinct_integers_before_anything_trains(monkeypatch, seeds, message):
  """No seeds (a nan table, then argmax of nothing) and a repeated seed (the same run twice) end at once."""
  import types
  monkeypatch.setattr(reproduce, "FLAGS", types.SimpleNamespace(seeds=seeds))
  with pytest.raises(UsageError, match=f"^{message}$"):
    reproduce.main(["prog"])


def test_label_free_summary_names_the_pick_and_the_gap():
  line = reproduce.label_free_summary([0, 1, 2], [0.9, 0.8, 0.95], [0.80, 0.70, 0.85])
  assert "Spearman rho 1.00" in line and "picked seed 2 (ACC 0.8500)" in line and "gap 0.0000" in line
  line = reproduce.label_free_summary([0, 1, 2], [0.9, 0.8, 0.95], [0.80, 0.90, 0.85])
  assert "best seed 1 (ACC 0.9000)" in line and "gap 0.0500" in line


def test_label_free_summary_of_one_seed_prints_no_correlation():
  line = reproduce.label_free_summary([4], [0.7], [0.75])
  assert "no rank correlation (needs 3 seeds that differ) over 1 seed; picked seed 4 (ACC 0.7500)" in line
  assert "nan" not in line
  line = reproduce.label_free_summary([0, 1, 2], [0.5, 0.5, 0.5], [0.80, 0.70, 0.85])  # rho of a constant: nan
  assert "no rank correlation" in line and "nan" not in line
