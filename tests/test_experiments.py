import io
import re

import numpy as np
import pytest
import tensorflow as tf

from clustergan_tf import experiments, train_lib
from clustergan_tf.config import Config
from clustergan_tf.errors import UsageError


def test_mixture_fit_by_hand():
  means = np.array([[0.0, 0.0], [10.0, 0.0]])
  samples = np.array([[0.0, 1.0], [0.0, 3.0], [0.0, -1.0]])  # all nearest to mean 0, at 1, 3, 1
  dist, share, hit = experiments.mixture_fit(samples, means, radius=2.0)
  assert dist == pytest.approx(5 / 3) and share == pytest.approx(2 / 3) and hit == 1


@pytest.mark.parametrize("flag_file", ["digits.flags", "mnist_cpu.flags", "mnist_real.flags"])
def test_plain_gan_baselines_run_from_every_flag_file(flag_file):
  """The baselines and the lemma's Gaussian variant train a GAN without an encoder from the user's flag file:
  PLAIN_GAN turns off what trains E (the file's moves, real-data terms), which validation would refuse."""
  import dataclasses
  import pathlib
  from absl import flags
  from clustergan_tf import config_flags
  from clustergan_tf.config import validate
  flag_values = flags.FlagValues()
  config_flags.define_config_flags(flag_values)
  flag_values(["prog", f"--flagfile={pathlib.Path(__file__).parent.parent / flag_file}", "--starts=2"])
  base = config_flags.config_from_flags(flag_values)
  with pytest.raises(UsageError):
    validate(dataclasses.replace(base, prior="gaussian", use_encoder=False))
  validate(dataclasses.replace(base, **dict(experiments.PLAIN_GAN, prior="gaussian")))


def test_interpolation_png(tmp_path):
  """One row per cluster pair a -> a+1, interpolation_steps images per row (10x10 synthetic vectors drawn 2x)."""
  cfg = Config(dataset="synthetic", num_clusters=10, latent_dim=4, hidden_units=(16,), train_steps=2,
               steps_per_loop=1, n_critic=1, batch_size=16, logdir="none", model_dir=str(tmp_path / "m"))
  train_lib.train(cfg, out=io.StringIO())
  path = experiments.interpolation(cfg.model_dir, str(tmp_path / "interp.png"), steps=5)
  image = tf.io.decode_png(tf.io.read_file(path)).numpy()
  assert image.shape == (10 * 21, 5 * 21, 1)
  with pytest.raises(UsageError, match="--interpolation_steps=1"):
    experiments.interpolation(cfg.model_dir, str(tmp_path / "x.png"), steps=1)


def test_interpolation_checks_its_output_before_loading(tmp_path):
  """A directory or an unwritable --output ends at once (not in TensorFlow's WriteFile after drawing)."""
  missing = str(tmp_path / "no_model")  # never loaded: the output is checked first
  with pytest.raises(UsageError, match=f"^--output={re.escape(str(tmp_path))} is a directory"):
    experiments.interpolation(missing, str(tmp_path), steps=5)
  (tmp_path / "f").write_text("")
  with pytest.raises(UsageError, match="is not a writable directory"):
    experiments.interpolation(missing, str(tmp_path / "f" / "i.png"), steps=5)


def test_interpolation_writes_a_png_only(tmp_path):
  with pytest.raises(UsageError, match=r"--output=.*interp.txt must end in .png"):
    experiments.interpolation(str(tmp_path), str(tmp_path / "interp.txt"), 3)  # refused before the model is read
