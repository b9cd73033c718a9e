import json

import pytest

from clustergan_tf import curves
from clustergan_tf.errors import UsageError


def test_read_curve_sorts_and_keeps_the_last_of_a_repeated_step(tmp_path):
  lines = [{"step": 200, "train_minutes": 2.0, "argmax_acc": 0.5},
           {"step": 100, "train_minutes": 1.0, "argmax_acc": 0.3},
           {"step": 200, "train_minutes": 2.1, "argmax_acc": 0.6}]
  (tmp_path / "curve.jsonl").write_text("".join(json.dumps(p) + "\n" for p in lines))
  points = curves.read_curve(str(tmp_path))
  assert [p["step"] for p in points] == [100, 200] and points[1]["argmax_acc"] == 0.6
  rows = curves.table([("a", points)], "argmax_acc")
  assert rows[2] == "| a | 100 | 1.0 | 0.3000 |  |"


def test_missing_curve_is_a_usage_error(tmp_path):
  with pytest.raises(UsageError, match="--eval_every"):
    curves.read_curve(str(tmp_path))


def test_parse_runs():
  assert curves.parse_runs(["new=runs/a", "runs/b/"]) == [("new", "runs/a"), ("b", "runs/b/")]
