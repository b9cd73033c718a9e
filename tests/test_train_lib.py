"""The training loop and each of its actions."""

import dataclasses
import io
import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from clustergan_tf import checkpoint, hardware, metrics, train_lib
from clustergan_tf import data as data_lib
from clustergan_tf import model as model_lib
from clustergan_tf.errors import UsageError


def test_time_budget_stops_early_and_is_kept_across_resumes(tiny_config, tiny_data):
  """A spent budget ends training at the end of the first block; rerunning does not grant a new budget."""
  cfg = dataclasses.replace(tiny_config, train_steps=1000, steps_per_loop=2, time_budget_minutes=1e-6,
                            strategy="mirrored", cpu_replicas=2, jit_compile=False, logdir="none")
  out = io.StringIO()
  report = train_lib.train(cfg, data=tiny_data, out=out)
  assert report["step"] == 2
  assert report["train_minutes"] == round(checkpoint.train_seconds(checkpoint.latest(cfg.model_dir)) / 60, 3)
  assert "time budget of 1e-06 minutes spent at step 2 of 1000" in out.getvalue()
  out = io.StringIO()
  report = train_lib.train(cfg, data=tiny_data, out=out)
  assert report["step"] == 2, out.getvalue()
  assert re.search(r"resuming from \S*ckpt-2 at step 2 of 1000", out.getvalue())
  assert "spent at step 2 of 1000" in out.getvalue()
  with open(os.path.join(cfg.model_dir, "metrics.json")) as f:
    assert json.load(f)["step"] == 2


def test_plain_gan_is_scored_by_backprop_decoding(tiny_config, tiny_data):
  """A --nouse_encoder --prior=gaussian run: z* from decoding, k-means only, no argmax."""
  cfg = dataclasses.replace(tiny_config, prior="gaussian", use_encoder=False, decode_steps=5, logdir="none")
  report = train_lib.train(cfg, data=tiny_data, out=io.StringIO())
  assert set(report["results"]) == {"kmeans"} and report["latents"] == "backprop decoding"
  saved = np.load(os.path.join(cfg.model_dir, "assignments.npz"))
  assert set(saved.files) == {"labels", "kmeans"}
  assert report["results"]["kmeans"]["acc"] == metrics.hungarian_accuracy(saved["labels"], saved["kmeans"])


def test_resumes_a_checkpoint_without_train_seconds(tiny_config, tiny_data):
  """Checkpoints written before --time_budget_minutes (no train_seconds) still resume."""
  cfg = dataclasses.replace(tiny_config, train_steps=2, logdir="none", jit_compile=False)
  train_lib.train(cfg, data=tiny_data, out=io.StringIO())
  model = checkpoint.load_model(cfg, tiny_data, cfg.model_dir)
  old_style = tf.train.CheckpointManager(checkpoint.make_checkpoint(model), checkpoint.directory(cfg.model_dir), 5)
  old_style.save(checkpoint_number=3)  # the latest checkpoint now lacks train_seconds
  out = io.StringIO()
  report = train_lib.train(dataclasses.replace(cfg, train_steps=4), data=tiny_data, out=out)
  assert "ckpt-3 at step 2 of 4" in out.getvalue() and report["step"] == 4


def test_moving_average_is_checkpointed_and_used_for_inference(tiny_config, tiny_data):
  """--ema_decay: the averages resume with the run; restore() serves G and E at their averages."""
  cfg = dataclasses.replace(tiny_config, ema_decay=0.9, eval_every=2, logdir="none", jit_compile=False)
  report = train_lib.train(cfg, data=tiny_data, out=io.StringIO())
  scores = report["label_free"]
  assert report["label_free_score"] == pytest.approx(scores["stability"] * scores["balance"])
  assert set(report["diagnostics"]) == {"mode_purity", "mode_classes"}  # the synthetic data has training labels
  live = checkpoint.load_model(cfg, tiny_data, cfg.model_dir)  # the last weights
  served = checkpoint.load_model(cfg, tiny_data, cfg.model_dir)
  served.use_averaged_weights()  # what checkpoint.load does for evaluate, export and decode
  assert np.abs(live.generator.weights[0].numpy() - served.generator.weights[0].numpy()).max() > 1e-4
  np.testing.assert_array_equal(live.ema_weights[0].numpy(), served.generator.weights[0].numpy())
  fresh = model_lib.build(cfg, tiny_data.data_shape, tiny_data.bounded)  # averages = initial weights
  assert np.abs(fresh.generator.weights[0].numpy() - served.generator.weights[0].numpy()).max() > 1e-4
  with open(os.path.join(cfg.model_dir, "curve.jsonl")) as f:
    steps = [json.loads(line)["step"] for line in f]
  assert steps == [2, 4]


