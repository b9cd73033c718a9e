import gzip
import struct

import numpy as np
import pytest
import tensorflow as tf

from clustergan_tf import data
from clustergan_tf.errors import UsageError


def _write_idx(path, array, compress=True):
  header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape)
  raw = header + array.astype(np.uint8).tobytes()
  with open(path, "wb") as f:
    f.write(gzip.compress(raw) if compress else raw)


def _idx_dir(tmp_path, n_train=24, n_test=6, compress=True):
  rng = np.random.default_rng(0)
  suffix = ".gz" if compress else ""
  _write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n_train, 28, 28)), compress)
  _write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", np.arange(n_train) % 10, compress)
  _write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n_test, 28, 28)), compress)
  _write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", np.arange(n_test) % 10, compress)
  return tmp_path


@pytest.mark.parametrize("compress", [True, False])
def test_idx_loader(tmp_path, compress):
  d = data.load("mnist", "idx", str(_idx_dir(tmp_path, compress=compress)))
  x, y = d.split("train")
  assert x.shape == (22, 28, 28, 1) and x.dtype == np.float32  # 55/60 of 24 rows
  assert x.min() == 0.0 and x.max() == 1.0  # random bytes hold 0 and 255: pixels / 255, not / 256 or per image
  assert d.split("validation")[0].shape[0] == 2 and d.split("test")[0].shape[0] == 6
  np.testing.assert_array_equal(y, np.arange(22) % 10)


def test_idx_values_exact(tmp_path):
  _idx_dir(tmp_path)
  raw = data.read_idx(str(tmp_path / "t10k-images-idx3-ubyte.gz"))
  d = data.load("mnist", "idx", str(tmp_path))
  np.testing.assert_allclose(d.split("test")[0][..., 0], raw / 255.0, rtol=1e-6)


