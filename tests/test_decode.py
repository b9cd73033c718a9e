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
  cfg = dataclasses.replace(tiny_config, cluster_shares="learned", logdir="none")
  train_lib.train(cfg)
  out = tmp_path / "decode.npz"
  proc = subprocess.run([sys.executable, "-m", "clustergan_tf.decode", f"--model_dir={cfg.model_dir}",
                         "--num_samples=10", "--steps=3", f"--output={out}"], capture_output=True, text=True)
  assert proc.returncode == 0, proc.stderr
  with np.load(out) as f:
    assert f["z"].shape == (10, cfg.latent_dim + cfg.num_clusters)
    assert f["restart"].shape == (10,) and f["restart"].max() < cfg.num_clusters
    assert f["restart_loss"].shape == (10, cfg.num_clusters)
    np.testing.assert_array_equal(f["z"][:, cfg.latent_dim:].argmax(axis=1), f["restart"])
  assert "wrote" in proc.stdout
