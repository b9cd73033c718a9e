"""files: atomic writes leave the old content or the new, never a part, and no temporary file; the shared checks."""

import json
import os
import re

import pytest

from clustergan_tf import files
from clustergan_tf.errors import UsageError


def test_atomic_write_replaces_the_file(tmp_path):
  path = str(tmp_path / "a.json")
  files.atomic_bytes(path, b"old")
  files.atomic_write(path, lambda f: f.write(b"new"))
  assert open(path, "rb").read() == b"new" and os.listdir(tmp_path) == ["a.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
  path = str(tmp_path / "a.json")
  files.atomic_bytes(path, b"old")

  def fail(f):
    f.write(b"half")
    raise OSError("disk full")

  with pytest.raises(OSError, match="disk full"):
    files.atomic_write(path, fail)
  assert open(path, "rb").read() == b"old" and os.listdir(tmp_path) == ["a.json"]


def test_atomic_json_writes_indented_json_and_no_temporary(tmp_path):
  path = str(tmp_path / "record.json")
  files.atomic_json(path, {"picked": 1, "score": [0.5, 0.75]})
  with open(path) as f:
    text = f.read()
  assert json.loads(text) == {"picked": 1, "score": [0.5, 0.75]} and text.startswith('{\n  "picked": 1')
  assert os.listdir(tmp_path) == ["record.json"]


def staged(base, name, write):
  """One directory written by write(path) and published by files.Staging (as export writes a version)."""
  with files.Staging() as staging:
    write(staging.directory(base, name))
    return staging.publish()[0]


def test_a_staged_directory_appears_complete_or_not_at_all(tmp_path):
  def write(d):
    os.makedirs(d)
    open(os.path.join(d, "x"), "w").write("1")

  final = staged(str(tmp_path), "1", write)
  assert final == str(tmp_path / "1") and os.listdir(final) == ["x"]
  with pytest.raises(FileExistsError):
    staged(str(tmp_path), "1", write)

  def fail(d):
    os.makedirs(d)
    raise RuntimeError("converter crashed")

  with pytest.raises(RuntimeError):
    staged(str(tmp_path), "2", fail)
  assert sorted(os.listdir(tmp_path)) == ["1"]


def test_check_output_path_names_the_flag_and_writes_nothing(tmp_path):
  files.check_output_path(str(tmp_path / "new" / "deeper" / "x.npz"), "output")  # the writer makes the folders
  assert os.listdir(tmp_path) == []
  with pytest.raises(UsageError, match=f"^--output={re.escape(str(tmp_path))} is a directory; name a file to write$"):
    files.check_output_path(str(tmp_path), "output")
  (tmp_path / "f").write_text("")
  folder = re.escape(str(tmp_path / "f"))
  with pytest.raises(UsageError, match=rf"^--save={folder}/x.png: {folder} is not a writable directory "
                     r"\(Not a directory\); choose another path$"):
    files.check_output_path(str(tmp_path / "f" / "x.png"), "save")


def test_json_lines_drops_blank_torn_and_non_object_lines():
  lines = [b'{"step": 1}\n', b"\n", b"3\n", b'{"step": 2', b'{"step": 3, "x": "\xc3']
  assert files.json_lines(lines) == [{"step": 1}]


@pytest.mark.parametrize("text, problem", [('{"step": 4, "x', r"is not valid JSON \(Unterminated string"),
                                           ("[1, 2]", "holds a JSON list, not the expected dict")])
def test_read_json_names_the_file_the_problem_and_the_fix(tmp_path, text, problem):
  path = tmp_path / "config.json"
  path.write_text(text)
  with pytest.raises(UsageError, match=f"^{re.escape(str(path))} {problem}.*; restore it$"):
    files.read_json(str(path), "restore it")
  path.write_text('{"step": 4}')
  assert files.read_json(str(path), "restore it") == {"step": 4}


def test_writable_directory_is_made_or_named(tmp_path):
  files.writable_directory(str(tmp_path / "a" / "b"), "model_dir")
  assert (tmp_path / "a" / "b").is_dir()
  (tmp_path / "f").write_text("")
  with pytest.raises(UsageError, match=r"^--export_dir=\S+/f is a file, not a directory"):
    files.writable_directory(str(tmp_path / "f"), "export_dir")
  with pytest.raises(UsageError, match="^--logdir=/proc/version/x is not writable"):
    files.writable_directory("/proc/version/x", "logdir")
  files.writable_directory("gs://bucket/logs", "logdir")  # TensorFlow's file systems: left to TensorFlow
  assert not os.path.exists("gs:")


def test_staging_publishes_in_order_merges_and_leaves_nothing_on_failure(tmp_path):
  (tmp_path / "lite").mkdir()
  (tmp_path / "lite" / "old.tflite").write_text("old")
  (tmp_path / "lite" / "a.tflite").write_text("a0")
  with files.Staging() as staging:
    lite = staging.directory(str(tmp_path), "lite", merge=True)
    version = staging.directory(str(tmp_path / "model"), "3")
    for d, name in ((lite, "a.tflite"), (version, "saved_model.pb")):
      os.makedirs(d)
      (tmp_path / d / name).write_text("new")
    assert [d for d in os.listdir(tmp_path / "model") if d.isdigit()] == []  # no version before publish
    assert staging.publish() == [str(tmp_path / "model" / "3"), str(tmp_path / "lite")]  # new ones, then merges
  assert sorted(os.listdir(tmp_path / "lite")) == ["a.tflite", "old.tflite"]  # replaced one, kept the other
  assert (tmp_path / "lite" / "a.tflite").read_text() == "new" and os.listdir(tmp_path / "model") == ["3"]
  with pytest.raises(RuntimeError):
    with files.Staging() as staging:
      os.makedirs(staging.directory(str(tmp_path / "model"), "4"))
      raise RuntimeError("the converter crashed")
  assert os.listdir(tmp_path / "model") == ["3"]
  with pytest.raises(FileExistsError):
    files.Staging().directory(str(tmp_path / "model"), "3")
  with pytest.raises(FileExistsError, match="model/5"):  # another writer took version 5 meanwhile: nothing moves
    with files.Staging() as staging:
      lite = staging.directory(str(tmp_path), "lite", merge=True)
      os.makedirs(lite)
      (tmp_path / lite / "a.tflite").write_text("newer")
      os.makedirs(staging.directory(str(tmp_path / "model"), "5"))
      os.makedirs(tmp_path / "model" / "5" / "variables")
      staging.publish()
  assert (tmp_path / "lite" / "a.tflite").read_text() == "new" and not abandoned(tmp_path)


def abandoned(root):
  return [str(p) for p in root.rglob(".tmp-*")]


def test_staging_of_a_killed_writer_is_removed_by_the_next(tmp_path):
  import subprocess
  dead = subprocess.Popen(["true"])
  dead.wait()
  (tmp_path / f".tmp-3-{dead.pid}-abc").mkdir()  # a kill -9 runs no clean-up
  (tmp_path / f".tmp-4-{os.getpid()}-abc").mkdir()  # a live writer's (this process)
  files.remove_abandoned(str(tmp_path))
  assert os.listdir(tmp_path) == [f".tmp-4-{os.getpid()}-abc"]


def test_check_output_path_wants_the_written_type(tmp_path):
  files.check_output_path(str(tmp_path / "a.PNG"), "output", ("png",))
  with pytest.raises(UsageError, match=r"^--output=.*a.txt must end in .png \(the type of file written\)$"):
    files.check_output_path(str(tmp_path / "a.txt"), "output", ("png",))