def test_moving_average_can_be_turned_on_when_resuming(tiny_config, tiny_data):
  """A checkpoint without averages resumes with --ema_decay: the averages start at the restored weights."""
  cfg = dataclasses.replace(tiny_config, train_steps=2, logdir="none", jit_compile=False)
  train_lib.train(cfg, data=tiny_data, out=io.StringIO())
  trained = checkpoint.load_model(cfg, tiny_data, cfg.model_dir)
  with_ema = dataclasses.replace(cfg, ema_decay=0.9)
  resumed = checkpoint.load_model(with_ema, tiny_data, cfg.model_dir)
  np.testing.assert_array_equal(resumed.ema_weights[0].numpy(), trained.generator.weights[0].numpy())
  out = io.StringIO()
  report = train_lib.train(dataclasses.replace(with_ema, train_steps=4), data=tiny_data, out=out)
  assert re.search(r"resuming from \S*ckpt-2 at step 2 of 4", out.getvalue()) and report["step"] == 4


@pytest.mark.parametrize("flag", ["model_dir", "logdir"])
def test_an_unwritable_directory_is_named_before_anything_runs(tiny_config, tiny_data, flag):
  cfg = dataclasses.replace(tiny_config, **{flag: "/proc/version/run"})
  with pytest.raises(UsageError, match=f"^--{flag}=/proc/version/run is not writable"):
    train_lib.prepare(cfg, tiny_data, io.StringIO())


def test_resume_with_other_networks_is_refused_and_leaves_the_run_as_it_was(tiny_config, tiny_data):
  cfg = dataclasses.replace(tiny_config, train_steps=2, logdir="none", jit_compile=False)
  train_lib.train(cfg, data=tiny_data, out=io.StringIO())
  with pytest.raises(UsageError, match=r"^--hidden_units=\(32, 32\) differs from \(16, 16\) of the checkpoints"):
    train_lib.train(dataclasses.replace(cfg, train_steps=4, hidden_units=(32, 32)), data=tiny_data, out=io.StringIO())
  with open(os.path.join(cfg.model_dir, "config.json")) as f:
    assert json.load(f)["hidden_units"] == [16, 16]  # untouched
  assert checkpoint.latest(cfg.model_dir).endswith("ckpt-2")


def _trained_on_a_vectors_file(tiny_config, tmp_path, standardize):
  """(path, rows [64, 5], cfg) of a 2-step run trained on the .npy file at path."""
  path = str(tmp_path / "rows.npy")
  rows = np.random.default_rng(0).normal(size=(64, 5)).astype(np.float32)
  np.save(path, rows)
  cfg = dataclasses.replace(tiny_config, dataset="vectors", data_path=path, train_steps=2, logdir="none",
                            jit_compile=False, standardize=standardize)
  train_lib.train(cfg, out=io.StringIO())
  return path, rows, cfg


@pytest.mark.parametrize("standardize", [False, True])
def test_resume_on_an_edited_vectors_file_is_refused_and_evaluation_notes_it(tiny_config, tmp_path, standardize):
  path, rows, cfg = _trained_on_a_vectors_file(tiny_config, tmp_path, standardize)
  edited = rows.copy()
  edited[0] += 5.0  # the same width and row count: only the fingerprint tells
  np.save(path, edited)
  with pytest.raises(UsageError, match=f"^the training data of --data_path={re.escape(path)} \\(64 rows"):
    train_lib.train(dataclasses.replace(cfg, train_steps=4), out=io.StringIO())
  assert checkpoint.latest(cfg.model_dir).endswith("ckpt-2")
  note = io.StringIO()
  loaded = checkpoint.load(cfg.model_dir, out=note)
  kept = ", scaled by the training rows' statistics (data.json)" if standardize else ""
  assert note.getvalue().startswith(f"note: the training data of --data_path={path} (64 rows") and \
      note.getvalue().endswith(f"what follows uses today's rows{kept}\n")
  if standardize:  # the model's scaling, not the edited file's: evaluation and export feed E what it learned on
    np.save(tmp_path / "original.npy", rows)
    trained = data_lib.load("vectors", data_path=str(tmp_path / "original.npy"), standardize=True)
    np.testing.assert_array_equal(loaded.data.standardization[0], trained.standardization[0])
    np.testing.assert_array_equal(loaded.data.standardization[1], trained.standardization[1])
    np.testing.assert_allclose(loaded.data.split("test")[0][1:], trained.split("test")[0][1:], atol=1e-6)
  np.save(path, rows)  # the file as it was: resumes
  assert train_lib.train(dataclasses.replace(cfg, train_steps=4), out=io.StringIO())["step"] == 4


