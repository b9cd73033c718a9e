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


class Staging:
  """Directories written in full beside their final places, then renamed into them together (`publish`), so that a
  crash while writing changes nothing a reader sees; a failure removes them. Each is named .tmp-<name>-<pid>-*, and
  `remove_abandoned` deletes those whose process has died (a kill -9 runs no clean-up)."""

  def __init__(self):
    self._moves = []  # (tmp, final, merge)

  def directory(self, base, name, merge=False):
    """A fresh path (not yet created) to write base/name's content to; FileExistsError if base/name exists, unless
    merge: then its files replace those of the same names in base/name, one by one, and the others stay."""
    os.makedirs(base, exist_ok=True)
    remove_abandoned(base)
    final = os.path.join(base, name)
    if os.path.exists(final) and not merge:
      raise FileExistsError(final)
    tmp = tempfile.mkdtemp(prefix=f".tmp-{name}-{os.getpid()}-", dir=base)
    os.rmdir(tmp)
    self._moves.append((tmp, final, merge))
    return tmp

  def publish(self):
    """Moves every staged directory into place: first the new ones, in the order staged, each checked free again
    (another writer may have taken it meanwhile: FileExistsError, nothing moved yet), then the merged ones. Returns
    the final paths, in that order."""
    new = [m for m in self._moves if not m[2]]
    taken = [final for _, final, _ in new if os.path.exists(final)]
    if taken:
      raise FileExistsError(taken[0])
    order = new + [m for m in self._moves if m[2]]
    for tmp, final, merge in order:
      if not merge:
        try:
          os.rename(tmp, final)
        except OSError:  # taken between the check and here
          raise FileExistsError(final) from None
        continue
      os.makedirs(final, exist_ok=True)
      for entry in sorted(os.listdir(tmp)):
        os.replace(os.path.join(tmp, entry), os.path.join(final, entry))
      os.rmdir(tmp)
    self._moves = []
    return [final for _, final, _ in order]

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    for tmp, _, _ in self._moves:  # not published: an error (or a signal) while writing
      shutil.rmtree(tmp, ignore_errors=True)
    self._moves = []


def remove_abandoned(base):
  """Deletes base/.tmp-<name>-<pid>-* directories whose process no longer runs (left by a killed writer)."""
  for entry in os.listdir(base) if os.path.isdir(base) else []:
    parts = entry.split("-")
    if entry.startswith(".tmp-") and len(parts) >= 4 and parts[-2].isdigit() and not _alive(int(parts[-2])):
      shutil.rmtree(os.path.join(base, entry), ignore_errors=True)


def _alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def check_output_path(path, flag, extensions=None):
  """Raises UsageError naming --flag unless a file can be written at path, checked before the work that makes it:
  path is no directory, ends in one of `extensions` when given (the types the writer makes), and its nearest
  existing folder takes a new file (a real probe: as root, os.access allows even /proc). Writes nothing; the writer
  makes the missing folders."""
  if os.path.isdir(path):
    raise UsageError(f"--{flag}={path} is a directory; name a file to write")
  if extensions and os.path.splitext(path)[1][1:].lower() not in extensions:
    raise UsageError(f"--{flag}={path} must end in .{', .'.join(extensions)} (the type of file written)")
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