def test_idx_missing_file(tmp_path):
  _idx_dir(tmp_path)
  (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
  with pytest.raises(UsageError, match="has no t10k-labels-idx1-ubyte"):
    data.load("mnist", "idx", str(tmp_path))


def test_idx_corrupt_file(tmp_path):
  _idx_dir(tmp_path)
  (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not an idx file at all")
  with pytest.raises(UsageError, match="bad magic number"):
    data.load("mnist", "idx", str(tmp_path))


def test_idx_truncated_file(tmp_path):
  _idx_dir(tmp_path)
  path = tmp_path / "train-images-idx3-ubyte.gz"
  raw = gzip.decompress(path.read_bytes())
  path.write_bytes(gzip.compress(raw[:-100]))
  with pytest.raises(UsageError, match="truncated or corrupt"):
    data.load("mnist", "idx", str(tmp_path))


def test_idx_labels_do_not_match(tmp_path):
  _idx_dir(tmp_path)
  _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(5))
  with pytest.raises(UsageError, match="5 labels for 24 images"):
    data.load("mnist", "idx", str(tmp_path))


def test_idx_needs_data_dir():
  with pytest.raises(UsageError, match="needs --data_dir"):
    data.load("mnist", "idx", None)


def test_tfds_path_under_mock_data(monkeypatch):
  """Not prepared, the download server answers: TFDS downloads (a no-op under mock_data), then loads."""
  import tensorflow_datasets as tfds
  monkeypatch.setattr(data, "_download_reachable", lambda urls: True)
  with tfds.testing.mock_data(num_examples=30):
    d = data.load("mnist", "tfds")
  assert d.split("train")[0].shape[1:] == (28, 28, 1)
  assert sum(len(d.split(s)[0]) for s in ("train", "validation")) == 30
  assert d.split("train")[1].dtype == np.int64


def test_tfds_prepared_loads_without_network(tmp_path, monkeypatch):
  """A data set already prepared in --data_dir loads without asking the network."""
  import tensorflow_datasets as tfds
  builder = tfds.builder("mnist", data_dir=str(tmp_path))
  builder.data_path.mkdir(parents=True)
  builder.info.write_to_directory(builder.data_path)  # the metadata a prepared data set has
  probes = []
  monkeypatch.setattr(data, "_download_reachable", lambda urls: probes.append(urls))
  with tfds.testing.mock_data(num_examples=12, data_dir=str(tmp_path)):
    d = data.load("mnist", "tfds", str(tmp_path))
  assert probes == [] and d.split("test")[0].shape == (12, 28, 28, 1)


def test_tfds_offline_fails_fast_with_the_fix(tmp_path, monkeypatch):
  """Not prepared and no route to the download server: one-line UsageError at once, no download attempt."""
  import tensorflow_datasets as tfds

  def download(*args, **kwargs):
    raise AssertionError("download attempted")
  monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", download)
  monkeypatch.setattr(data, "_download_reachable", lambda urls: False)
  with pytest.raises(UsageError) as e:
    data.load("mnist", "tfds", str(tmp_path / "empty"))
  message = str(e.value)
  assert "--data_source=idx" in message and "--data_dir=" in message and "\n" not in message
  assert str(tmp_path / "empty") in message


@pytest.fixture
def no_proxy(monkeypatch):
  for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
    monkeypatch.delenv(name, raising=False)


@pytest.fixture
def listening_port():
  import socket
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    s.listen()
    yield s.getsockname()[1]


def test_download_probe_local(no_proxy, listening_port):
  """The probe connects to the URL's host and port (local sockets only: no network in tests)."""
  import socket
  with socket.socket() as s:  # a port that was free: nothing listens there
    s.bind(("127.0.0.1", 0))
    closed = s.getsockname()[1]
  assert data._download_reachable([f"http://127.0.0.1:{listening_port}/x"])
  assert not data._download_reachable([f"http://127.0.0.1:{closed}/x"])
  assert data._download_reachable([f"http://127.0.0.1:{closed}/", f"http://127.0.0.1:{listening_port}/"])


def test_download_probe_goes_through_the_proxy(no_proxy, listening_port, monkeypatch):
  monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{listening_port}")
  assert data._download_reachable(["https://storage.example.invalid/mnist/"])


def test_download_probe_gives_up_after_the_timeout(no_proxy, monkeypatch):
  """A name look-up or connect that hangs counts as unreachable after `timeout` seconds."""
  import socket
  import threading
  import time
  release = threading.Event()

  def hang(*args, **kwargs):
    release.wait(30)
    raise OSError("gave up")
  monkeypatch.setattr(socket, "create_connection", hang)
  start = time.monotonic()
  try:
    assert not data._download_reachable(["https://storage.googleapis.com"], timeout=0.3)
    assert time.monotonic() - start < 2
  finally:
    release.set()


def test_unknown_dataset():
  with pytest.raises(UsageError, match="--dataset='cifar' is unknown"):
    data.load("cifar")


def test_synthetic_matches_the_paper():
  d = data.make_synthetic(num_train=5000, num_test=10)
  x, y = d.split("train")
  assert x.shape == (5000, 100) and set(np.unique(y)) == set(range(10))
  within = np.concatenate([x[y == k] - x[y == k].mean(axis=0) for k in range(10)])
  assert abs(within.std() - 0.12) < 0.005
  means = np.stack([x[y == k].mean(axis=0) for k in range(10)])
  assert -0.33 < means.min() < -0.28 and 0.28 < means.max() < 0.33  # means ~ U(-0.3, 0.3)^100
  assert abs(means.std() - 0.6 / np.sqrt(12)) < 0.01
  np.testing.assert_array_equal(x, data.make_synthetic(num_train=5000, num_test=10).split("train")[0])


def test_digits_split_is_fixed_and_disjoint():
  d = data.load_digits()
  assert d.split("train")[0].shape == (1438, 64) and d.split("test")[0].shape == (359, 64)
  again = data.load_digits()
  np.testing.assert_array_equal(d.split("test")[0], again.split("test")[0])
  assert d.bounded and d.split("train")[0].max() == 1.0
  assert data.ROW_IMAGES[d.name] == (8, 8, 1)  # rows are flattened 8x8 images: --augment_* may move them


def test_vectors_npy_and_csv(tmp_path):
  x = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
  np.save(tmp_path / "x.npy", x)
  np.savetxt(tmp_path / "x.csv", x, delimiter=",")
  np.save(tmp_path / "y.npy", np.arange(20) % 4)
  a = data.load("vectors", data_path=str(tmp_path / "x.npy"), labels_path=str(tmp_path / "y.npy"))
  b = data.load("vectors", data_path=str(tmp_path / "x.csv"))
  np.testing.assert_allclose(a.split("train")[0], b.split("train")[0], rtol=1e-6)
  assert a.num_classes == 4 and b.split("test")[1] is None and not a.bounded


def test_vectors_labels_do_not_match(tmp_path):
  np.save(tmp_path / "x.npy", np.zeros((10, 2)))
  np.save(tmp_path / "y.npy", np.zeros(9))
  with pytest.raises(UsageError, match="--labels_path=.* expected 10 labels"):
    data.load("vectors", data_path=str(tmp_path / "x.npy"), labels_path=str(tmp_path / "y.npy"))


@pytest.mark.parametrize("name,write", [
    ("y.csv", lambda p: p.write_text("species\nsetosa\nvirginica\n# a comment\nsetosa\nversicolor\n")),
    ("y.csv", lambda p: p.write_text('setosa\nvirginica\n"setosa"\nversicolor\n')),  # no header, a quoted field
    ("y.npy", lambda p: np.save(p, np.array(["setosa", "virginica", "setosa", "versicolor"])))])
def test_text_labels_are_numbered_in_sorted_order(tmp_path, name, write):
  np.save(tmp_path / "x.npy", np.zeros((4, 2)))
  write(tmp_path / name)
  d = data.load("vectors", data_path=str(tmp_path / "x.npy"), labels_path=str(tmp_path / name))
  assert d.class_names == ("setosa", "versicolor", "virginica") and d.num_classes == 3
  np.testing.assert_array_equal(d.split("train")[1], [0, 2, 0, 1])
  assert data.labels_note(d) == "labels: 3 classes from --labels_path, ids in sorted order: 0=setosa, 1=versicolor, " \
      "2=virginica"


def test_integer_labels_with_a_header_stay_numbers(tmp_path):
  np.save(tmp_path / "x.npy", np.zeros((3, 2)))
  (tmp_path / "y.csv").write_text("label\n10\n2\n10\n")
  d = data.load("vectors", data_path=str(tmp_path / "x.npy"), labels_path=str(tmp_path / "y.csv"))
  assert d.class_names is None and data.labels_note(d) is None
  np.testing.assert_array_equal(d.split("train")[1], [10, 2, 10])  # ids as given, not as sorted text


@pytest.mark.parametrize("name,write,ids,names", [
    ("y.npy", lambda p: np.save(p, np.array([2, -1, 0, 2])), [2, -1, 0, 2], None),
    ("y.csv", lambda p: p.write_text("label\n2\n-1\n0\n2\n"), [2, -1, 0, 2], None),
    ("y.csv", lambda p: p.write_text("species\neel\n-1\ncat\neel\n"), [1, -1, 0, 1], ("cat", "eel")),
    ("y.npy", lambda p: np.save(p, np.array(["eel", "-1", "cat", "eel"])), [1, -1, 0, 1], ("cat", "eel"))])
def test_minus_one_marks_a_row_without_a_label(tmp_path, name, write, ids, names):
  d = _labels(tmp_path, name, write)
  np.testing.assert_array_equal(d.split("train")[1], ids)
  assert d.class_names == names and d.num_classes == 2
  assert data.labels_note(d).endswith("3 of 4 training rows labelled (-1: no label; metrics score the labelled rows)")
  assert data.drop_training_classes(d, [0]).split("train")[1].tolist() == [ids[0], -1, ids[3]]  # -1 rows train
  with pytest.raises(UsageError, match=r"--exclude_classes=-1: vectors has no training rows of class -1"):
    data.drop_training_classes(d, [-1])


def _labels(tmp_path, name, write, rows=4):
  np.save(tmp_path / "x.npy", np.zeros((rows, 2)))
  write(tmp_path / name)
  return data.load("vectors", data_path=str(tmp_path / "x.npy"), labels_path=str(tmp_path / name))


@pytest.mark.parametrize("name,write,ids,names", [
    ("y.npy", lambda p: np.save(p, np.array([b"eel", b"cat", b"eel", b"dog"])), [2, 0, 2, 1], ("cat", "dog", "eel")),
    ("y.npy", lambda p: np.save(p, np.array(["2", "10", "2", "1"])), [2, 10, 2, 1], None),  # ids written as text
    ("y.csv", lambda p: p.write_text("class #2\nclass #1\n# a comment line\nclass #2\nclass #1\n"), [1, 0, 1, 0],
     ("class #1", "class #2")),  # '#' inside a label is text
    ("y.csv", lambda p: p.write_text("\nkind\r\n\r\neel\r\ncat\r\neel\r\ndog\r\n\n\n"), [2, 0, 2, 1],
     ("cat", "dog", "eel")),  # a header, a blank line under it, CRLF line ends, blank lines at either end
    ("y.csv", lambda p: p.write_text("kind\noutlier\nb\nb\nb\n"), [1, 0, 0, 0], ("b", "outlier"))])  # a class of one
def test_label_files_as_users_write_them(tmp_path, name, write, ids, names):
  d = _labels(tmp_path, name, write)
  np.testing.assert_array_equal(d.split("train")[1], ids)
  assert d.class_names == names


@pytest.mark.parametrize("name,write,match", [
    ("y.csv", lambda p: p.write_text("a\nb\na\n"), r"y.csv holds 3 labels; expected 4, one per row of --data_path"),
    ("y.csv", lambda p: p.write_text("a\nb\na\nb\nb\n"), "holds 5 labels; expected 4"),  # line 1 is a label
    ("y.csv", lambda p: p.write_text("species\na\nb\na\n"),  # one label short: the header must not fill in
     r"y.csv line 1, 'species', is on no other line: as a header it leaves 3 labels for 4 rows; if it is a label "
     r"\(a class of one row\), add a header line above it$"),
    ("y.csv", lambda p: p.write_text("label\n0\n1\n0\n"), "line 1, 'label', is on no other line"),
    ("y.csv", lambda p: p.write_text("species\na\nb\n"),  # two short
     r"holds 2 labels after its header line 'species' \(a value no other line holds\); expected 4"),
    ("y.csv", lambda p: p.write_text("a\nb\n\na\nb\n"), r"y.csv line 3 is an empty label"),  # would shift the rest
    ("y.npy", lambda p: np.save(p, np.array(["x", "a", "b", "a", "b"])), "holds 5 labels; expected 4"),  # no header
    ("y.csv", lambda p: p.write_text("2\n10\nNA\n1\n"), r"y.csv line 3: 'NA' is not an integer id like the other"),
    ("y.csv", lambda p: p.write_text("0.5\n1.5\n0.5\n1.5\n"), "must hold integer class ids or text labels"),
    ("y.npy", lambda p: np.save(p, np.array([0, -2, 1, 0])),
     r"y.npy holds the class id -2: class ids must be >= 0 \(-1 marks a row without a label\)$"),
    ("y.csv", lambda p: p.write_text("-1\n-1\n-1\n-1\n"), r"labels no row \(every label is -1\): leave --labels"),
    ("y.csv", lambda p: p.write_text("a,b,a,b\n"), r"y.csv line 1 has 4 fields; give one label per line"),
    ("y.csv", lambda p: p.write_text("id,species\n1,a\n2,b\n3,a\n4,b\n"), "line 1 has 2 fields; give one label"),
    ("y.npy", lambda p: np.save(p, np.array(["a", "", "a", "b"])), r"y.npy entry 1 is an empty label"),
    ("y.npy", lambda p: np.save(p, np.array(["a", None, "a", "b"], dtype=object), allow_pickle=True),
     r"holds Python objects; save text labels with numpy.save\(path, labels.astype\(str\)\)")])
def test_label_file_mistakes_are_named(tmp_path, name, write, match):
  with pytest.raises(UsageError, match=match):
    _labels(tmp_path, name, write)


@pytest.mark.parametrize("write", [lambda p: p.write_text("1,2\n3,4\n"),  # text under a .npy name
                                   lambda p: np.save(p, np.array([{"a": 1}], dtype=object)),  # pickled objects
                                   lambda p: p.write_bytes(b"")])  # empty
def test_a_npy_file_without_numbers_is_named_with_the_fix(tmp_path, write):
  write(tmp_path / "x.npy")
  with pytest.raises(UsageError) as e:
    data.load("vectors", data_path=str(tmp_path / "x.npy"))
  assert str(e.value) == (f"--data_path={tmp_path / 'x.npy'} is not a .npy file of numbers; save one with "
                          "numpy.save(path, array) where array is numeric, or use a .csv")


@pytest.mark.parametrize("content,match", [
    (None, "does not exist"), ("1,2\n3,x\n", r"x.csv line 2, column 2 could not be parsed as a number: 'x'$"),
    ("1,2\nnan,3\n", "NaN or Inf, first in line 2"), ("a,b\n", "holds no rows of numbers"),
    ("1,2\n3,\n", r"x.csv line 2, column 2 is empty; every row needs a number in every column$")])
def test_vectors_bad_file(tmp_path, content, match):
  path = tmp_path / "x.csv"
  if content is not None:
    path.write_text(content)
  with pytest.raises(UsageError, match=match):
    data.load("vectors", data_path=str(path))


def test_synthetic_default_is_unchanged():
  """Values recorded before shares/stds were added: the default draws stay bit for bit the same."""
  import hashlib
  d = data.make_synthetic()
  (x, y), (xt, yt) = d.split("train"), d.split("test")
  digest = hashlib.sha256(x.tobytes() + xt.tobytes() + y.tobytes() + yt.tobytes()).hexdigest()
  assert digest.startswith("ff2a70a3b460b308d3c1131b2a0f4fe4")
  np.testing.assert_array_equal(x[0, :3], np.float32([0.123525426, -0.15314557, 0.026119418]))
  np.testing.assert_array_equal(y[:10], [7, 0, 5, 8, 7, 4, 3, 4, 5, 6])
  np.testing.assert_array_equal(yt[:10], [4, 0, 4, 2, 6, 2, 5, 3, 8, 2])
  np.testing.assert_array_equal(np.bincount(y), [1065, 1011, 934, 1011, 974, 1041, 994, 948, 1023, 999])
  small = data.make_synthetic(num_train=256, num_test=64, num_clusters=4, dim=6).split("train")
  np.testing.assert_array_equal(small[0][0, :2], np.float32([0.19360107, 0.103045955]))
  np.testing.assert_array_equal(small[1][:8], [1, 2, 3, 1, 1, 3, 3, 3])


def test_synthetic_shares_and_stds():
  x, y = data.make_synthetic(num_train=20000, num_test=10, num_clusters=3, dim=4, shares=[0.7, 0.2, 0.1],
                             stds=[0.01, 0.1, 0.3]).split("train")
  np.testing.assert_allclose(np.bincount(y) / len(y), [0.7, 0.2, 0.1], atol=0.01)
  spreads = [(x[y == k] - x[y == k].mean(axis=0)).std() for k in range(3)]
  np.testing.assert_allclose(spreads, [0.01, 0.1, 0.3], rtol=0.05)


def test_mixture_is_imbalanced_and_hard_for_kmeans():
  """26% down to 2%, spreads 0.15 down to 0.05; separable (nearest class mean) yet k-means ACC well below 0.99."""
  from sklearn.cluster import KMeans
  from threadpoolctl import threadpool_limits

  from clustergan_tf.metrics import hungarian_accuracy
  d = data.load("mixture")
  (x, y), (xt, yt) = d.split("train"), d.split("test")
  assert x.shape == (10000, 20) and xt.shape == (2000, 20) and d.num_classes == 10 and not d.bounded
  np.testing.assert_allclose(np.bincount(y) / len(y), data.geometric_shares(10, 12.5), atol=0.01)
  means = np.stack([x[y == k].mean(axis=0) for k in range(10)])
  spreads = [(x[y == k] - means[k]).std() for k in range(10)]
  np.testing.assert_allclose(spreads, np.linspace(0.15, 0.05, 10), rtol=0.05)
  nearest = ((xt[:, None, :] - means[None]) ** 2).sum(axis=-1).argmin(axis=1)
  assert (nearest == yt).mean() > 0.99
  with threadpool_limits(1):  # 0.05 s; OpenMP threads on busy shared cores take seconds
    clusters = KMeans(10, n_init=10, random_state=0).fit_predict(xt)
  assert hungarian_accuracy(yt, clusters) < 0.95  # 0.856 measured


def test_geometric_shares_by_hand():
  np.testing.assert_allclose(data.geometric_shares(3, 4), np.array([4, 2, 1]) / 7)
  np.testing.assert_allclose(data.geometric_shares(4, 1), [0.25] * 4)
  np.testing.assert_allclose(data.geometric_shares(1, 12.5), [1.0])
  shares = data.geometric_shares(10, 12.5)  # q = 12.5^(-1/9): 1 / (1 + q + ... + q^9) = 0.2604
  assert abs(shares.sum() - 1) < 1e-12 and abs(shares[0] / shares[-1] - 12.5) < 1e-9
  assert abs(shares[0] - 0.2604) < 1e-4 and abs(shares[-1] - 0.0208) < 1e-4


def _rows_of(x, y):
  """x [N, 1] holding each row's own index: a subsample names the rows it kept."""
  return x[:, 0].astype(int), y


@pytest.mark.parametrize("available,kept", [([10, 10, 10], [10, 5, 2]),  # N = 17.5: floor(10, 5, 2.5)
                                            ([3, 8, 8], [3, 1, 1])])  # N = 5.25: floor(3, 1.5, 0.75), at least 1
def test_subsample_classes_counts(available, kept):
  y = np.repeat(np.arange(3), available)
  x = np.arange(len(y), dtype=np.float32)[:, None]
  rows, ys = _rows_of(*data.subsample_classes(x, y, np.array([4, 2, 1]) / 7, np.random.default_rng(0)))
  np.testing.assert_array_equal(np.bincount(ys), kept)
  np.testing.assert_array_equal(y[rows], ys)  # labels travel with their rows
  assert len(set(rows)) == len(rows) and not np.all(np.diff(rows) > 0)  # distinct rows, shuffled order


def test_subsample_classes_skips_absent_classes():
  y = np.repeat([0, 2], [10, 10])  # class 1 of the three has no rows here
  x = np.arange(20, dtype=np.float32)[:, None]
  _, ys = data.subsample_classes(x, y, np.array([4, 2, 1]) / 7, np.random.default_rng(0), classes=[0, 1, 2])
  np.testing.assert_array_equal(np.bincount(ys, minlength=3), [10, 0, 2])


def test_subsample_classes_is_seeded():
  y = np.repeat(np.arange(3), 20)
  x = np.arange(60, dtype=np.float32)[:, None]
  shares = data.geometric_shares(3, 4)
  draw = lambda seed: data.subsample_classes(x, y, shares, np.random.default_rng(seed))[0][:, 0]
  np.testing.assert_array_equal(draw(1), draw(1))
  assert not np.array_equal(draw(1), draw(2)) and sorted(draw(1)) != sorted(draw(2))  # other rows, not only order


def _labelled_csv(tmp_path, labels, x=None):
  x = np.arange(len(labels), dtype=np.float32)[:, None] if x is None else np.asarray(x, np.float32)
  np.savetxt(tmp_path / "x.csv", x, delimiter=",")
  np.savetxt(tmp_path / "y.csv", labels, fmt="%d")
  return dict(data_path=str(tmp_path / "x.csv"), labels_path=str(tmp_path / "y.csv"))


def test_class_imbalance_subsamples_every_split(tmp_path):
  files = _labelled_csv(tmp_path, np.repeat(np.arange(3), 10))
  d = data.load("vectors", **files, class_imbalance=4, seed=5)
  (x, y), (xt, yt) = d.split("train"), d.split("test")
  np.testing.assert_array_equal(np.bincount(y), [10, 5, 2])
  np.testing.assert_array_equal(xt, x)  # a file's rows: the training split's subsample is every split's
  np.testing.assert_array_equal(yt, y)
  separate = data.Data("held_out", {"train": (x30 := np.arange(30.0)[:, None], np.repeat(np.arange(3), 10)),
                                    "test": (x30 + 100, np.repeat(np.arange(3), 10))}, 3, True)
  (xs, ys), (xst, yst) = (data.imbalance_classes(separate, 4, 5).split(s) for s in ("train", "test"))
  np.testing.assert_array_equal(np.bincount(yst), [10, 5, 2])
  np.testing.assert_array_equal(xs, x)  # the same draw as the file's training split
  assert not np.array_equal(xs, xst - 100)  # separate splits: each its own stream
  again = data.load("vectors", **files, class_imbalance=4, seed=5).split("train")[0]
  np.testing.assert_array_equal(x, again)
  assert not np.array_equal(x, data.load("vectors", **files, class_imbalance=4, seed=6).split("train")[0])
  np.testing.assert_array_equal(data.load("vectors", **files, class_imbalance=1).split("train")[0][:, 0],
                                np.arange(30))  # 1: the data as it is


def test_class_imbalance_needs_labels(tmp_path):
  np.save(tmp_path / "x.npy", np.zeros((10, 2)))
  with pytest.raises(UsageError, match="^--class_imbalance needs class labels .* --labels_path=FILE$"):
    data.load("vectors", data_path=str(tmp_path / "x.npy"), class_imbalance=4)


def test_exclude_classes_from_training_only(tmp_path):
  d = data.load("mnist", "idx", str(_idx_dir(tmp_path)), exclude_classes=(2, 7))
  y, yv, yt = d.split("train")[1], d.split("validation")[1], d.split("test")[1]
  np.testing.assert_array_equal(y, [c for c in np.arange(22) % 10 if c not in (2, 7)])  # 22 - 4 rows
  np.testing.assert_array_equal(yv, [3])  # rows 22, 23: classes 2, 3
  np.testing.assert_array_equal(yt, np.arange(6))  # test keeps every class
  assert len(d.split("train")[0]) == 18 and d.num_classes == 10


@pytest.mark.parametrize("classes,match", [
    ((3, 12), "^--exclude_classes=3,12: vectors has no training rows of class 12; its training classes are 0,1,3$"),
    ((0, 1, 3), "would leave no training rows")])
def test_exclude_classes_errors(tmp_path, classes, match):
  files = _labelled_csv(tmp_path, [0, 1, 3, 1])
  with pytest.raises(UsageError, match=match):
    data.load("vectors", **files, exclude_classes=classes)


def test_exclude_classes_errors_name_text_classes(tmp_path):
  np.save(tmp_path / "x.npy", np.zeros((4, 2)))
  np.save(tmp_path / "y.npy", np.array(["eel", "cat", "eel", "dog"]))
  with pytest.raises(UsageError, match=r"no training rows of class 5; its training classes are 0=cat,1=dog,2=eel$"):
    data.load("vectors", data_path=str(tmp_path / "x.npy"), labels_path=str(tmp_path / "y.npy"), exclude_classes=(5,))


def test_exclude_classes_needs_labels(tmp_path):
  np.save(tmp_path / "x.npy", np.zeros((10, 2)))
  with pytest.raises(UsageError, match="^--exclude_classes needs class labels"):
    data.load("vectors", data_path=str(tmp_path / "x.npy"), exclude_classes=(1,))


def test_standardize_uses_training_statistics(tmp_path):
  """Train rows [0, 2, 4] (class 1 excluded): mean 2, std sqrt(8/3); the constant column becomes 0."""
  files = _labelled_csv(tmp_path, [0, 0, 0, 1], x=[[0, 5], [2, 5], [4, 5], [10, 5]])
  d = data.load("vectors", **files, exclude_classes=(1,), standardize=True)
  x, xt = d.split("train")[0], d.split("test")[0]
  np.testing.assert_allclose(x.mean(axis=0), [0, 0], atol=1e-6)
  np.testing.assert_allclose(x.std(axis=0), [1, 0], atol=1e-6)
  np.testing.assert_allclose(xt[:, 0], np.array([-2, 0, 2, 8]) / np.sqrt(8 / 3), rtol=1e-6)
  np.testing.assert_array_equal(xt[:, 1], 0)
  assert not d.bounded and x.dtype == np.float32


def test_standardize_is_for_vectors_only():
  with pytest.raises(UsageError, match="^--standardize works with --dataset=vectors only, not synthetic"):
    data.load("synthetic", standardize=True)


def test_vectors_csv_header_is_skipped(tmp_path):
  (tmp_path / "x.csv").write_text("\ufeffwidth,height\n1,2\n# a comment\n\n3,4\n")
  (tmp_path / "y.csv").write_text("label\n0\n1\n")
  d = data.load("vectors", data_path=str(tmp_path / "x.csv"), labels_path=str(tmp_path / "y.csv"))
  np.testing.assert_array_equal(d.split("train")[0], [[1, 2], [3, 4]])
  np.testing.assert_array_equal(d.split("train")[1], [0, 1])


def test_vectors_ragged_csv_names_the_line(tmp_path):
  (tmp_path / "x.csv").write_text("a,b,c\n1,2,3\n4,5,6\n\n7,8\n")
  with pytest.raises(UsageError) as e:
    data.load("vectors", data_path=str(tmp_path / "x.csv"))
  assert str(e.value) == (f"--data_path={tmp_path / 'x.csv'} line 5 has 2 columns, expected 3 as on line 2; every "
                          "row needs the same number of values")


def test_vectors_nan_names_the_row(tmp_path):
  x = np.ones((5, 2))
  x[3, 1] = np.nan
  np.save(tmp_path / "x.npy", x)
  with pytest.raises(UsageError, match=r"x.npy contains NaN or Inf, first in row 3 \(counting from 0\); clean"):
    data.load("vectors", data_path=str(tmp_path / "x.npy"))
  (tmp_path / "x.csv").write_text("a,b\n1,2\n\n3,inf\n4,nan\n")
  with pytest.raises(UsageError, match="x.csv contains NaN or Inf, first in line 4; clean the file$"):
    data.load("vectors", data_path=str(tmp_path / "x.csv"))


def test_train_dataset_yields_data_only():
  x = np.arange(40, dtype=np.float32).reshape(20, 2)
  ds = data.train_dataset(x, 6, seed=1)
  batch = next(iter(ds))
  assert isinstance(batch, tf.Tensor) and batch.shape == (6, 2) and batch.dtype == tf.float32
  rows = {tuple(r) for r in batch.numpy()}
  assert len(rows) == 6 and rows <= {tuple(r) for r in x}  # 6 distinct rows of x, no labels
  assert not np.array_equal(batch.numpy(), next(iter(data.train_dataset(x, 6, seed=2))).numpy())
  again = next(iter(data.train_dataset(x, 6, seed=1)))
  np.testing.assert_array_equal(batch.numpy(), again.numpy())


def test_train_dataset_epochs_and_resume():
  x = np.arange(20, dtype=np.float32)[:, None]
  batches = [b.numpy()[:, 0] for b in data.train_dataset(x, 6, seed=3).take(9)]  # 3 batches per epoch
  for e in range(3):
    epoch = np.concatenate(batches[3 * e:3 * e + 3])
    assert len(set(epoch)) == 18  # no row twice within an epoch
  assert not np.array_equal(batches[0], batches[3])  # reshuffled every epoch
  resumed = [b.numpy()[:, 0] for b in data.train_dataset(x, 6, seed=3, start_batch=4).take(5)]
  for a, b in zip(batches[4:], resumed):
    np.testing.assert_array_equal(a, b)


def test_scale_note_suggests_standardize_for_features_on_mixed_scales():
  x = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32) * np.array([0.01, 1.0, 1000.0], np.float32)
  d = data.Data("vectors", {"train": (x, None)}, None, False)
  note = data.scale_note(d)
  assert note.startswith("note: the features' standard deviations range from 0.0") and "--standardize" in note
  assert data.scale_note(data.Data("vectors", {"train": (x[:, :2] * [100, 1], None)}, None, False)) is None  # 1:1
  assert data.scale_note(data.standardize_features(d)) is None