def test_a_model_whose_file_changed_width_or_predates_saved_scaling_says_so(tiny_config, tmp_path):
  path, rows, cfg = _trained_on_a_vectors_file(tiny_config, tmp_path, standardize=True)
  np.save(path, np.concatenate([rows, rows[:, :1]], axis=1))  # a column more
  with pytest.raises(UsageError, match=r"^the rows of --data_path=\S+ have shape \(6,\); the model in "
                                       r"--model_dir=\S+ was trained on rows of shape \(5,\) \(data.json\)"):
    checkpoint.load(cfg.model_dir, out=io.StringIO())
  np.save(path, rows + 1.0)  # as wide, other values, and a data.json written before it saved the scaling
  saved_path = os.path.join(cfg.model_dir, checkpoint.DATA_FILE)
  with open(saved_path) as f:
    saved = json.load(f)
  del saved["standardization"]
  with open(saved_path, "w") as f:
    json.dump(saved, f)
  note = io.StringIO()
  checkpoint.load(cfg.model_dir, out=note)
  assert note.getvalue().endswith("what follows uses today's rows, scaled by today's rows' statistics (data.json "
                                  "predates the saved scaling)\n")


def test_a_model_whose_data_moved_is_loaded_from_where_it_lies_now(tiny_config, tmp_path):
  path, rows, cfg = _trained_on_a_vectors_file(tiny_config, tmp_path, standardize=False)
  moved = str(tmp_path / "elsewhere.npy")
  os.rename(path, moved)
  with pytest.raises(UsageError, match=r"does not exist \(the training run's data, config.json; if it moved, pass its "
                     r"place now: --data_path, --labels_path or --data_dir\)$"):
    checkpoint.load(cfg.model_dir, out=io.StringIO())
  note = io.StringIO()
  loaded = checkpoint.load(cfg.model_dir, out=note, moved={"data_path": moved})
  assert note.getvalue() == "" and loaded.cfg.data_path == moved  # the same rows: nothing to note
  np.testing.assert_array_equal(loaded.data.split("test")[0], rows)
  config_path = os.path.join(cfg.model_dir, "config.json")
  dataclasses.replace(cfg, data_dir="/data/mnist").save(config_path)  # before --data_dir was refused beside vectors
  assert checkpoint.load(cfg.model_dir, out=io.StringIO(), moved={"data_path": moved}).cfg.data_dir is None
  dataclasses.replace(cfg, dataset="synthetic", data_path=None).save(config_path)  # a model of another data set
  with pytest.raises(UsageError, match="--data_path=.* is read only with --dataset=vectors"):
    checkpoint.load(cfg.model_dir, out=io.StringIO(), moved={"data_path": moved})  # not silently ignored


# -- the actions, one by one ----------------------------------------------------------------------
@pytest.fixture
def run(tiny_config, tiny_data):
  cfg = dataclasses.replace(tiny_config, logdir="none", jit_compile=False, train_steps=10, checkpoint_every=4)
  return train_lib.prepare(cfg, tiny_data, io.StringIO())


