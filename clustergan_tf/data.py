"""Data sets as in-memory splits plus the tf.data training pipeline.

Sources: `mnist` / `fashion_mnist` via tensorflow-datasets or standard IDX files,
scikit-learn's bundled `digits`, the paper's `synthetic` 10 Gaussians in R^100, the
imbalanced `mixture` of 10 Gaussians in R^20, `vectors` from a .npy/.csv file, and
`images` from a .npy of images or a directory of image files.
Labels are kept only for evaluation: the training pipeline yields data alone.

`load` then applies, in this order, --class_imbalance (subsample every split),
--exclude_classes (drop classes from training) and --standardize (training statistics).
"""

import csv
import dataclasses
import gzip
import hashlib
import itertools
import os
import re
import struct
import warnings

import numpy as np
import tensorflow as tf

from clustergan_tf import networks
from clustergan_tf.errors import UsageError
from clustergan_tf.metrics import UNLABELLED

DATASETS = ("mnist", "fashion_mnist", "digits", "synthetic", "mixture", "vectors", "images")
IMAGE_DATASETS = ("mnist", "fashion_mnist")  # 28x28x1 images from tensorflow-datasets or IDX files
CONV_DATASETS = IMAGE_DATASETS + ("images",)  # the data sets of images [H, W, C]: the conv networks
FILE_DATASETS = ("vectors", "images")  # the user's own data, from --data_path (and --labels_path)
IMAGE_FILES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")  # what a --dataset=images directory is read for
ROW_IMAGES = {"digits": (8, 8, 1)}  # vector data sets whose rows are flattened (H, W, C) images: --augment_* moves them
# How each bounded data set's raw values were brought into [0, 1]: what a client of the exported encoder must do.
EIGHT_BIT = "8-bit pixels divided by 255"
SCALING = {"mnist": EIGHT_BIT, "fashion_mnist": EIGHT_BIT, "digits": "scikit-learn's 0-16 pixel counts divided by 16"}
SOURCES = ("tfds", "idx")
SPLITS = ("train", "validation", "test")

# MNIST-style splits of the authors: 55k train / 5k validation (the last 5k of the 60k) / 10k test.
_MNIST_TRAIN = 55000


@dataclasses.dataclass
class Data:
  """A data set in memory: split -> (x float32 [N, *data_shape], y int64 [N] or None; -1 in y: a row without a
  label, metrics.UNLABELLED)."""
  name: str
  splits: dict
  num_classes: int | None
  bounded: bool  # every value in [0, 1]: G ends in a sigmoid, else linear
  standardization: tuple | None = None  # (mean [D], std [D]) applied to raw features (--standardize)
  class_names: tuple | None = None  # text labels of --labels_path; class id i is class_names[i] (sorted order)
  one_set: bool = False  # every split draws on the same rows (--dataset=vectors: the whole file), subsets included
  scaling: str | None = None  # how raw values were brought into [0, 1] (SCALING; images: by their file), for clients
  labels_from: str = "--labels_path"  # where class_names came from, for the `labels:` line
  row_names: tuple | None = None  # the file of each row (--dataset=images from a directory), for assignments.npz

  def __post_init__(self):
    if self.scaling is None:
      self.scaling = SCALING.get(self.name)

  @property
  def data_shape(self):
    return tuple(self.splits["train"][0].shape[1:])

  def split(self, name, flag="--split"):
    if name not in self.splits:
      raise UsageError(f"{flag}={name} does not exist for {self.name}; choose one of {sorted(self.splits)}")
    return self.splits[name]

  def name_arrays(self, split, rows=None):
    """What assignments.npz and decode.npz carry beside the rows of `split` (indices; all without) to name them:
    class_names (text labels: id i is class_names[i]) and files (each row's file, where the split holds every file
    in order: a directory's images, unless --exclude_classes took training rows out)."""
    arrays = {}
    if self.class_names:
      arrays["class_names"] = np.array(self.class_names)
    if self.row_names is not None and len(self.row_names) == len(self.split(split)[0]):
      names = np.array(self.row_names)
      arrays["files"] = names if rows is None else names[rows]
    return arrays


def fingerprint(d):
  """What the checkpoints of a run were trained on: {"dataset", "train_rows", "shape", "sha256"} of the training
  split's rows as float32 (16 hex digits; MNIST's 55k rows in about 0.3 s), and "standardization" {"mean", "std"}
  under --standardize. Labels are left out: they never reach training."""
  x = np.ascontiguousarray(d.split("train")[0], np.float32)
  found = {"dataset": d.name, "train_rows": int(x.shape[0]), "shape": list(x.shape[1:]),
           "sha256": hashlib.sha256(x.reshape(-1).view(np.uint8)).hexdigest()[:16]}
  if d.standardization is not None:  # --standardize: the scaling the model was trained (and is served) with
    found["standardization"] = {"mean": d.standardization[0].tolist(), "std": d.standardization[1].tolist()}
  return found


def load(dataset, data_source="tfds", data_dir=None, data_path=None, labels_path=None, *, standardize=False,
         class_imbalance=1.0, exclude_classes=(), seed=0, standardization=None, image_size=()):
  """Loads a data set by name (see DATASETS), then subsamples, excludes and standardises as asked.

  class_imbalance: see imbalance_classes (1: the data as it is); exclude_classes: see drop_training_classes;
  standardize: see standardize_features (standardization: its (mean, std), else the training rows'); seed: the
  subsampling's; image_size: (H, W) to resize --dataset=images to. Raises UsageError on bad names or files.
  """
  d = _load_named(dataset, data_source, data_dir, data_path, labels_path, image_size)
  if class_imbalance != 1.0:
    d = imbalance_classes(d, class_imbalance, seed)
  if exclude_classes:
    d = drop_training_classes(d, exclude_classes)
  if standardize:
    d = standardize_features(d, standardization)
  return d