@pytest.mark.parametrize("text,rows,header", [
    ("0,1,2\n0.5,1.5,2.5\n3.5,4.5,5.5\n", 2, "0,1,2"),  # pandas' DataFrame(array).to_csv(index=False)
    (",0,1,2\n0,0.5,1.5,2.5\n1,3.5,4.5,5.5\n", 2, ",0,1,2"),  # ... with its index
    ("a,b,c\n0.5,1.5,2.5\n3.5,4.5,5.5\n", 2, "a,b,c"),
    ("0,1\n1,0\n", 2, None),  # two binary features: data
    ("0,1\n0.5,1.5\n3.5,4.5\n", 2, "0,1"),  # two columns of fractions under pandas' names
    ("0\n0.5\n1.5\n", 2, "0"),  # one
    (",0,1\n0,0.5,1.5\n1,3.5,4.5\n", 2, ",0,1"),  # pandas' index (unnamed), then two columns
    ("id,0,1,2\n0,0.5,1.5,2.5\n1,3.5,4.5,5.5\n", 2, "id,0,1,2"),  # ... named
    ("0\n1\n2\n", 3, None),  # one column of whole numbers: data
    ("1,2,3\n0.5,1.5,2.5\n", 2, None)])
def test_a_header_line_is_column_names_only(tmp_path, text, rows, header):
  (tmp_path / "x.csv").write_text(text)
  d = data.load("vectors", data_path=str(tmp_path / "x.csv"))
  assert len(d.split("train")[0]) == rows and data.csv_header(str(tmp_path / "x.csv")) == header
  note = data.header_note(str(tmp_path / "x.csv"))
  assert note == (None if header is None else f"note: --data_path={tmp_path / 'x.csv'} line 1 is read as column "
                  f"names, not data: {header}")