def test_a_directory_of_colour_images_trains_conv_nets_and_serves_its_files_clusters(tiny_config, tmp_path):
  """--dataset=images from class subdirectories of 12x8 RGB PNGs: conv networks of that shape, assignments.npz
  names each file, and the exported encoder takes [batch, 12, 8, 3] and gives the clusters evaluation wrote."""
  from clustergan_tf import export_lib
  rng = np.random.default_rng(0)
  for i in range(24):
    tf.io.write_file(str(tmp_path / "imgs" / ("ab"[i % 2]) / f"{i:02d}.png"),
                     tf.io.encode_png(rng.integers(0, 256, (12, 8, 3), dtype=np.uint8)))
  cfg = dataclasses.replace(tiny_config, dataset="images", data_path=str(tmp_path / "imgs"), net_width=0.125,
                            train_steps=2, logdir="none", jit_compile=False)
  out = io.StringIO()
  train_lib.train(cfg, out=out)
  assert "images: 24 of 12x8x3 from --data_path (8-bit pixels divided by 255)" in out.getvalue()
  assert "labels: 2 classes from the subdirectories of --data_path" in out.getvalue()
  with open(os.path.join(cfg.model_dir, "metrics.json")) as f:
    report = json.load(f)
  assert report["dataset"] == "images" and report["class_names"] == ["a", "b"] and report["num_examples"] == 24
  saved = np.load(os.path.join(cfg.model_dir, "assignments.npz"))
  assert list(saved["files"][:3]) == ["a/00.png", "a/02.png", "a/04.png"]
  np.testing.assert_array_equal(saved["labels"], [0] * 12 + [1] * 12)
  decoded = tmp_path / "decode.npz"
  proc = subprocess.run([sys.executable, "-m", "clustergan_tf.decode", f"--model_dir={cfg.model_dir}",
                         "--num_samples=5", "--steps=2", f"--output={decoded}"], capture_output=True, text=True)
  assert proc.returncode == 0, proc.stderr
  with np.load(decoded) as f:  # decode.npz names its rows as assignments.npz does, rows spread over the split
    rows = f["rows"]
    assert len(rows) == 5 and np.all(np.diff(rows) > 0)
    assert f["files"].tolist() == saved["files"][rows].tolist() and f["class_names"].tolist() == ["a", "b"]
    assert set(f["labels"]) == {0, 1}  # the split is sorted by class: its first 5 rows would all be a/
  loaded = checkpoint.load(cfg.model_dir, out=io.StringIO())
  assert [layer.name for layer in loaded.model.encoder.layers if "conv" in layer.name] == ["conv1", "conv2"]
  paths = export_lib.export(loaded.model, loaded.cfg, loaded.data, str(tmp_path / "export"), tflite=False)
  served = tf.saved_model.load(paths["encoder"]).signatures["serving_default"]
  clusters = served(images=tf.constant(loaded.data.split("test")[0]))["cluster"].numpy()
  np.testing.assert_array_equal(clusters, saved["argmax"])


def test_steps_to_next_stop_is_the_nearest_loop_end_checkpoint_evaluation_or_end():
  from clustergan_tf.config import Config
  cfg = Config(train_steps=100, steps_per_loop=50, checkpoint_every=30, eval_every=0)
  assert [train_lib.steps_to_next_stop(s, cfg) for s in (0, 29, 30, 50, 95)] == [30, 1, 20, 10, 5]
  assert train_lib.steps_to_next_stop(0, dataclasses.replace(cfg, eval_every=7)) == 7


def test_clock_excludes_paused_time_and_adds_earlier_runs(run, monkeypatch):
  now = [100.0]
  monkeypatch.setattr(train_lib.time, "time", lambda: now[0])
  clock = run.clock
  clock.seconds.assign(60.0)  # trained by an earlier run
  clock.start()
  now[0] = 110.0
  with clock.paused():
    now[0] = 150.0  # 40 s of evaluation
  now[0] = 155.0
  clock()
  assert clock.this_run() == 15.0 and float(clock.seconds.numpy()) == 75.0 and clock.minutes == 1.25


def test_time_budget_stops_only_when_spent(run):
  budget = train_lib.TimeBudget(run)
  assert not budget.spent(0)  # no budget set
  run.cfg.time_budget_minutes = 1.0
  run.clock.seconds.assign(59.0)
  assert not budget.spent(3)
  run.clock.seconds.assign(60.0)
  assert budget.spent(3)
  assert "time budget of 1 minutes spent at step 3 of 10" in run.out.getvalue()


def test_fraction_done_is_the_larger_of_steps_and_budget_minutes():
  from clustergan_tf.config import Config
  assert train_lib.fraction_done(25, Config(train_steps=100), seconds=1e6) == 0.25  # no budget: steps only
  cfg = Config(train_steps=100, time_budget_minutes=2)
  assert train_lib.fraction_done(25, cfg, seconds=90) == 0.75
  assert train_lib.fraction_done(80, cfg, seconds=60) == 0.8
  assert train_lib.fraction_done(5, cfg, seconds=600) == 1.0