def _load_named(dataset, data_source, data_dir, data_path, labels_path, image_size):
  """The data set as its source has it."""
  if dataset in IMAGE_DATASETS:
    if data_source == "idx":
      return _load_idx_dir(dataset, data_dir)
    if data_source == "tfds":
      return _load_tfds(dataset, data_dir)
    raise UsageError(f"--data_source={data_source!r} is unknown; use one of {SOURCES}")
  if dataset == "digits":
    return load_digits()
  if dataset == "synthetic":
    return make_synthetic()
  if dataset == "mixture":
    return make_mixture()
  if dataset == "vectors":
    return load_vectors(data_path, labels_path)
  if dataset == "images":
    return load_images(data_path, labels_path, image_size)
  raise UsageError(f"--dataset={dataset!r} is unknown; use one of {', '.join(DATASETS)}")


def geometric_shares(num_classes, ratio):
  """Class shares [num_classes] summing to 1, falling geometrically: share_c ~ ratio^(-c / (C - 1)), so the
  first is `ratio` times the last (10 classes, ratio 12.5: 0.26 down to 0.021)."""
  if num_classes < 1 or ratio < 1:
    raise ValueError(f"geometric_shares needs num_classes >= 1 and ratio >= 1; got {num_classes}, {ratio}")
  shares = float(ratio) ** (-np.arange(num_classes) / max(num_classes - 1, 1))
  return shares / shares.sum()


def subsample_classes(x, y, shares, rng, classes=None):
  """The most rows of x [N, ...], y [N] whose class counts follow `shares`, in an order shuffled by rng
  (the rows of subsample_rows)."""
  rows = subsample_rows(y, shares, rng, classes)
  return x[rows], y[rows]


def subsample_rows(y, shares, rng, classes=None):
  """Indices [M] of the most rows of labels y [N] whose class counts follow `shares`, in an order shuffled by rng.

  shares[i] belongs to classes[i] (default: np.unique(y)); classes absent from y are skipped. With a_c rows
  of class c available, n_c = floor(share_c * min_c(a_c / share_c)), at least 1. One permutation by rng
  picks the rows (the first n_c of each class in its order) and orders them.
  """
  classes = np.unique(y) if classes is None else np.asarray(classes)
  shares = np.asarray(shares, np.float64)
  available = np.array([np.sum(y == c) for c in classes])
  present = available > 0
  if not present.any():
    return np.zeros(0, np.int64)
  total = np.min(available[present] / shares[present])
  counts = np.minimum(available, np.maximum(1, np.floor(shares * total + 1e-9).astype(np.int64)))
  order = rng.permutation(len(y))
  keep = np.zeros(len(y), bool)
  for c, n in zip(classes[present], counts[present]):
    keep[np.flatnonzero(y[order] == c)[:n]] = True
  return order[keep]


def _labelled(d, flag):
  """The class ids [C] of the training split, sorted (-1, no label, is no class); UsageError naming `flag` if d has
  no labels."""
  if d.splits["train"][1] is None:
    where = " or class subdirectories of --data_path" if d.row_names is not None else ""  # a directory
    raise UsageError(f"{flag} needs class labels and --dataset={d.name} has none; give --labels_path=FILE{where}")
  return _classes(d.splits["train"][1])


def _classes(y):
  """The class ids of labels y [N], sorted, without -1 (a row without a label)."""
  return np.setdiff1d(np.unique(y), [UNLABELLED])


def imbalance_classes(d, ratio, seed):
  """d with every split subsampled to geometric_shares(C, ratio) over the sorted class ids (--class_imbalance);
  rows without a label are dropped.

  Split number i of SPLITS draws from default_rng([seed, i]): the same seed, the same rows. Where every split is
  the same rows (d.one_set: a file's), the training split's draw is every split's, and the files follow it.
  """
  if ratio < 1:
    raise UsageError(f"--class_imbalance={ratio} must be >= 1 (1: no subsampling)")
  _labelled(d, "--class_imbalance")
  classes = _classes(np.concatenate([y for _, y in d.splits.values()]))
  shares = geometric_shares(len(classes), ratio)

  def rows(name):
    return subsample_rows(d.splits[name][1], shares, np.random.default_rng([seed % 2**64, SPLITS.index(name)]),
                          classes)

  if d.one_set:
    kept = rows("train")
    names = None if d.row_names is None else tuple(d.row_names[i] for i in kept)
    return dataclasses.replace(d, splits={name: (x[kept], y[kept]) for name, (x, y) in d.splits.items()},
                               row_names=names)
  splits = {}
  for name, (x, y) in d.splits.items():
    kept = rows(name)
    splits[name] = (x[kept], y[kept])
  return dataclasses.replace(d, splits=splits)


def _show_ids(ids):
  ids = [int(i) for i in ids]
  if len(ids) > 3 and ids == list(range(ids[0], ids[-1] + 1)):
    return f"{ids[0]}..{ids[-1]}"
  return ",".join(map(str, ids))


def _show_classes(d, ids):
  """ids as _show_ids, with their names where the labels were text ('0=cat,2=eel')."""
  if not d.class_names:
    return _show_ids(ids)
  return ",".join(f"{int(i)}={d.class_names[int(i)]}" for i in ids)


def drop_training_classes(d, classes):
  """d without rows of `classes` in its train and validation splits; test keeps them (--exclude_classes), so
  that an outlier score can be measured on classes never seen in training."""
  classes = [int(c) for c in classes]
  present = _labelled(d, "--exclude_classes")
  missing = [c for c in classes if c not in present]
  flag = f"--exclude_classes={_show_ids(classes)}"
  if missing:
    raise UsageError(f"{flag}: {d.name} has no training rows of class {_show_ids(missing)}; its training "
                     f"classes are {_show_classes(d, present)}")
  if set(present) <= set(classes):
    raise UsageError(f"{flag} would leave no training rows: keep at least one of {_show_classes(d, present)}")
  splits = dict(d.splits)
  for name in ("train", "validation"):
    if name in splits:
      x, y = splits[name]
      keep = ~np.isin(y, classes)
      splits[name] = (x[keep], y[keep])
  return dataclasses.replace(d, splits=splits)


