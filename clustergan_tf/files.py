"""Atomic writes: a reader (TF Serving, a plotting script, a resumed run) never sees half a file or directory."""

import json
import os
import shutil
import tempfile


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
