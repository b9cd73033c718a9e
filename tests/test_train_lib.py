import dataclasses
import io
import json
import os

from clustergan_tf import train_lib


def test_time_budget_stops_early_and_is_kept_across_resumes(tiny_config, tiny_data):
  """A spent budget ends training at the end of the first block; rerunning does not grant a new budget."""
  cfg = dataclasses.replace(tiny_config, train_steps=1000, steps_per_loop=2, time_budget_minutes=1e-6,
                            strategy="mirrored", cpu_replicas=2, jit_compile=False, logdir="none")
  out = io.StringIO()
  report = train_lib.train(cfg, data=tiny_data, out=out)
  assert report["step"] == 2 and 0 < report["train_minutes"]
  assert "time budget of 1e-06 minutes spent at step 2 of 1000" in out.getvalue()
  out = io.StringIO()
  report = train_lib.train(cfg, data=tiny_data, out=out)
  assert report["step"] == 2, out.getvalue()
  assert "resuming from" in out.getvalue() and "spent at step 2 of 1000" in out.getvalue()
  with open(os.path.join(cfg.model_dir, "metrics.json")) as f:
    assert json.load(f)["step"] == 2


def test_plain_gan_is_scored_by_backprop_decoding(tiny_config, tiny_data):
  """A --nouse_encoder --prior=gaussian run: z* from decoding, k-means only, no argmax."""
  cfg = dataclasses.replace(tiny_config, prior="gaussian", use_encoder=False, decode_steps=5, logdir="none")
  report = train_lib.train(cfg, data=tiny_data, out=io.StringIO())
  assert set(report["results"]) == {"kmeans"} and report["latents"] == "backprop decoding"
  assert 0 <= report["results"]["kmeans"]["acc"] <= 1


def test_resumes_a_checkpoint_without_train_seconds(tiny_config, tiny_data):
  """Checkpoints written before --time_budget_minutes (no train_seconds) still resume."""
  import tensorflow as tf
  cfg = dataclasses.replace(tiny_config, train_steps=2, logdir="none", jit_compile=False)
  train_lib.train(cfg, data=tiny_data, out=io.StringIO())
  model = train_lib.load_model(cfg, tiny_data, cfg.model_dir)
  old_style = tf.train.CheckpointManager(train_lib.make_checkpoint(model), os.path.join(cfg.model_dir, "ckpt"), 5)
  old_style.save(checkpoint_number=3)  # the latest checkpoint now lacks train_seconds
  out = io.StringIO()
  report = train_lib.train(dataclasses.replace(cfg, train_steps=4), data=tiny_data, out=out)
  assert "ckpt-3 at step 2 of 4" in out.getvalue() and report["step"] == 4


def test_moving_average_is_checkpointed_and_used_for_inference(tiny_config, tiny_data):
  """--ema_decay: the averages resume with the run; restore() serves G and E at their averages."""
  import numpy as np
  cfg = dataclasses.replace(tiny_config, ema_decay=0.9, eval_every=2, logdir="none", jit_compile=False)
  report = train_lib.train(cfg, data=tiny_data, out=io.StringIO())
  assert "label_free_score" in report and 0 <= report["label_free_score"] <= 1
  assert "mode_purity" in report["diagnostics"]  # the synthetic data has training labels
  live = train_lib.load_model(cfg, tiny_data, cfg.model_dir)  # the last weights
  served = train_lib.load_model(cfg, tiny_data, cfg.model_dir)
  served.use_averaged_weights()  # what restore() does for evaluate, export and decode
  assert not np.array_equal(live.generator.weights[0].numpy(), served.generator.weights[0].numpy())
  np.testing.assert_array_equal(live.ema_weights[0].numpy(), served.generator.weights[0].numpy())
  import tensorflow as tf
  fresh = train_lib.build_model(cfg, tiny_data, tf.distribute.get_strategy())  # averages = initial weights
  assert not np.allclose(fresh.generator.weights[0].numpy(), served.generator.weights[0].numpy())
  with open(os.path.join(cfg.model_dir, "curve.jsonl")) as f:
    steps = [json.loads(line)["step"] for line in f]
  assert steps == [2, 4]


def test_moving_average_can_be_turned_on_when_resuming(tiny_config, tiny_data):
  """A checkpoint without averages resumes with --ema_decay: the averages start at the restored weights."""
  import numpy as np
  cfg = dataclasses.replace(tiny_config, train_steps=2, logdir="none", jit_compile=False)
  train_lib.train(cfg, data=tiny_data, out=io.StringIO())
  trained = train_lib.load_model(cfg, tiny_data, cfg.model_dir)
  with_ema = dataclasses.replace(cfg, ema_decay=0.9)
  resumed = train_lib.load_model(with_ema, tiny_data, cfg.model_dir)
  np.testing.assert_array_equal(resumed.ema_weights[0].numpy(), trained.generator.weights[0].numpy())
  out = io.StringIO()
  report = train_lib.train(dataclasses.replace(with_ema, train_steps=4), data=tiny_data, out=out)
  assert "resuming from" in out.getvalue() and report["step"] == 4