def standardize_features(d, stats=None):
  """d with every feature of every split scaled by the training rows' mean and std to mean 0, std 1 on train
  (--standardize; vectors only), or by stats = (mean [D], std [D]) (a trained model's, from its data.json). A
  constant feature keeps std 1: it becomes 0. No longer bounded."""
  if d.name != "vectors":
    raise UsageError(f"--standardize works with --dataset=vectors only, not {d.name}; drop --standardize")
  if stats is not None:
    mean, std = (np.asarray(v, np.float64) for v in stats)
  else:
    train = d.splits["train"][0].astype(np.float64)
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0] = 1.0
  splits = {name: (((x - mean) / std).astype(np.float32), y) for name, (x, y) in d.splits.items()}
  return dataclasses.replace(d, splits=splits, bounded=False,
                             standardization=(mean.astype(np.float32), std.astype(np.float32)))


def _image_splits(x_train, y_train, x_test, y_test):
  """uint8 [N, 28, 28(, 1)] -> float32 [N, 28, 28, 1] in [0, 1], split 55k / 5k / test."""
  def prep(x):
    return (x.reshape(-1, 28, 28, 1).astype(np.float32) / 255.0)
  x_train, x_test = prep(x_train), prep(x_test)
  y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)
  n = int(round(len(x_train) * _MNIST_TRAIN / 60000))  # 55,000 of 60,000; the same share of smaller files
  return {"train": (x_train[:n], y_train[:n]), "validation": (x_train[n:], y_train[n:]),
          "test": (x_test, y_test)}


_TFDS_HOST = "https://storage.googleapis.com"  # TFDS's prepared copies (gs://tfds-data); also MNIST's files


def _download_reachable(urls, timeout=3.0):
  """Whether a TCP connection to the host of any of `urls` (or to the proxy the environment names for it)
  opens within `timeout` seconds, name look-up included: threads, as getaddrinfo has no timeout."""
  import queue
  import socket
  import threading
  import time
  import urllib.parse
  import urllib.request
  proxies = urllib.request.getproxies()
  targets = {urllib.parse.urlsplit(proxies.get(urllib.parse.urlsplit(u).scheme) or u) for u in urls}
  answers = queue.Queue()

  def connect(target):
    try:
      socket.create_connection((target.hostname, target.port or (443 if target.scheme == "https" else 80)),
                               timeout=timeout).close()
      answers.put(True)
    except (OSError, ValueError):
      answers.put(False)

  for target in targets:
    threading.Thread(target=connect, args=(target,), daemon=True).start()
  deadline = time.monotonic() + timeout
  try:
    return any(answers.get(timeout=max(0.0, deadline - time.monotonic())) for _ in targets)
  except queue.Empty:
    return False


def _load_tfds(name, data_dir):
  """The data set as prepared by tensorflow-datasets, downloading it first if needed and possible.

  A missing data set with no route to the download hosts fails at once: TFDS itself would retry for
  minutes before failing.
  """
  import tensorflow_datasets as tfds  # heavy import, only when used
  try:
    builder = tfds.builder(name, data_dir=data_dir)
    # What builder.is_prepared() checks, without its warning when the answer is no.
    if not os.path.exists(os.path.join(builder.data_path, "dataset_info.json")):
      if not _download_reachable([_TFDS_HOST, getattr(builder, "URL", None) or _TFDS_HOST]):
        raise UsageError(f"{name} is not prepared in {builder.data_dir_root} and its download server is "
                         f"unreachable; offline, use --data_source=idx --data_dir=DIR with the four IDX files")
      builder.download_and_prepare()

    def arrays(split):  # batch_size=-1 aborts the process under tfds.testing.mock_data: batch explicitly
      ds = builder.as_dataset(split=split, as_supervised=True).batch(10000)
      xs, ys = zip(*tfds.as_numpy(ds))
      return np.concatenate(xs), np.concatenate(ys)
    train, test = arrays("train"), arrays("test")
  except UsageError:
    raise
  except Exception as e:  # network, corrupt preparation, ...
    first_line = (str(e).splitlines() or [""])[0][:200]
    raise UsageError(f"could not load {name} through tensorflow-datasets ({type(e).__name__}: {first_line}); "
                     f"without internet use --data_source=idx --data_dir=DIR with the four IDX files") from None
  return Data(name, _image_splits(train[0], train[1], test[0], test[1]), 10, True)


_IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def read_idx(path):
  """Reads one IDX file (optionally .gz) into a numpy array; UsageError if missing or corrupt."""
  try:
    with open(path, "rb") as f:
      raw = f.read()
    if raw[:2] == b"\x1f\x8b":
      raw = gzip.decompress(raw)
  except (OSError, EOFError) as e:
    raise UsageError(f"cannot read IDX file {path}: {e.strerror if isinstance(e, OSError) else e}") from None
  if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or not 1 <= raw[3] <= 4:
    raise UsageError(f"{path} is not an IDX file of unsigned bytes (bad magic number); re-download it")
  ndim = raw[3]
  if len(raw) < 4 + 4 * ndim:
    raise UsageError(f"{path} is truncated (header); re-download it")
  shape = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
  body = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
  if body.size != int(np.prod(shape)):
    raise UsageError(f"{path} is truncated or corrupt: header says {shape}, found {body.size} bytes; re-download it")
  return body.reshape(shape)


def _find(data_dir, stem):
  for name in (stem, stem + ".gz"):
    path = os.path.join(data_dir, name)
    if os.path.exists(path):
      return path
  raise UsageError(f"--data_dir={data_dir} has no {stem}[.gz]; it needs the four standard IDX files")


