"""The decode command line on a trained model (decode_lib's algorithm is tested in test_decode_lib)."""

import subprocess
import sys

import numpy as np
import pytest

from clustergan_tf import train_lib


@pytest.mark.slow
def test_decode_cli_on_a_learned_shares_model(tiny_config, tmp_path):
  """A model with learned cluster shares decodes end to end: decode.npz holds one restart per sample."""
  import dataclasses
  from clustergan_tf import checkpoint, decode_lib
  import tensorflow as tf
  cfg = dataclasses.replace(tiny_config, cluster_shares="learned", logdir="none")
  train_lib.train(cfg)
  loaded = checkpoint.load(cfg.model_dir)
  shares = np.array([0.94, 0.02, 0.02, 0.02], np.float32)  # far from uniform, so that they move winners
  loaded.model.shares.assign(shares)
  tf.train.CheckpointManager(checkpoint.make_checkpoint(loaded.model), checkpoint.directory(cfg.model_dir),
                             max_to_keep=None).save(checkpoint_number=cfg.train_steps + 1)
  dims = int(np.prod(loaded.data.split("test")[0].shape[1:]))
  out = tmp_path / "decode.npz"
  proc = subprocess.run([sys.executable, "-m", "clustergan_tf.decode", f"--model_dir={cfg.model_dir}",
                         "--num_samples=10", "--steps=3", f"--output={out}"], capture_output=True, text=True)
  assert proc.returncode == 0, proc.stderr
  with np.load(out) as f:
    assert f["z"].shape == (10, cfg.latent_dim + cfg.num_clusters)
    assert f["restart"].shape == (10,) and f["restart"].max() < cfg.num_clusters
    assert f["restart_loss"].shape == (10, cfg.num_clusters)
    np.testing.assert_array_equal(f["z"][:, cfg.latent_dim:].argmax(axis=1), f["restart"])
    expected = decode_lib.restart_scores(f["restart_loss"], shares, dims).argmin(axis=1)
    np.testing.assert_array_equal(f["restart"], expected)  # the model's learned shares took part
    assert not np.array_equal(f["restart"], f["restart_loss"].argmin(axis=1))  # and they moved some winners
  assert "wrote" in proc.stdout


def test_kmeans_on_z_star_is_numbered_after_the_winning_restarts():
  from clustergan_tf import decode
  rng = np.random.default_rng(0)
  group = np.repeat(np.arange(3), 10)
  z = (np.eye(3)[group] * 10 + rng.normal(0, 0.1, (30, 3))).astype(np.float32)
  restart = np.array([2, 0, 1])[group]
  lines, arrays = decode.scores({"z": z, "restart": restart}, restart, None, 3)
  np.testing.assert_array_equal(arrays["kmeans"], restart)
  assert lines[1].startswith("  kmeans  acc 1.0000")
