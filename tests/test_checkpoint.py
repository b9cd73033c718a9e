"""checkpoint: what is saved, how it is restored, the resume rule, and a trained model loaded for inference."""

import dataclasses
import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from clustergan_tf import checkpoint, train_lib
from clustergan_tf import data as data_lib
from clustergan_tf import model as model_lib
from clustergan_tf.errors import UsageError


@pytest.fixture
def trained(tiny_config, tiny_data):
  cfg = dataclasses.replace(tiny_config, train_steps=2, logdir="none", jit_compile=False, ema_decay=0.5)
  report = train_lib.train(cfg, data=tiny_data, out=io.StringIO())
  return cfg, report


def test_restore_gives_back_weights_optimizer_step_averages_and_seconds(trained, tiny_data):
  cfg, report = trained
  model = model_lib.build(cfg, tiny_data.data_shape, tiny_data.bounded)
  fresh_average = model.ema_weights[0].numpy()
  moments = [v for v in model.g_optimizer.variables if "momentum" in v.name or "velocity" in v.name]
  assert moments and not any(np.any(v.numpy()) for v in moments)  # a fresh optimizer's moments are zeros
  seconds = tf.Variable(0.0, dtype=tf.float64)
  checkpoint.restore(model, checkpoint.latest(cfg.model_dir), {"train_seconds": seconds})
  assert int(model.step) == 2 and float(seconds.numpy()) > 0
  assert checkpoint.weights_fingerprint(model) == report["weights_sha256"]
  assert float(seconds.numpy()) == checkpoint.train_seconds(checkpoint.latest(cfg.model_dir))
  assert all(np.any(v.numpy()) for v in moments)  # Adam's moments came back, not only its step counter
  # The average came back from the file: not the fresh model's (its initial weights), and not G's trained weights.
  assert not np.array_equal(model.ema_weights[0].numpy(), fresh_average)
  assert not np.array_equal(model.ema_weights[0].numpy(), model.generator.weights[0].numpy())


def test_fingerprint_changes_with_any_weight(tiny_config, tiny_data):
  model = model_lib.build(tiny_config, tiny_data.data_shape, tiny_data.bounded)
  before = checkpoint.weights_fingerprint(model)
  assert checkpoint.weights_fingerprint(model) == before and len(before) == 16
  model.discriminator.weights[-1].assign_add(tf.ones_like(model.discriminator.weights[-1]))
  assert checkpoint.weights_fingerprint(model) != before


def test_check_resumable_names_the_differing_setting(trained):
  cfg, _ = trained
  checkpoint.check_resumable(dataclasses.replace(cfg, learning_rate=1.0, train_steps=9), cfg.model_dir)  # allowed
  with pytest.raises(UsageError, match=r"--latent_dim=5 differs from 3 of the checkpoints"):
    checkpoint.check_resumable(dataclasses.replace(cfg, latent_dim=5), cfg.model_dir)


def test_resume_on_other_training_rows_is_refused_and_inference_notes_it(trained, tiny_data):
  cfg, _ = trained
  saved = json.load(open(os.path.join(cfg.model_dir, checkpoint.DATA_FILE)))
  assert saved == data_lib.fingerprint(tiny_data) and saved["train_rows"] == 256 and saved["shape"] == [6]
  checkpoint.check_resumable(cfg, cfg.model_dir, data_lib.fingerprint(tiny_data))  # the same rows: allowed
  x, y = tiny_data.splits["train"]
  other = dataclasses.replace(tiny_data, splits=dict(tiny_data.splits, train=(x[::-1].copy(), y)))  # same shape
  assert data_lib.fingerprint(other)["sha256"] != saved["sha256"]
  with pytest.raises(UsageError, match=r"^the training data of --dataset=synthetic \(256 rows, sha256 \w{16}\) "
                     r"are not those the checkpoints in --model_dir=.* were trained on \(256 rows, sha256 "
                     + saved["sha256"] + r", data.json\); resume with the same data, or train into another"):
    checkpoint.check_resumable(cfg, cfg.model_dir, data_lib.fingerprint(other))
  mnist = dataclasses.replace(cfg, dataset="mnist", data_source="idx", data_dir="/data/mnist")
  assert checkpoint.data_change(mnist, cfg.model_dir, checkpoint.trained_data(cfg.model_dir),
                                data_lib.fingerprint(other)).startswith(
      "the training data of --data_source=idx --data_dir=/data/mnist (256 rows")  # where image data come from
  os.remove(os.path.join(cfg.model_dir, checkpoint.DATA_FILE))  # a model_dir from before data.json: no check
  checkpoint.check_resumable(cfg, cfg.model_dir, data_lib.fingerprint(other))