def test_chief_seconds_are_counted_once_over_mirrored_replicas(tiny_config, tiny_data):
  cfg = dataclasses.replace(tiny_config, logdir="none", jit_compile=False, strategy="mirrored", cpu_replicas=2)
  run = train_lib.prepare(cfg, tiny_data, io.StringIO())
  run.clock.seconds.assign(42.5)
  assert run.strategy.num_replicas_in_sync == 2 and train_lib.chief_seconds(run) == 42.5


def test_learning_rates_decay_by_the_training_done(run):
  g, d = run.model.g_optimizer, run.model.d_optimizer
  rates = train_lib.LearningRates(run)
  g.learning_rate, d.learning_rate = 0.5, 0.5  # as restored from a checkpoint of another run
  rates(8)  # lr_decay_from = 1 (the default): this run's flags win
  assert float(d.learning_rate.numpy()) == pytest.approx(run.cfg.critic_learning_rate)
  assert float(g.learning_rate.numpy()) == pytest.approx(run.cfg.learning_rate)
  run.cfg.lr_decay_from = 0.5
  rates(8)  # 0.8 of 10 steps done: (1 - 0.8) / 0.5 = 0.4
  assert float(g.learning_rate.numpy()) == pytest.approx(0.4 * run.cfg.learning_rate)
  assert float(d.learning_rate.numpy()) == pytest.approx(0.4 * run.cfg.critic_learning_rate)
  run.cfg.time_budget_minutes = 1.0
  run.clock.seconds.assign(54.0)  # 0.9 of the budget beats 0.1 of the steps
  rates(1)
  assert float(g.learning_rate.numpy()) == pytest.approx(0.2 * run.cfg.learning_rate)


def test_rates_set_between_blocks_reach_the_compiled_loop(run):
  block = train_lib.make_block(run)
  block(2)
  run.model.g_optimizer.learning_rate = 0.0
  run.model.d_optimizer.learning_rate = 0.0
  before = [w.numpy().copy() for w in run.model.generator.trainable_weights]
  block(2)  # the same traced loop, now at rate 0: G's weights stay
  assert all(np.array_equal(b, w.numpy()) for b, w in zip(before, run.model.generator.trainable_weights))
  run.model.g_optimizer.learning_rate = run.cfg.learning_rate
  block(2)
  assert not all(np.array_equal(b, w.numpy()) for b, w in zip(before, run.model.generator.trainable_weights))


def test_nan_guard_names_the_loss_and_the_last_checkpoint(run):
  checkpointing = train_lib.Checkpointing(run)
  guard = train_lib.NanGuard(run, checkpointing)
  guard(2, {"d_loss": 1.0, "g_loss": 0.5})
  assert guard.checked == 2
  with pytest.raises(train_lib.TrainingDiverged, match="g_loss became nan by step 4; last good checkpoint: none"):
    guard(4, {"d_loss": 1.0, "g_loss": math.nan})
  assert guard.checked == 2


def test_collapse_guard_stops_when_zc_loss_climbs_back_toward_log_k(run):
  guard = train_lib.CollapseGuard(run, train_lib.Checkpointing(run))
  log_k = math.log(run.cfg.num_clusters)
  for step, loss in ((2, log_k), (4, 0.6 * log_k), (6, 0.05 * log_k), (8, 0.45 * log_k)):
    guard(step, {"zc_loss": loss})  # the early fall from log K, and a bump below half of it, pass
  with pytest.raises(train_lib.TrainingDiverged, match=r"G stopped using z_c by step 10 .*last good checkpoint: none"):
    guard(10, {"zc_loss": 1.02 * log_k})
  run.cfg.collapse_guard = False
  quiet_guard = train_lib.CollapseGuard(run, train_lib.Checkpointing(run))
  quiet_guard(2, {"zc_loss": 0.01})
  quiet_guard(4, {"zc_loss": log_k})  # --nocollapse_guard: trains on