def _load_idx_dir(name, data_dir):
  if not data_dir:
    raise UsageError("--data_source=idx needs --data_dir=DIR holding the four IDX files")
  if not os.path.isdir(data_dir):
    raise UsageError(f"--data_dir={data_dir} is not a directory")
  arrays = {}
  for split, (img, lab) in _IDX_FILES.items():
    x, y = read_idx(_find(data_dir, img)), read_idx(_find(data_dir, lab))
    if x.ndim != 3 or x.shape[1:] != (28, 28):
      raise UsageError(f"{_find(data_dir, img)} holds images of shape {x.shape[1:]}, expected 28x28")
    if y.ndim != 1 or len(y) != len(x):
      raise UsageError(f"{_find(data_dir, lab)} has {len(y)} labels for {len(x)} images; the files do not match")
    arrays[split] = (x, y)
  return Data(name, _image_splits(*arrays["train"], *arrays["test"]), 10, True)


def load_digits(test_fraction=0.2):
  """scikit-learn's bundled 8x8 digits as 64-d vectors in [0, 1] (see ROW_IMAGES); a fixed 80/20 train/test split."""
  from sklearn.datasets import load_digits as sk_digits
  x, y = sk_digits(return_X_y=True)
  x = (x / 16.0).astype(np.float32)
  perm = np.random.default_rng(0).permutation(len(x))
  n_test = int(round(len(x) * test_fraction))
  test, train = perm[:n_test], perm[n_test:]
  return Data("digits", {"train": (x[train], y[train].astype(np.int64)),
                         "test": (x[test], y[test].astype(np.int64))}, 10, True)


def make_synthetic(num_train=10000, num_test=2000, num_clusters=10, dim=100, std=0.12, seed=0, shares=None,
                   stds=None):
  """The paper's synthetic data: K Gaussians in R^dim, means ~ U(-0.3, 0.3)^dim, std 0.12.

  shares [K]: cluster proportions (default uniform); stds [K]: per-cluster standard deviations (default `std`
  for all). With both default the draws are those of the paper's data set, bit for bit.
  """
  rng = np.random.default_rng(seed)
  means = rng.uniform(-0.3, 0.3, size=(num_clusters, dim))
  def draw(n):
    if shares is None:
      y = rng.integers(0, num_clusters, size=n)
    else:
      y = rng.choice(num_clusters, size=n, p=shares)
    scale = std if stds is None else np.asarray(stds, np.float64)[y, None]
    return (means[y] + scale * rng.standard_normal((n, dim))).astype(np.float32), y.astype(np.int64)
  return Data("synthetic", {"train": draw(num_train), "test": draw(num_test)}, num_clusters, False)


def make_mixture(num_train=10000, num_test=2000, seed=0):
  """An imbalanced mixture: 10 Gaussians in R^20, shares geometric_shares(10, 12.5) (26% down to 2%), spreads
  falling linearly from 0.15 (largest cluster) to 0.05 (smallest), means ~ U(-0.3, 0.3)^20.

  Learnable but not easy: the nearest true mean labels 99.8% of the training rows correctly (test: 99.75%),
  while k-means on the raw data (sklearn KMeans, n_init=10) reaches a Hungarian ACC of only 0.85 (test: 0.86):
  it splits the large wide clusters and merges small tight ones.
  """
  d = make_synthetic(num_train, num_test, num_clusters=10, dim=20, seed=seed, shares=geometric_shares(10, 12.5),
                     stds=np.linspace(0.15, 0.05, 10))
  return dataclasses.replace(d, name="mixture")


def _numbers(text):
  """The comma-separated fields of one line of text as floats, or None if one is not a number."""
  try:
    return [float(field) for field in next(csv.reader([text]))]
  except ValueError:
    return None


def _text_lines(path):
  """(line number, text) of a .csv file's lines, comments (#...) and blank lines skipped."""
  with open(path, encoding="utf-8-sig") as f:  # -sig: a byte-order mark (Excel) is no header
    lines = [(number, line.split("#", 1)[0].strip()) for number, line in enumerate(f, start=1)]
  return [(number, text) for number, text in lines if text]


def _csv_lines(path):
  """(line number, text) of the data lines of a .csv file: _text_lines without a header line (`_is_header`)."""
  lines = _text_lines(path)
  return lines[1:] if _starts_with_header(lines) else lines


def _starts_with_header(lines):
  """Whether the first of a .csv's _text_lines is a header (`_is_header`, judged beside the second)."""
  return bool(lines) and _is_header(lines[0][1], lines[1][1] if len(lines) > 1 else None)


def _other_separator(text):
  """'semicolons' or 'tabs' where a .csv line separates its values by them instead of commas, else None."""
  if "," in text:
    return None
  return "semicolons" if ";" in text else "tabs" if "\t" in text else None


def _is_header(text, following=None):
  """Whether a .csv's first line (`following`: the next line) names the columns: no field is a number, or its
  numbers are 0, 1, 2, ... in order (pandas' names for unnamed columns: DataFrame(array).to_csv(index=False) writes
  '0,1,2,...', with the index ',0,1,2,...'), for one or two columns only where the next line holds a fraction (a
  first row '0,1' of whole numbers is data). A line of numbers and text otherwise is data, and its text an error."""
  if _other_separator(text):
    return False  # data, which _csv_problem names
  fields = next(csv.reader([text]))
  numbers = [v[0] for v in map(_numbers, fields) if v is not None and len(v) == 1]
  if not numbers:
    return True
  indexed = len(fields) > 1 and (not fields[0].strip() or _numbers(fields[0]) is None)  # pandas' index: '' or a name
  if numbers != list(range(len(numbers))) or len(numbers) != len(fields) - indexed:
    return False
  if len(numbers) >= 3 or indexed:
    return True
  after = _numbers(following) if following is not None else None
  return after is not None and any(v != int(v) for v in after if np.isfinite(v))


