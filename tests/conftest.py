"""Test set-up: two logical CPU devices (so mirrored 2-replica code runs here) and quiet TF."""

from clustergan_tf import quiet  # noqa: F401  (before TensorFlow: its known start-up noise stays off stderr)

import pytest  # noqa: E402

from clustergan_tf import distribute  # noqa: E402

distribute.split_cpu(2)  # before any op runs; the default strategy keeps using /cpu:0


@pytest.fixture
def tiny_config(tmp_path):
  """A Config small enough to train a few steps on the synthetic data in a second or two."""
  from clustergan_tf.config import Config
  return Config(dataset="synthetic", num_clusters=4, latent_dim=3, hidden_units=(16, 16), batch_size=8,
                n_critic=2, train_steps=4, steps_per_loop=2, checkpoint_every=2, learning_rate=1e-3,
                model_dir=str(tmp_path / "model"))


@pytest.fixture
def tiny_data():
  from clustergan_tf import data
  return data.make_synthetic(num_train=256, num_test=64, num_clusters=4, dim=6)


LONGEST_FIRST = ("test_reliability.py", "test_train.py", "test_export.py")  # minutes each, mostly subprocesses


def pytest_collection_modifyitems(items):
  """The longest files first: `--dist loadfile --no-loadscope-reorder` hands files to the two workers in this
  order, so both end near the same time instead of one running the longest file alone at the end."""
  items.sort(key=lambda item: (LONGEST_FIRST.index(item.path.name) if item.path.name in LONGEST_FIRST
                               else len(LONGEST_FIRST)))