@pytest.mark.parametrize("text,match", [
    ("1,NA,3\n4,5,6\n", r"x.csv line 1, column 2 could not be parsed as a number: 'NA'$"),  # not a header: data
    ("1;2;3\n4;5;6\n", r"x.csv line 1 separates its values by semicolons; a .csv here is comma-separated"),
    ("1\t2\n3\t4\n", "separates its values by tabs"),
    ("1,2,\n3,4,\n", r"line 1, column 3 is empty \(a comma at the end of the line\?\); every row")])
def test_csv_mistakes_in_the_first_line_are_named(tmp_path, text, match):
  (tmp_path / "x.csv").write_text(text)
  with pytest.raises(UsageError, match=match):
    data.load("vectors", data_path=str(tmp_path / "x.csv"))


def test_a_labels_header_pandas_wrote_is_named(tmp_path):
  np.save(tmp_path / "x.npy", np.zeros((3, 2)))
  (tmp_path / "y.csv").write_text("0\n1\n0\n2\n")  # pd.Series(y).to_csv(index=False)
  with pytest.raises(UsageError, match=r"holds 4 labels; expected 3, one per row of --data_path \(if line 1, '0', "
                     r"is a header, as the '0' pandas writes above an unnamed Series, delete it or save with "
                     r"header=False\)"):
    data.load("vectors", data_path=str(tmp_path / "x.npy"), labels_path=str(tmp_path / "y.csv"))