def test_collapse_guard_remembers_the_lowest_zc_loss_across_a_resume(run):
  """A checkpoint saved during a collapse (an interrupt saves the weights as they are) is caught on resume."""
  log_k = math.log(run.cfg.num_clusters)
  checkpointing = train_lib.Checkpointing(run)
  guard = train_lib.CollapseGuard(run, checkpointing)
  guard(2, {"zc_loss": 0.05 * log_k})
  checkpointing(4, {})  # saved with the lowest zc_loss so far
  resumed = train_lib.prepare(run.cfg, run.data, io.StringIO())
  assert float(resumed.loop_state["zc_loss_lowest"].numpy()) == pytest.approx(0.05 * log_k)
  with pytest.raises(train_lib.TrainingDiverged, match=r"by step 6 .*it was 0\.0693"):
    train_lib.CollapseGuard(resumed, train_lib.Checkpointing(resumed))(6, {"zc_loss": 0.9 * log_k})


def test_checkpointing_saves_when_due_and_once_at_the_end(run):
  checkpointing = train_lib.Checkpointing(run)
  for step in (2, 4, 6):
    checkpointing(step, {})
  assert checkpointing.manager.checkpoints == [os.path.join(run.ckpt_dir, "ckpt-4")]
  checkpointing.final(6)
  checkpointing.final(6)
  assert [os.path.basename(p) for p in checkpointing.manager.checkpoints] == ["ckpt-4", "ckpt-6"]


def test_interrupt_saves_finite_weights_and_keeps_the_old_checkpoint_otherwise(run):
  checkpointing = train_lib.Checkpointing(run)
  run.clock.start()
  with pytest.raises(train_lib.TrainingInterrupted, match="checkpoint saved in"):
    checkpointing.interrupted(checked=0)
  assert os.path.basename(checkpointing.manager.latest_checkpoint) == "ckpt-0"
  run.model.generator.weights[0].assign(np.full(run.model.generator.weights[0].shape, np.nan, np.float32))
  run.model.g_optimizer.iterations.assign(3)  # a block ran after the last check and left NaN weights
  with pytest.raises(train_lib.TrainingInterrupted, match="last checkpoint: .*ckpt-0; rerun to resume"):
    checkpointing.interrupted(checked=0)
  assert os.path.basename(checkpointing.manager.latest_checkpoint) == "ckpt-0"


def test_progress_prints_the_first_block_then_every_ten_seconds_and_the_last_step(run, monkeypatch):
  now = [0.0]
  monkeypatch.setattr(train_lib.time, "time", lambda: now[0])
  run.clock.start()
  progress = train_lib.Progress(run)
  for t, step in ((1.0, 2), (5.0, 4), (12.0, 6), (13.0, 10)):
    now[0] = t
    progress(step, {"g_loss": 0.5})
  printed = [line.split(" |")[0] for line in run.out.getvalue().splitlines()]
  assert printed == ["step 2/10  20%", "step 6/10  60%", "step 10/10 100%"]
  assert all(" rows/s | " in line for line in run.out.getvalue().splitlines())  # vectors: rows, not images
  run.model.row_image = (2, 3, 1)  # rows moved as images (digits' 8x8) count as images
  now[0] = 30.0
  train_lib.Progress(run)(10, {"g_loss": 0.5})
  assert " img/s | " in run.out.getvalue().splitlines()[-1]


def test_progress_line_shows_rate_images_and_eta():
  line = train_lib.progress_line(1200, 5000, 20.0, 64, {"d_loss": 0.25})
  assert line == "step 1200/5000  24% | 20.0 steps/s 1280 img/s | ETA 3m10s | d_loss 0.25"
  assert "| 20.0 steps/s 1280 rows/s |" in train_lib.progress_line(1200, 5000, 20.0, 64, {}, unit="rows")
  assert "ETA 0m30s" in train_lib.progress_line(1200, 5000, 20.0, 64, {}, seconds_left=30.0)
  assert "| ETA ? (first block, compiling) |" in train_lib.progress_line(50, 5000, 2.0, 64, {}, eta_known=False)
  assert "| ETA 0m00s |" in train_lib.progress_line(50, 50, 2.0, 64, {}, eta_known=False)  # one block did it all
  assert "| ETA 0m00s |" in train_lib.progress_line(50, 5000, 2.0, 64, {}, seconds_left=0.0)  # the budget is spent


def test_speed_leaves_out_the_first_block(run, monkeypatch):
  """The first block traces and compiles: 2 steps in 10 s, then 8 in 2 s; the rate after it is 4 steps/s."""
  now = [0.0]
  monkeypatch.setattr(train_lib.time, "time", lambda: now[0])
  run.clock.start()
  now[0] = 10.0
  run.clock(2)
  assert run.clock.rate(2, 0) == (0.2, False)
  now[0] = 12.0
  run.clock(10)
  assert run.clock.rate(10, 0) == (4.0, True)