def header_note(data_path, shown=60):
  """'note: --data_path=F line 1 is read as column names: a,b,c' where a .csv's first line is skipped, else None."""
  if not (data_path and data_path.endswith(".csv") and os.path.isfile(data_path)):
    return None
  header = csv_header(data_path)
  if header is None:
    return None
  cut = header if len(header) <= shown else header[:shown] + "..."
  return f"note: --data_path={data_path} line 1 is read as column names, not data: {cut}"


def csv_header(path):
  """The first line of a .csv that _csv_lines skips as a header, or None."""
  lines = _text_lines(path)
  return lines[0][1] if _starts_with_header(lines) else None


def _csv_problem(path, flag):
  """A one-line description of the first line of a .csv file that numpy could not read."""
  width, first = None, None
  for number, text in _csv_lines(path):
    if _other_separator(text):
      return (f"{flag}={path} line {number} separates its values by {_other_separator(text)}; a .csv here is "
              "comma-separated (pandas: to_csv(path, sep=','), or numpy.save to a .npy)")
    fields = next(csv.reader([text]))
    for column, field in enumerate(fields, start=1):
      if not field.strip():
        end = " (a comma at the end of the line?)" if column == len(fields) and len(fields) > (width or 0) else ""
        return (f"{flag}={path} line {number}, column {column} is empty{end}; every row needs a number in every "
                "column")
      if _numbers(field) is None:
        return f"{flag}={path} line {number}, column {column} could not be parsed as a number: {field!r}"
    if width is None:
      width, first = len(fields), number
    elif len(fields) != width:
      return (f"{flag}={path} line {number} has {len(fields)} columns, expected {width} as on line {first}; "
              "every row needs the same number of values")
  return f"{flag}={path} could not be parsed as comma-separated numbers"


def _read_csv(path, flag):
  """A .csv file of numbers as float64 [rows, columns]; a header line is skipped, errors name the line."""
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", UserWarning)  # an empty file: reported below
      x = np.loadtxt((text for _, text in _csv_lines(path)), delimiter=",", ndmin=2, quotechar='"')
  except (OSError, UnicodeDecodeError) as e:  # before ValueError, of which UnicodeDecodeError is one
    raise UsageError(f"{flag}={path} could not be read as text: {str(e).splitlines()[0][:120]}") from None
  except ValueError:
    raise UsageError(_csv_problem(path, flag)) from None
  if x.size == 0:
    raise UsageError(f"{flag}={path} holds no rows of numbers")
  return x


def labels_note(d, shown=10):
  """'labels: K classes from --labels_path, ids in sorted order: 0=a, 1=b, ...' for text labels, '; M of N rows
  labelled' where some rows have no label (-1); None when neither applies."""
  y = d.splits["train"][1]
  unlabelled = 0 if y is None else int(np.sum(y == UNLABELLED))
  parts = []
  if d.class_names:
    ids = ", ".join(f"{i}={c}" for i, c in enumerate(d.class_names[:shown]))
    more = f", ... ({len(d.class_names) - shown} more)" if len(d.class_names) > shown else ""
    parts.append(f"{len(d.class_names)} classes from {d.labels_from}, ids in sorted order: {ids}{more}")
  if unlabelled:
    parts.append(f"{len(y) - unlabelled} of {len(y)} training rows labelled (-1: no label; metrics score the "
                 "labelled rows)")
  return "labels: " + "; ".join(parts) if parts else None


def id_note(d):
  """A one-line hint when a column of a vectors data set counts its rows (0, 1, 2, ... or 1, 2, 3, ...): an index
  or id column, which the networks take as a feature (pandas' to_csv writes the index unless index=False)."""
  x = d.split("train")[0].astype(np.float64)
  if d.name != "vectors" or len(x) < 3:
    return None
  if d.standardization is not None:
    x = x * d.standardization[1] + d.standardization[0]
  count = np.arange(len(x), dtype=np.float64)
  ids = [c + 1 for c in range(x.shape[1])
         if np.allclose(x[:, c], count, atol=1e-3) or np.allclose(x[:, c], count + 1, atol=1e-3)]
  if not ids:
    return None
  return (f"note: column {ids[0]} of --data_path counts the rows (0, 1, 2, ...): an index or id column is a feature "
          "to the model; drop it from the file (pandas: to_csv(path, index=False))")


def scale_note(d, ratio=100.0):
  """A one-line hint when the features of a vectors data set that is not standardised differ in scale by more
  than `ratio` (largest std / smallest nonzero std): the networks then see mostly the largest ones (a mixture
  with features scaled 0.01 to 1000 trained into one cluster by argmax); None otherwise."""
  if d.name != "vectors" or d.standardization is not None:
    return None
  std = d.split("train")[0].std(axis=0)
  std = std[std > 0]
  if not len(std) or std.max() <= ratio * std.min():
    return None
  return (f"note: the features' standard deviations range from {std.min():.3g} to {std.max():.3g}; "
          "--standardize puts them on one scale")


def _read_matrix(path, flag):
  if not path:
    raise UsageError(f"--dataset=vectors needs {flag}=FILE (.npy or .csv)")
  if not os.path.exists(path):
    raise UsageError(f"{flag}={path} does not exist")
  if path.endswith(".csv"):
    return _read_csv(path, flag)
  if not path.endswith(".npy"):
    raise UsageError(f"{flag}={path}: use a .npy or .csv file")
  try:
    x = np.load(path, allow_pickle=False)
  except (PermissionError, IsADirectoryError) as e:
    raise UsageError(f"{flag}={path} cannot be read ({e.strerror})") from None
  except (ValueError, OSError, EOFError):  # not a .npy file, or one of Python objects (numpy's text: use pickle)
    raise UsageError(f"{flag}={path} is not a .npy file of numbers; save one with numpy.save(path, array) where "
                     "array is numeric, or use a .csv") from None
  if x.dtype.kind not in "biuf":
    raise UsageError(f"{flag}={path} holds {x.dtype} values, not numbers; save a numeric array")
  return x


