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


@pytest.mark.parametrize("content,match", [(None, "does not exist"), ("a,b\n1,2\n", "could not be parsed"),
                                           ("1,2\nnan,3\n", "NaN or Inf")])
def test_vectors_bad_file(tmp_path, content, match):
  path = tmp_path / "x.csv"
  if content is not None:
    path.write_text(content)
  with pytest.raises(UsageError, match=match):
    data.load("vectors", data_path=str(path))


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
