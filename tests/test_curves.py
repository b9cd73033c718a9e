import json
import re

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


def test_a_torn_last_line_is_dropped(tmp_path):
  """A crash mid-write leaves a partial last line (here cut inside a UTF-8 character): the lines before it count."""
  whole = json.dumps({"step": 10, "train_minutes": 0.5, "argmax_acc": 0.4}) + "\n\n"
  (tmp_path / "curve.jsonl").write_bytes(whole.encode() + b'{"step": 20, "train_minutes": 1.0, "note": "\xc3')
  assert curves.read_curve(str(tmp_path)) == [{"step": 10, "train_minutes": 0.5, "argmax_acc": 0.4}]
  (tmp_path / "curve.jsonl").write_text('{"step": 1')
  with pytest.raises(UsageError, match="holds no evaluation"):
    curves.read_curve(str(tmp_path))


def test_an_unknown_metric_names_the_choices():
  runs = [("a", [{"step": 10, "train_minutes": 0.5, "argmax_acc": 0.4, "mode_purity": 1.0}])]
  curves.check_metric(runs, "mode_purity")
  with pytest.raises(UsageError, match="^--metric=accuracy is not in the runs' curve.jsonl; choose from argmax_acc, "
                     "mode_purity$"):
    curves.check_metric(runs, "accuracy")


@pytest.mark.parametrize("name, message", [("", "is a directory; name a file to write"),
                                           ("f.txt/c.png", "is not a writable directory"),
                                           ("c", "must end in .png, .pdf, .svg, .jpg, .jpeg"),
                                           ("c.abc", "must end in .png")])
def test_output_is_checked_before_plotting(tmp_path, name, message):
  (tmp_path / "f.txt").write_text("")
  with pytest.raises(UsageError, match=f"^--output={re.escape(str(tmp_path / name))}.*{message}"):
    curves.check_output(str(tmp_path / name))
  curves.check_output(str(tmp_path / "new" / "c.PNG"))