def _row_name(path, row):
  """Where row number `row` (from 0) of a --data_path file is, for a person opening the file."""
  if path.endswith(".csv"):
    return f"line {next(itertools.islice(_csv_lines(path), row, None))[0]}"
  return f"row {row} (counting from 0)"


_LABEL_FORMS = ("give one label per line (integer ids or text; -1 for a row without a label) in a .csv, or a .npy of "
                "integers or of str")


def _label_fields(path):
  """[(where, text)] of the labels in a .npy of strings or a one-column .csv (lines starting with '#' and blank lines
  at either end skipped, a blank line between labels kept as an empty label, a header line kept); None for numbers
  in other shapes."""
  if not os.path.isfile(path):
    return None
  if path.endswith(".npy"):
    try:
      x = np.load(path, allow_pickle=False)
    except ValueError as e:
      if "allow_pickle" in str(e):  # pandas keeps text as Python objects
        raise UsageError(f"--labels_path={path} holds Python objects; save text labels with numpy.save(path, "
                         "labels.astype(str))") from None
      return None  # _read_matrix says why
    except (OSError, EOFError):
      return None
    if x.dtype.kind not in "US":
      return None
    return [(f"entry {i}", v.decode() if isinstance(v, bytes) else str(v)) for i, v in enumerate(x.ravel().tolist())]
  if not path.endswith(".csv"):
    return None
  try:
    with open(path, encoding="utf-8-sig", newline="") as f:
      lines = [(n, line.strip()) for n, line in enumerate(f, start=1)]
  except (OSError, UnicodeDecodeError):
    return None
  lines = [(n, t) for n, t in lines if not t.startswith("#")]
  while lines and not lines[-1][1]:
    lines.pop()  # blank lines at the end; one in the middle is a missing label (it would shift every later one)
  while lines and not lines[0][1]:
    lines.pop(0)
  rows = [(n, next(csv.reader([t])) if t else [""]) for n, t in lines]
  wide = [(n, r) for n, r in rows if len(r) != 1]
  if not wide:
    return [(f"line {n}", r[0].strip()) for n, r in rows]
  if all(_numbers(",".join(r)) is not None for _, r in rows):
    return None  # one row of numbers, or numeric columns: _read_matrix's shapes
  raise UsageError(f"--labels_path={path} line {wide[0][0]} has {len(wide[0][1])} fields; {_LABEL_FORMS}")


def _integer(text):
  """text as an int if it is an integral number ('3', '3.0'), else None."""
  value = _numbers(text)
  if value is None or len(value) != 1 or not np.isfinite(value[0]) or value[0] != int(value[0]):
    return None
  return int(value[0])


def _read_labels(labels_path, num_rows):
  """(class ids [num_rows] int64, class names or None) from .npy/.csv: integer ids (also as text, after an optional
  header line), or text labels, numbered in sorted order (names in the second value)."""
  fields = _label_fields(labels_path)
  if fields is None:
    return _read_integer_ids(labels_path, num_rows), None
  header = None
  first = fields[0][1] if fields else None
  if labels_path.endswith(".csv") and len(fields) > 1 and _integer(first) is None \
          and first not in {t for _, t in fields[1:]}:  # line 1 is no id and no other line's value: a header?
    if len(fields) == num_rows:  # a header with a label missing, or a class of one row on line 1: ask
      raise UsageError(f"--labels_path={labels_path} line 1, {first!r}, is on no other line: as a header it leaves "
                       f"{num_rows - 1} labels for {num_rows} rows; if it is a label (a class of one row), add a "
                       "header line above it")
    header, fields = first, fields[1:]
    while fields and not fields[0][1]:
      fields = fields[1:]  # blank lines under the header shift nothing
  empty = [where for where, t in fields if not t]
  if empty:
    raise UsageError(f"--labels_path={labels_path} {empty[0]} is an empty label; {_LABEL_FORMS}")
  if len(fields) != num_rows:
    after = f" after its header line {header!r} (a value no other line holds)" if header else ""
    extra = (f" (if line 1, {first!r}, is a header, as the '0' pandas writes above an unnamed Series, delete it or "
             "save with header=False)") if len(fields) == num_rows + 1 and not header else ""
    raise UsageError(f"--labels_path={labels_path} holds {len(fields)} labels{after}; expected {num_rows}, one per "
                     f"row of --data_path{extra}")
  ids = [_integer(t) for _, t in fields]
  if all(_numbers(t) is not None for _, t in fields) and None in ids:
    raise UsageError(f"--labels_path={labels_path} must hold integer class ids or text labels, not fractions")
  if all(i is not None for i in ids):
    return _checked_ids(labels_path, np.array(ids, np.int64)), None
  if any(i is not None and i != UNLABELLED for i in ids):
    where, text = next(f for f, i in zip(fields, ids) if i is None)
    raise UsageError(f"--labels_path={labels_path} {where}: {text!r} is not an integer id like the other labels; "
                     "use integer ids throughout, or text labels throughout (-1 for a row without a label)")
  classes = tuple(sorted({t for (_, t), i in zip(fields, ids) if i is None}))
  index = {c: i for i, c in enumerate(classes)}
  return np.array([UNLABELLED if i is not None else index[t] for (_, t), i in zip(fields, ids)], np.int64), classes


def _checked_ids(labels_path, y):
  """Integer class ids y [N], checked: >= 0, or -1 for a row without a label, and at least one labelled row."""
  if np.any(y < UNLABELLED):
    raise UsageError(f"--labels_path={labels_path} holds the class id {int(y.min())}: class ids must be >= 0 "
                     "(-1 marks a row without a label)")
  if np.all(y == UNLABELLED):
    raise UsageError(f"--labels_path={labels_path} labels no row (every label is -1): leave --labels_path out")
  return y