@pytest.mark.parametrize("standardize", [False, True])
def test_a_column_that_counts_the_rows_is_noted(tmp_path, standardize):
  x = np.random.default_rng(0).normal(size=(50, 3))
  np.save(tmp_path / "x.npy", x)
  assert data.id_note(data.load("vectors", data_path=str(tmp_path / "x.npy"), standardize=standardize)) is None
  np.save(tmp_path / "x.npy", np.concatenate([np.arange(1, 51)[:, None], x], axis=1))  # an id column first
  note = data.id_note(data.load("vectors", data_path=str(tmp_path / "x.npy"), standardize=standardize))
  assert note.startswith("note: column 1 of --data_path counts the rows (0, 1, 2, ...): an index or id column")


def _png(path, image):
  path.parent.mkdir(parents=True, exist_ok=True)
  tf.io.write_file(str(path), tf.io.encode_png(np.asarray(image, np.uint8)))


def test_images_npy_uint8_are_divided_by_255_and_floats_kept(tmp_path):
  """[N, H, W] gains a channel; uint8 pixels / 255 (the scaling a served client is told), [0, 1] floats as they are."""
  x = np.arange(4 * 8 * 4, dtype=np.uint8).reshape(4, 8, 4) * 2
  np.save(tmp_path / "x.npy", x)
  d = data.load("images", data_path=str(tmp_path / "x.npy"))
  assert d.data_shape == (8, 4, 1) and d.bounded and d.one_set and d.num_classes is None
  np.testing.assert_allclose(d.split("test")[0][..., 0], x / 255.0, rtol=1e-6)
  assert d.scaling == "8-bit pixels divided by 255"
  assert data.image_note(d) == "images: 4 of 8x4x1 from --data_path (8-bit pixels divided by 255)"
  np.save(tmp_path / "f.npy", np.full((3, 4, 4, 3), 0.5, np.float32))
  np.save(tmp_path / "y.npy", np.array([0, 1, -1]))
  d = data.load("images", data_path=str(tmp_path / "f.npy"), labels_path=str(tmp_path / "y.npy"))
  assert d.scaling is None and d.num_classes == 2 and float(d.split("train")[0].max()) == 0.5
  assert data.image_note(d).endswith("(values as in the file, in [0, 1])")