def test_evaluator_runs_when_due_and_appends_the_curve(run):
  evaluator = train_lib.Evaluator(run, train_lib.TensorBoard(run))
  run.cfg.eval_every = 4
  run.clock.start()
  for step in (2, 4, 10):  # 10 is the last step: the final evaluation covers it
    evaluator(step, {})
  with open(os.path.join(run.cfg.model_dir, "curve.jsonl")) as f:
    assert [json.loads(line)["step"] for line in f] == [4]
  assert "synthetic test (n=64) at step 4:" in run.out.getvalue()


def test_evaluator_leaves_the_step_that_spends_the_budget_to_the_final_evaluation(run):
  evaluator = train_lib.Evaluator(run, train_lib.TensorBoard(run))
  run.cfg.eval_every, run.cfg.time_budget_minutes = 4, 1.0
  run.clock.start()
  evaluator(4, {})
  run.clock.seconds.assign(60.0)  # the budget is spent at step 8, an evaluation step
  evaluator(8, {})
  with open(os.path.join(run.cfg.model_dir, "curve.jsonl")) as f:
    assert [json.loads(line)["step"] for line in f] == [4]
  assert train_lib.budget_spent(run.cfg, 60.0) and not train_lib.budget_spent(run.cfg, 59.9)
  assert not train_lib.budget_spent(dataclasses.replace(run.cfg, time_budget_minutes=0), 1e9)


def test_learns_to_cluster_a_gaussian_mixture(tmp_path):
  """The fast recipe (mnist_cpu.flags' settings on MLPs) finds 5 Gaussians in R^20 in 800 steps (a few
  seconds): measured 0.974 argmax ACC; at 200 steps it is 0.72, so this fails when learning breaks."""
  from clustergan_tf import data
  from clustergan_tf.config import Config
  mixture = data.make_synthetic(num_train=2000, num_test=500, num_clusters=5, dim=20)
  cfg = Config(dataset="synthetic", num_clusters=5, latent_dim=5, hidden_units=(64, 64), batch_size=64,
               loss="gan", n_critic=1, learning_rate=1e-3, d_learning_rate=2e-4, adam_beta2=0.999, beta_n=1.0,
               beta_c=1.0, mlp_batchnorm=True, critic_norm="batch", train_steps=800, steps_per_loop=100,
               deterministic=True, logdir="none", model_dir=str(tmp_path / "learn"))
  report = train_lib.train(cfg, data=mixture, out=io.StringIO())
  assert report["results"]["argmax"]["acc"] >= 0.95, report["results"]


def test_learned_shares_follow_an_imbalanced_mixture(tmp_path):
  """--cluster_shares=learned: the prior's shares move from uniform to the data's 60/30/10 split, are
  checkpointed, and reported as prior_shares."""
  from clustergan_tf import data
  from clustergan_tf.config import Config
  rng = np.random.default_rng(0)
  means = rng.uniform(-1, 1, (3, 10))
  y = rng.choice(3, size=3000, p=[0.6, 0.3, 0.1])
  x = (means[y] + 0.1 * rng.normal(size=(3000, 10))).astype(np.float32)
  mixture = data.Data("mix", {"train": (x[:2500], y[:2500]), "test": (x[2500:], y[2500:])}, 3, False)
  cfg = Config(dataset="synthetic", num_clusters=3, latent_dim=3, hidden_units=(32, 32), batch_size=64, loss="gan",
               n_critic=1, learning_rate=1e-3, d_learning_rate=2e-4, adam_beta2=0.999, beta_n=1.0, beta_c=1.0,
               mlp_batchnorm=True, critic_norm="batch", train_steps=600, steps_per_loop=100, deterministic=True,
               cluster_shares="learned", shares_every=100, logdir="none", model_dir=str(tmp_path / "m"))
  report = train_lib.train(cfg, data=mixture, out=io.StringIO())
  np.testing.assert_allclose(sorted(report["prior_shares"]), [0.1, 0.3, 0.6], atol=0.05)
  restored = checkpoint.load_model(cfg, mixture, cfg.model_dir)
  np.testing.assert_allclose(restored.shares.numpy(), report["prior_shares"], atol=1e-6)