def test_load_model_without_checkpoint_is_a_usage_error(tiny_config, tiny_data, tmp_path):
  with pytest.raises(UsageError, match="has no checkpoint under ckpt/: train first"):
    checkpoint.load_model(tiny_config, tiny_data, str(tmp_path))


def test_load_serves_the_averages_and_reports_the_trained_fingerprint(tmp_path):
  from clustergan_tf.config import Config
  # digits.flags' moves (its rows as 8x8 images): a model trained with them loads for inference too.
  cfg = Config(dataset="digits", num_clusters=3, latent_dim=2, hidden_units=(8,), batch_size=8, n_critic=1,
               train_steps=2, logdir="none", jit_compile=False, ema_decay=0.5, augment_shift=1.0,
               model_dir=str(tmp_path / "m"))
  report = train_lib.train(cfg, out=io.StringIO())
  t = checkpoint.load(cfg.model_dir)
  assert t.weights_sha256 == report["weights_sha256"] and t.train_minutes == report["train_minutes"]
  np.testing.assert_array_equal(t.model.generator.weights[0].numpy(), t.model.ema_weights[0].numpy())
  assert t.cfg == cfg and t.data.name == "digits"


def test_a_damaged_checkpoint_is_named_with_the_way_back(tiny_config, tiny_data):
  """A truncated data file (a disk filled mid-save elsewhere) is a one-line error naming the earlier
  checkpoints; following its advice (the first line of ckpt/checkpoint) restores the earlier one."""
  import glob
  import os
  cfg = dataclasses.replace(tiny_config, train_steps=4, checkpoint_every=2, logdir="none", jit_compile=False)
  train_lib.train(cfg, data=tiny_data, out=io.StringIO())
  latest = checkpoint.latest(cfg.model_dir)
  data_file, = glob.glob(latest + ".data-*")
  os.truncate(data_file, os.path.getsize(data_file) // 2)
  model = model_lib.build(cfg, tiny_data.data_shape, tiny_data.bounded)
  with pytest.raises(UsageError, match=r"^checkpoint \S*ckpt-4 cannot be read \(.*\): its files are damaged; to go "
                     r"back to ckpt-2, name it in the first line of \S*ckpt/checkpoint, or train into a new"):
    checkpoint.restore(model, latest)
  os.truncate(data_file, 0)  # the seconds' own bytes may lie in the first half
  with pytest.raises(UsageError, match="ckpt-4 cannot be read"):
    checkpoint.train_seconds(latest)
  index = os.path.join(checkpoint.directory(cfg.model_dir), "checkpoint")
  lines = open(index).read().splitlines()
  with open(index, "w") as f:
    f.write("\n".join(['model_checkpoint_path: "ckpt-2"', *lines[1:]]) + "\n")
  checkpoint.restore(model, checkpoint.latest(cfg.model_dir))
  assert int(model.step) == 2


def test_a_signal_during_a_save_waits_for_its_end():
  """uninterrupted(): Ctrl-C (or SIGTERM where it raises KeyboardInterrupt) inside the block is held until the block
  ends, then raised (then_raise) or dropped; the handlers are restored either way."""
  import signal
  previous = signal.signal(signal.SIGINT, signal.default_int_handler)
  try:
    finished = []
    with pytest.raises(KeyboardInterrupt):
      with checkpoint.uninterrupted():
        os.kill(os.getpid(), signal.SIGINT)
        finished.append("saved")  # the block was not cut short
    assert finished == ["saved"] and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with checkpoint.uninterrupted(then_raise=False):
      os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
  finally:
    signal.signal(signal.SIGINT, previous)