@pytest.mark.parametrize("array,match", [
    (np.zeros((3, 30, 32), np.uint8), r"H and W must be multiples of 4; got 30x32 \(crop to 28x32 or pad to 32x32\)"),
    (np.full((3, 4, 4), 200.0), r"holds values from 200 to 200: .* divide 8-bit pixels by 255"),
    (np.full((3, 4, 4), -1.0), r"holds values from -1 to -1: images must be uint8 pixels \(0-255\) or numbers in"),
    (np.zeros((3, 16)), r"must hold images \[num_images, height, width\] .* got shape \(3, 16\) \(vectors: "),
    (np.zeros((3, 4, 4, 5)), r"with 1-4 channels; got shape \(3, 4, 4, 5\)"),
    (np.array([np.zeros((4, 4)), np.full((4, 4), np.nan)]), r"contains NaN or Inf, first in image 1"),
])
def test_images_npy_bad_arrays_are_one_line_errors(tmp_path, array, match):
  np.save(tmp_path / "x.npy", array)
  with pytest.raises(UsageError, match=r"^--data_path=\S+x.npy:? (.* )?" + match):
    data.load("images", data_path=str(tmp_path / "x.npy"))


def test_images_directory_subdirectories_name_the_classes(tmp_path):
  """Files sorted by path; a subdirectory (at any depth below) is a class, a file at the top has no label (-1);
  other files are skipped; one grey image among colour ones becomes RGB, alpha is dropped."""
  rgb = np.zeros((8, 4, 3), np.uint8)
  rgb[..., 0] = 255
  _png(tmp_path / "imgs" / "dog" / "b.png", rgb)
  _png(tmp_path / "imgs" / "cat" / "x" / "a.png", np.full((8, 4, 1), 51, np.uint8))  # grey
  _png(tmp_path / "imgs" / "cat" / "c.png", np.concatenate([rgb, np.zeros((8, 4, 1), np.uint8)], -1))  # RGBA
  _png(tmp_path / "imgs" / "top.png", rgb)
  (tmp_path / "imgs" / "notes.txt").write_text("not an image")
  d = data.load("images", data_path=str(tmp_path / "imgs"))
  assert d.row_names == ("cat/c.png", "cat/x/a.png", "dog/b.png", "top.png")
  assert d.class_names == ("cat", "dog") and d.num_classes == 2
  np.testing.assert_array_equal(d.split("test")[1], [0, 0, 1, -1])
  x = d.split("train")[0]
  assert x.shape == (4, 8, 4, 3) and d.scaling == "8-bit pixels divided by 255"
  np.testing.assert_allclose(x[1, 0, 0], [0.2, 0.2, 0.2], rtol=1e-6)  # grey 51 -> RGB
  np.testing.assert_allclose(x[0, 0, 0], [1.0, 0.0, 0.0])  # RGBA -> RGB
  assert data.labels_note(d).startswith("labels: 2 classes from the subdirectories of --data_path, ids in sorted "
                                        "order: 0=cat, 1=dog; 3 of 4 training rows labelled")
  assert data.labels_missing("images", str(tmp_path / "imgs"), None) is None
  with pytest.raises(UsageError, match="are in subdirectories, which name their classes; leave --labels_path out"):
    data.load("images", data_path=str(tmp_path / "imgs"), labels_path=str(tmp_path / "y.csv"))