@pytest.mark.parametrize("warmup, noted", [(4, True), (3, False)])
def test_share_estimator_notes_a_warmup_that_outlasts_the_run(tiny_config, tiny_data, warmup, noted):
  """A warm-up of at least --train_steps (4) would leave the learned shares uniform: one note line says so."""
  import types
  cfg = dataclasses.replace(tiny_config, cluster_shares="learned", shares_warmup=warmup)
  out = io.StringIO()
  train_lib.ShareEstimator(types.SimpleNamespace(cfg=cfg, data=tiny_data, out=out))
  expected = "note: --shares_warmup=4 >= --train_steps=4: the shares stay uniform in this run; lower --shares_warmup"
  assert (expected in out.getvalue()) == noted, out.getvalue()


@pytest.mark.parametrize("flags, precision, jit_compile", [({"avx2"}, "float32", True),
                                                      ({"amx_bf16"}, "mixed_bfloat16", False)])
def test_prepare_resolves_auto_precision_and_saves_what_runs(tiny_config, monkeypatch, flags, precision, jit_compile):
  """The Run, its model and config.json hold the settings that train, not 'auto'."""
  monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
  monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset(flags))
  monkeypatch.setattr(hardware, "gpu_capabilities", lambda: [])
  x, y = np.zeros([16, 28, 28, 1], np.float32), np.arange(16) % 4
  images = data_lib.Data("images", {"train": (x, y), "test": (x, y)}, 4, bounded=True)
  cfg = dataclasses.replace(tiny_config, dataset="mnist", precision="auto", logdir="none")
  out = io.StringIO()
  run = train_lib.prepare(cfg, images, out)
  assert (run.cfg.precision, run.cfg.jit_compile) == (precision, jit_compile)
  assert f"--precision=auto: {precision}" in out.getvalue()
  assert run.model.generator.dtype_policy.name == precision
  with open(os.path.join(tiny_config.model_dir, "config.json")) as f:
    saved = json.load(f)
  assert (saved["precision"], saved["jit_compile"]) == (precision, jit_compile)


def test_settings_the_data_cannot_hold_are_refused_before_training(tiny_config, tiny_data):
  rows = len(tiny_data.split("train")[0])
  big_batch = dataclasses.replace(tiny_config, batch_size=rows, n_critic=2)
  with pytest.raises(UsageError, match=rf"needs at least that many training rows; .* has {rows}: try --batch_size="):
    train_lib._check(big_batch, tiny_data, tf.distribute.get_strategy())
  x_train, y_train = tiny_data.split("train")
  few = dataclasses.replace(tiny_data, splits={"train": (x_train[:1], y_train[:1]), "test": tiny_data.split("test")})
  with pytest.raises(UsageError, match=r"has 1: try --n_critic=1 --batch_size=1, or more rows$"):
    train_lib._check(tiny_config, few, tf.distribute.get_strategy())  # 1 row, 2 critic steps: no batch fits
  evaluated = len(tiny_data.split(tiny_config.eval_split)[0])
  many = dataclasses.replace(tiny_config, num_clusters=evaluated + 1)
  with pytest.raises(UsageError, match=rf"--num_clusters={evaluated + 1} is more clusters than the {evaluated} rows"):
    train_lib._check(many, tiny_data, tf.distribute.get_strategy())


def test_a_signal_during_a_periodic_checkpoint_lets_it_finish_then_interrupts(run, monkeypatch):
  """SIGTERM or Ctrl-C while a checkpoint is written: the save ends, then the KeyboardInterrupt that makes the loop
  checkpoint and exit (raised inside TF's saver, it had broken the saver and lost the checkpoint)."""
  import signal
  ckpting = train_lib.Checkpointing(run)
  real = ckpting.manager.save

  def save_hit_by_a_signal(**kwargs):
    os.kill(os.getpid(), signal.SIGINT)
    return real(**kwargs)

  monkeypatch.setattr(ckpting.manager, "save", save_hit_by_a_signal)
  previous = signal.signal(signal.SIGINT, signal.default_int_handler)
  try:
    with pytest.raises(KeyboardInterrupt):
      ckpting(run.cfg.checkpoint_every, {})
  finally:
    signal.signal(signal.SIGINT, previous)
  assert ckpting.manager.latest_checkpoint.endswith(f"ckpt-{run.cfg.checkpoint_every}")
