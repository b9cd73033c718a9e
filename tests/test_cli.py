"""The shared command-line wrapper's message for an interruption outside the training loop."""

import tensorflow as tf

from clustergan_tf import cli


def _save(directory):
  return tf.train.Checkpoint(v=tf.Variable(1.0)).save(str(directory / "ckpt" / "ckpt"))


def test_nothing_saved_says_so(tmp_path):
  assert cli.interrupted_message(str(tmp_path)) == ("interrupted before training started (loading data or "
                                                    "building the model); nothing was saved")
  assert "nothing was saved" in cli.interrupted_message(str(tmp_path / "missing"))


def test_one_checkpoint_is_named(tmp_path):
  path = _save(tmp_path)
  assert cli.interrupted_message(str(tmp_path)).endswith(f"no training step was lost: rerunning the same command "
                                                         f"continues from {path}")


def test_runs_under_the_model_dir_are_counted(tmp_path):
  """reproduce and select_k keep one model per seed (and K) below --model_dir."""
  _save(tmp_path / "seed0")
  _save(tmp_path / "k4" / "seed1")
  assert cli.interrupted_message(str(tmp_path)).endswith(f"continues from the 2 checkpoints under {tmp_path}")