def test_images_flat_directory_takes_labels_path_in_file_order(tmp_path):
  for name in ("b.png", "a.png", "c.png"):
    _png(tmp_path / "imgs" / name, np.zeros((4, 4, 1), np.uint8))
  assert data.labels_missing("images", str(tmp_path / "imgs"), None)
  (tmp_path / "y.csv").write_text("2\n0\n1\n")
  d = data.load("images", data_path=str(tmp_path / "imgs"), labels_path=str(tmp_path / "y.csv"))
  assert d.row_names == ("a.png", "b.png", "c.png") and d.data_shape == (4, 4, 1)
  np.testing.assert_array_equal(d.split("train")[1], [2, 0, 1])


@pytest.mark.parametrize("files,match", [
    ({"a.png": (8, 8, 1), "b/c.png": (8, 12, 1), "d.png": (8, 8, 1)},
     r"images differ in size: 2 are 8x8, b/c.png is 8x12; resize them to one size, or let --image_size=H,W do it"),
    ({"a.png": (8, 8, 1), "b.png": None}, r"b.png cannot be read as an image \(Unknown image file format\..*\); fix"),
    ({"a.png": (8, 8, 1)}, r"holds 1 image files \(.png, .jpg, .jpeg, .bmp, .gif, .webp\); it needs at least 2"),
    ({"a.png": (6, 8, 1), "b.png": (6, 8, 1)}, r"H and W must be multiples of 4; got 6x8 \(crop to 4x8 or pad to"),
])
def test_images_directory_problems_name_the_file(tmp_path, files, match):
  for name, shape in files.items():
    if shape is None:
      (tmp_path / name).write_text("not a png")
    else:
      _png(tmp_path / name, np.zeros(shape, np.uint8))
  with pytest.raises(UsageError, match=f"^--data_path={tmp_path}:? (.* )?" + match):
    data.load("images", data_path=str(tmp_path))


