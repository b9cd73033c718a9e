"""files: atomic writes leave the old content or the new, never a part, and no temporary file."""

import json
import os

import pytest

from clustergan_tf import files


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


def test_atomic_directory_appears_complete_or_not_at_all(tmp_path):
  def write(d):
    os.makedirs(d)
    open(os.path.join(d, "x"), "w").write("1")

  final = files.atomic_directory(str(tmp_path), "1", write)
  assert final == str(tmp_path / "1") and os.listdir(final) == ["x"]
  with pytest.raises(FileExistsError):
    files.atomic_directory(str(tmp_path), "1", write)

  def fail(d):
    os.makedirs(d)
    raise RuntimeError("converter crashed")

  with pytest.raises(RuntimeError):
    files.atomic_directory(str(tmp_path), "2", fail)
  assert sorted(os.listdir(tmp_path)) == ["1"]
