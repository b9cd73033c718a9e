"""Atomic writes: a reader (TF Serving, a plotting script, a resumed run) never sees half a file or directory.
Also the checks and reads around them that every command shares (no TensorFlow here: `curves` starts without it)."""

import json
import os
import shutil
import tempfile

from clustergan_tf.errors import UsageError


def atomic_write(path, write):
  """Calls write(f) on a binary file beside `path`, then renames it onto `path` (atomic on one file system)."""
  tmp = path + ".tmp"
  try:
    with open(tmp, "wb") as f:
      write(f)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def atomic_bytes(path, blob):
  """Writes bytes to path atomically."""
  atomic_write(path, lambda f: f.write(blob))


def atomic_json(path, obj):
  """Writes obj as indented JSON to path atomically (metrics.json, select_k.json, starts.json)."""
  atomic_bytes(path, json.dumps(obj, indent=2).encode())


def atomic_directory(base, name, write):
  """Calls write(tmp_dir), then renames tmp_dir to base/name; FileExistsError if base/name exists already."""
  os.makedirs(base, exist_ok=True)
  final = os.path.join(base, name)
  if os.path.exists(final):
    raise FileExistsError(final)
  tmp = tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=base)
  try:
    shutil.rmtree(tmp)
    write(tmp)
    os.rename(tmp, final)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  return final


def check_output_path(path, flag):
  """Raises UsageError naming --flag unless a file can be written at path, checked before the work that makes it:
  path is no directory and its nearest existing folder takes a new file (a real probe: as root, os.access allows
  even /proc). Writes nothing; the writer makes the missing folders."""
  if os.path.isdir(path):
    raise UsageError(f"--{flag}={path} is a directory; name a file to write")
  folder = os.path.dirname(os.path.abspath(path))
  while not os.path.exists(folder):
    folder = os.path.dirname(folder)
  try:
    with tempfile.TemporaryFile(dir=folder):
      pass
  except OSError as e:
    raise UsageError(f"--{flag}={path}: {folder} is not a writable directory ({e.strerror}); "
                     "choose another path") from None


def make_parent(path):
  """Creates the missing folders above the file path (after check_output_path, before writing it)."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)


def json_lines(lines):
  """The JSON objects of the lines of a JSON-lines file (curve.jsonl), without the blank or torn lines (a crash
  mid-write leaves a partial last line) and lines that hold no object."""
  points = []
  for line in lines:
    try:
      point = json.loads(line)
    except ValueError:
      continue
    if isinstance(point, dict):
      points.append(point)
  return points


def read_json(path, fix):
  """The JSON object in the file at path, or UsageError naming it and `fix` when it does not parse or holds no
  object (a hand edit, a copy cut short)."""
  try:
    with open(path) as f:
      value = json.load(f)
  except ValueError as e:
    raise UsageError(f"{path} is not valid JSON ({e}); {fix}") from None
  if not isinstance(value, dict):
    raise UsageError(f"{path} holds a JSON {type(value).__name__}, not the expected dict; {fix}")
  return value


def writable_directory(path, flag):
  """Creates the directory --flag names and proves it writable, or raises UsageError naming the flag; a URL
  (gs://..., which TensorFlow's file system writes) is left to TensorFlow."""
  if "://" in path:
    return
  if os.path.exists(path) and not os.path.isdir(path):
    raise UsageError(f"--{flag}={path} is a file, not a directory; choose another path")
  try:
    os.makedirs(path, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path):
      pass
  except OSError as e:
    raise UsageError(f"--{flag}={path} is not writable ({e.strerror}); choose another directory") from None