def test_images_need_a_data_path(tmp_path):
  with pytest.raises(UsageError, match=r"^--dataset=images needs --data_path=FILE.npy of images"):
    data.load("images")
  with pytest.raises(UsageError, match="does not exist"):
    data.load("images", data_path=str(tmp_path / "missing.npy"))
  assert data.labels_missing("images", str(tmp_path / "x.npy"), None) == "--dataset=images needs --labels_path"
  assert data.labels_missing("images", str(tmp_path / "x.npy"), "y.csv") is None
  assert data.labels_missing("digits", None, None) is None


def test_image_size_resizes_a_directory_of_several_sizes_and_a_npy(tmp_path):
  """--image_size=H,W stretches every image to H x W (values stay in [0, 1]); a constant image stays constant."""
  _png(tmp_path / "imgs" / "a.png", np.full((10, 6, 1), 255, np.uint8))
  _png(tmp_path / "imgs" / "b.png", np.full((30, 30, 1), 51, np.uint8))
  d = data.load("images", data_path=str(tmp_path / "imgs"), image_size=(8, 12))
  x = d.split("train")[0]
  assert x.shape == (2, 8, 12, 1) and d.scaling == "8-bit pixels divided by 255"
  np.testing.assert_allclose(x[0], 1.0, rtol=1e-6)
  np.testing.assert_allclose(x[1], 0.2, rtol=1e-5)
  np.save(tmp_path / "x.npy", np.zeros((3, 30, 30), np.uint8))
  assert data.load("images", data_path=str(tmp_path / "x.npy"), image_size=(16, 16)).data_shape == (16, 16, 1)
  with pytest.raises(UsageError, match=r"got 30x30 \(crop to 28x28 or pad to 32x32\), or let --image_size=H,W resize"):
    data.load("images", data_path=str(tmp_path / "x.npy"))


def test_images_directory_follows_linked_class_directories_and_labels_need_files_below(tmp_path):
  """A class subdirectory that is a symbolic link is read like any other; a subdirectory without images names no
  class, so the data counts as unlabelled for the commands that score against labels."""
  _png(tmp_path / "elsewhere" / "b" / "1.png", np.zeros((4, 4, 1), np.uint8))
  _png(tmp_path / "imgs" / "a" / "1.png", np.zeros((4, 4, 1), np.uint8))
  (tmp_path / "imgs" / "b").symlink_to(tmp_path / "elsewhere" / "b")
  d = data.load("images", data_path=str(tmp_path / "imgs"))
  assert d.row_names == ("a/1.png", "b/1.png") and d.class_names == ("a", "b")
  assert data.labels_missing("images", str(tmp_path / "imgs"), None) is None
  _png(tmp_path / "flat" / "1.png", np.zeros((4, 4, 1), np.uint8))
  _png(tmp_path / "flat" / "2.png", np.zeros((4, 4, 1), np.uint8))
  (tmp_path / "flat" / "notes").mkdir()
  (tmp_path / "flat" / "notes" / "readme.txt").write_text("no image")
  assert data.labels_missing("images", str(tmp_path / "flat"), None) == (
      "--dataset=images needs --labels_path, or its image files in class subdirectories of --data_path")
  (tmp_path / "y.csv").write_text("1\n0\n")
  d = data.load("images", data_path=str(tmp_path / "flat"), labels_path=str(tmp_path / "y.csv"))
  assert d.labels_from == "--labels_path" and d.class_names is None


def test_image_note_says_when_the_networks_stop_halving_early(tmp_path):
  np.save(tmp_path / "x.npy", np.zeros((2, 100, 100), np.uint8))
  note = data.image_note(data.load("images", data_path=str(tmp_path / "x.npy")))
  assert note.startswith("images: 2 of 100x100x1 from --data_path (8-bit pixels divided by 255); note: the networks "
                         "halve the sides 2 times, to 25x25 (a side turns odd)")
  np.save(tmp_path / "x.npy", np.zeros((2, 64, 64), np.uint8))
  assert "note" not in data.image_note(data.load("images", data_path=str(tmp_path / "x.npy")))
  (tmp_path / "x.png").write_text("")
  with pytest.raises(UsageError, match=r"^--data_path=\S+x.png: --dataset=images reads a .npy of images or a dir"):
    data.load("images", data_path=str(tmp_path / "x.png"))


def test_class_imbalance_keeps_each_rows_file_and_name_arrays_follow_the_split(tmp_path):
  """Under --class_imbalance a directory's rows are one subsample for every split, and `files` still names each
  row's file; a split that --exclude_classes thinned has no `files` (its rows are no longer the files in order)."""
  for i in range(30):
    _png(tmp_path / "imgs" / "abc"[i % 3] / f"{i:02d}.png", np.full((4, 4, 1), i, np.uint8))
  d = data.load("images", data_path=str(tmp_path / "imgs"), class_imbalance=4, seed=5)
  x, y = d.split("train")
  np.testing.assert_array_equal(np.bincount(y), [10, 5, 2])
  files = d.name_arrays("test")["files"]
  assert len(files) == 17 and d.name_arrays("train", [4, 0])["files"].tolist() == files[[4, 0]].tolist()
  for row, name in zip(x, files):
    assert round(float(row[0, 0, 0]) * 255) == int(name[2:4]) and "abc".index(name[0]) == y[list(files).index(name)]
  np.testing.assert_array_equal(d.name_arrays("test")["class_names"], ["a", "b", "c"])
  d = data.load("images", data_path=str(tmp_path / "imgs"), exclude_classes=(2,))
  assert "files" not in d.name_arrays("train") and len(d.name_arrays("test")["files"]) == 30


def test_class_flags_on_an_unlabelled_directory_name_both_ways_to_label_it(tmp_path):
  for name in ("a.png", "b.png"):
    _png(tmp_path / "flat" / name, np.zeros((4, 4, 1), np.uint8))
  with pytest.raises(UsageError, match=r"^--class_imbalance needs class labels and --dataset=images has none; give "
                                       r"--labels_path=FILE or class subdirectories of --data_path$"):
    data.load("images", data_path=str(tmp_path / "flat"), class_imbalance=4)