def _read_integer_ids(labels_path, num_rows):
  """Integer class ids [num_rows] from a .npy/.csv of numbers (one column or one row)."""
  y = _read_matrix(labels_path, "--labels_path")
  if y.ndim == 2 and 1 in y.shape:
    y = y.ravel()
  if y.ndim != 1 or len(y) != num_rows:
    raise UsageError(f"--labels_path={labels_path} has shape {y.shape}; expected {num_rows} labels, one per row "
                     "of --data_path")
  if not np.all(np.equal(np.mod(y, 1), 0)):
    raise UsageError(f"--labels_path={labels_path} must hold integer class ids or text labels")
  return _checked_ids(labels_path, y.astype(np.int64))


def load_vectors(data_path, labels_path=None):
  """Vectors [N, D] from .npy/.csv (+ optional labels [N]: integer ids or text, -1 for a row without a label); every
  split is the whole file."""
  x = _read_matrix(data_path, "--data_path")
  if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
    raise UsageError(f"--data_path={data_path} must hold a 2-D array [num_rows, num_features]; got shape {x.shape}")
  x = x.astype(np.float32)
  bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
  if len(bad):
    raise UsageError(f"--data_path={data_path} contains NaN or Inf, first in {_row_name(data_path, bad[0])}; "
                     "clean the file")
  y, num_classes, names = None, None, None
  if labels_path:
    y, names = _read_labels(labels_path, len(x))
    num_classes = len(_classes(y))
  bounded = bool(x.min() >= 0.0 and x.max() <= 1.0)
  return Data("vectors", {"train": (x, y), "test": (x, y)}, num_classes, bounded, one_set=True, class_names=names)


def _read_image_array(path):
  """(images [N, H, W, C] float32 in [0, 1], scaling) from a .npy of [N, H, W] or [N, H, W, C]: uint8 pixels are
  divided by 255 (scaling EIGHT_BIT), numbers already in [0, 1] kept (scaling None)."""
  if not path.endswith(".npy"):
    raise UsageError(f"--data_path={path}: --dataset=images reads a .npy of images or a directory of image files")
  x = _read_matrix(path, "--data_path")
  if x.ndim == 3:
    x = x[..., None]
  if x.ndim == 4 and x.shape[0] < 2:
    raise UsageError(f"--data_path={path} holds {x.shape[0]} image; clustering needs at least 2")
  if x.ndim != 4 or x.shape[-1] > 4:
    raise UsageError(f"--data_path={path} must hold images [num_images, height, width] or [num_images, height, width, "
                     f"channels] with 1-4 channels; got shape {x.shape} (vectors: --dataset=vectors)")
  if x.dtype == np.uint8:
    return x.astype(np.float32) / 255.0, EIGHT_BIT
  x = x.astype(np.float32)
  bad = np.flatnonzero(~np.isfinite(x).all(axis=(1, 2, 3)))
  if len(bad):
    raise UsageError(f"--data_path={path} contains NaN or Inf, first in image {bad[0]} (counting from 0); clean the "
                     "file")
  lo, hi = float(x.min()), float(x.max())
  if lo < 0 or hi > 1:
    hint = "; divide 8-bit pixels by 255 (or save them as uint8)" if lo >= 0 and hi <= 255 else ""
    raise UsageError(f"--data_path={path} holds values from {lo:g} to {hi:g}: images must be uint8 pixels (0-255) or "
                     f"numbers in [0, 1]{hint}")
  return x, None  # as in the file


def _image_files(root):
  """The image files under directory `root` (IMAGE_FILES, hidden ones skipped), as sorted paths relative to it."""
  found = []
  for top, dirs, names in os.walk(root, followlinks=True):
    dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # followed also where they are links
    found += [os.path.relpath(os.path.join(top, n), root) for n in names
              if not n.startswith(".") and n.lower().endswith(IMAGE_FILES)]
  return sorted(found)


def _decode_image(root, name):
  """uint8 [H, W, C] of one file (the first frame of a GIF); UsageError naming it when it is no readable image."""
  try:
    return tf.io.decode_image(tf.io.read_file(os.path.join(root, name)), expand_animations=False).numpy()
  except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError, tf.errors.PermissionDeniedError) as e:
    reason = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:.*$", "", (e.message or type(e).__name__).splitlines()[0])
    raise UsageError(f"--data_path={root}: {name} cannot be read as an image ({reason}); fix or remove it") from None


def _resized(images, size):
  """float32 [(N,) H, W, C] in [0, 1] -> [(N,) size[0], size[1], C]: bilinear with antialiasing (a tent filter when
  shrinking), so values stay in [0, 1]."""
  if tuple(images.shape[-3:-1]) == tuple(size):
    return images
  return np.clip(tf.image.resize(images, size, antialias=True).numpy(), 0.0, 1.0)


def _read_image_dir(root, size=()):
  """(images [N, H, W, C] float32 in [0, 1], files, class ids [N] or None, class names or None) from a directory of
  image files, sorted by path; a file in subdirectory S (at any depth below it) is of class S, a file directly in
  `root` has no label (-1). Grey images (with or without alpha) stay one channel unless any image has colour; then
  every image is RGB. Alpha is dropped. size: (H, W) to resize each image to (then sizes may differ)."""
  files = _image_files(root)
  if len(files) < 2:
    raise UsageError(f"--data_path={root} holds {len(files)} image files ({', '.join(IMAGE_FILES)}); it needs at "
                     "least 2 (subdirectories name classes)")
  images = [_decode_image(root, f) for f in files]
  colour = any(im.shape[-1] >= 3 for im in images)
  images = [im[..., :3] if colour and im.shape[-1] >= 3 else
            np.repeat(im[..., :1], 3 if colour else 1, axis=-1) for im in images]
  if size:
    images = [_resized(im.astype(np.float32) / 255.0, size) for im in images]
  sizes = [im.shape[:2] for im in images]
  common = max(set(sizes), key=sizes.count)
  odd = [f for f, shape in zip(files, sizes) if shape != common]
  if odd:
    other = sizes[files.index(odd[0])]
    more = f" (and {len(odd) - 1} more)" if len(odd) > 1 else ""
    raise UsageError(f"--data_path={root}: images differ in size: {len(files) - len(odd)} are {common[0]}x{common[1]}, "
                     f"{odd[0]} is {other[0]}x{other[1]}{more}; resize them to one size, or let --image_size=H,W "
                     "do it")
  x = np.stack(images).astype(np.float32) / (1.0 if size else 255.0)  # uint8 kept until here: a quarter the memory
  classes = [f.split(os.sep)[0] if os.sep in f else None for f in files]
  if all(c is None for c in classes):
    return x, tuple(files), None, None
  names = tuple(sorted({c for c in classes if c is not None}))
  index = {c: i for i, c in enumerate(names)}
  return x, tuple(files), np.array([UNLABELLED if c is None else index[c] for c in classes], np.int64), names


def load_images(data_path, labels_path=None, image_size=()):
  """Your own images [N, H, W, C] in [0, 1] (H and W multiples of 4, for the conv networks): a .npy of [N, H, W(, C)]
  (uint8 pixels divided by 255, or numbers in [0, 1]) + optional labels as for vectors, or a directory of image
  files whose subdirectories name their classes (see _read_image_dir); resized to image_size (H, W) when given.
  Every split is the whole set."""
  if not data_path:
    raise UsageError("--dataset=images needs --data_path=FILE.npy of images [N, H, W(, C)], or a directory of image "
                     "files")
  if not os.path.exists(data_path):
    raise UsageError(f"--data_path={data_path} does not exist")
  names, labels_from, files = None, "--labels_path", None
  if os.path.isdir(data_path):
    x, files, y, names = _read_image_dir(data_path, image_size)
    scaling = EIGHT_BIT
    if y is not None and labels_path:
      raise UsageError(f"--labels_path={labels_path}: the images of --data_path={data_path} are in subdirectories, "
                       "which name their classes; leave --labels_path out")
    if y is not None:
      labels_from = "the subdirectories of --data_path"
  else:
    x, scaling = _read_image_array(data_path)
    y = None
    if image_size:
      x = _resized(x, image_size)
  problem = networks.image_side_error(x.shape[1:])
  if problem:
    raise UsageError(f"--data_path={data_path}: {problem}, or let --image_size=H,W resize them")
  if labels_path:
    y, names = _read_labels(labels_path, len(x))
  num_classes = None if y is None else len(_classes(y))
  return Data("images", {"train": (x, y), "test": (x, y)}, num_classes, True, one_set=True, class_names=names,
              scaling=scaling, labels_from=labels_from, row_names=files)


def labels_missing(dataset, data_path, labels_path):
  """What the user's own data (FILE_DATASETS) needs to be scored against labels ('--dataset=images needs ...'), or
  None when it has them: --labels_path, or for images an image file in a subdirectory of a --data_path directory
  (as load_images reads it). Checked before anything is loaded or trained."""
  if dataset not in FILE_DATASETS or labels_path:
    return None
  if dataset == "images" and data_path and os.path.isdir(data_path):
    if any(os.sep in f for f in _image_files(data_path)):
      return None
    return f"--dataset={dataset} needs --labels_path, or its image files in class subdirectories of --data_path"
  return f"--dataset={dataset} needs --labels_path"


def image_note(d):
  """'images: N of HxWxC from --data_path (scaling)' for --dataset=images, else None; with a hint where the
  networks cannot halve the sides down to MAX_BOTTOM_SIDE (an odd side on the way: large dense layers)."""
  if d.name != "images":
    return None
  x = d.split("train")[0]
  h, w, c = x.shape[1:]
  note = f"images: {len(x)} of {h}x{w}x{c} from --data_path ({d.scaling or 'values as in the file, in [0, 1]'})"
  stages = networks.conv_stages(x.shape[1:])
  if max(h, w) >> stages > networks.MAX_BOTTOM_SIDE:
    note += (f"; note: the networks halve the sides {stages} times, to {h >> stages}x{w >> stages} (a side turns odd), "
             "so their dense layers are large: --image_size=H,W with multiples of 16 or 32 (e.g. 64,64) halves further")
  return note


def train_dataset(x, batch_size, seed, start_batch=0):
  """Infinite batches [batch_size, *data_shape] of data x (no labels), reshuffled every epoch.

  Epoch e's order is a stateless function of (seed, e), so batch number b is the same in
  every run and a resumed run starts at batch `start_batch` without replaying the ones
  before it (skipping within one epoch costs only index arrays). batch_size here is the
  global batch times the number of critic steps that one train_step consumes.
  """
  n = len(x)
  per_epoch = n // batch_size
  if per_epoch < 1:
    raise UsageError(f"a batch of {batch_size} rows needs at least that many training rows; there are {n}")
  data = tf.constant(x)
  first_epoch, offset = divmod(int(start_batch), per_epoch)

  def epoch_batches(epoch):
    order = tf.argsort(tf.random.stateless_uniform([n], tf.stack([tf.constant(seed, tf.int64), epoch])))
    return tf.data.Dataset.from_tensor_slices(tf.reshape(order[:per_epoch * batch_size], [per_epoch, batch_size]))

  ds = tf.data.Dataset.range(first_epoch, np.iinfo(np.int64).max).flat_map(epoch_batches).skip(offset)
  return ds.map(lambda rows: tf.gather(data, rows), num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
