"""TensorBoard output of a short run: event files, images, HParams, Projector, PNGs, and a live tensorboard."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from clustergan_tf import data as data_lib
from clustergan_tf import checkpoint, summaries, train_lib


def _squares():
  """120 16-d vectors in [0, 1] (drawable as 4x4 images) of 3 classes; the first 60 are the test split."""
  rng = np.random.default_rng(0)
  y = np.arange(120) % 3
  x = np.clip(np.eye(3)[y].repeat(6, axis=1)[:, :16] * 0.8 + rng.random((120, 16)) * 0.2, 0, 1).astype(np.float32)
  return data_lib.Data("squares", {"train": (x, y), "test": (x[:60], y[:60])}, 3, True)


# 4x4 images drawn 7x larger (28x28) with a pad of 1: 29 px per tile; 10 columns. The sample grid and the
# interpolation have 3 rows; real vs reconstruction 4 (2 x 10 test rows, each over its reconstruction).
IMAGE_SHAPES = {"samples_by_cluster": (3 * 29, 10 * 29, 1), "real_vs_reconstruction": (4 * 29, 10 * 29, 1),
                "interpolation_0_to_1": (3 * 29, 10 * 29, 1)}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  """4 steps on `_squares`, evaluated at steps 2 and 4."""
  from clustergan_tf.config import Config
  data = _squares()
  root = tmp_path_factory.mktemp("tb")
  cfg = Config(dataset="vectors", num_clusters=3, latent_dim=2, hidden_units=(16,), batch_size=8, n_critic=1,
               train_steps=4, steps_per_loop=1, eval_every=2, checkpoint_every=2, model_dir=str(root / "run"))
  train_lib.train(cfg, data=data)
  return root / "run"


def _value(event):
  return float(tf.make_ndarray(event.tensor_proto))


def _accumulator(path):
  acc = event_accumulator.EventAccumulator(str(path), size_guidance={event_accumulator.TENSORS: 0,
                                                                     event_accumulator.IMAGES: 0})
  acc.Reload()
  return acc


def test_train_scalars(run_dir):
  acc = _accumulator(run_dir / "logs" / "train")
  tags = set(acc.Tags()["tensors"])
  for tag in ("loss/d_loss", "loss/wasserstein", "loss/gradient_penalty", "loss/g_adv_loss", "loss/zn_loss",
              "loss/zc_loss", "learning_rate/g", "learning_rate/d", "speed/steps_per_sec", "speed/images_per_sec"):
    assert tag in tags, tag
    values = [float(tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]
    assert len(values) == 4 and all(np.isfinite(values))
  assert float(tf.make_ndarray(acc.Tensors("learning_rate/g")[0].tensor_proto)) == pytest.approx(1e-4)
  series = {tag: [_value(e) for e in acc.Tensors(tag)] for tag in tags}
  assert [e.step for e in acc.Tensors("loss/d_loss")] == [1, 2, 3, 4]
  assert series["learning_rate/d"] == pytest.approx([1e-4] * 4)
  # one step per interval: d_loss = -wasserstein + 10 gp (WGAN-GP); images/s = steps/s x batch 8 x n_critic 1
  np.testing.assert_allclose(series["loss/d_loss"],
                             -np.array(series["loss/wasserstein"]) + 10 * np.array(series["loss/gradient_penalty"]),
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(series["speed/images_per_sec"], 8 * np.array(series["speed/steps_per_sec"]), rtol=1e-6)


def test_eval_scalars_images_and_hparams(run_dir):
  acc = _accumulator(run_dir / "logs" / "eval")
  tags = set(acc.Tags()["tensors"])
  curve = [json.loads(line) for line in (run_dir / "curve.jsonl").read_text().splitlines()]
  assert [c["step"] for c in curve] == [2, 4]
  for method in ("argmax", "kmeans"):
    for metric in ("acc", "purity", "nmi", "ari"):
      events = acc.Tensors(f"{method}/{metric}")
      assert [e.step for e in events] == [2, 4]
      # the scores of curve.jsonl, evaluation by evaluation
      np.testing.assert_allclose([_value(e) for e in events], [c[f"{method}_{metric}"] for c in curve], rtol=1e-6)
  shares = [float(tf.make_ndarray(acc.Tensors(f"cluster_share_argmax/{k}")[-1].tensor_proto)) for k in range(3)]
  assert sum(shares) == pytest.approx(1.0)
  final = np.load(run_dir / "assignments.npz")["argmax"]  # the final (step 4) clusters of the 60 test rows
  np.testing.assert_allclose(shares, np.bincount(final, minlength=3) / 60, rtol=1e-6)
  # the final cycle errors, recomputed from the last checkpoint (the model that was evaluated at step 4)
  from clustergan_tf.config import Config
  cfg = Config.from_model_dir(str(run_dir))
  model = checkpoint.load_model(cfg, _squares(), str(run_dir))
  expected = summaries.cycle_errors(model, _squares().split("test")[0], cfg)
  got = [_value(acc.Tensors(tag)[-1]) for tag in ("cycle/reconstruction_error", "cycle/latent_error",
                                                   "cycle/zc_recovery")]
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  for tag in ("samples_by_cluster", "real_vs_reconstruction", "interpolation_0_to_1"):
    assert tag in tags
    image = tf.io.decode_png(tf.make_ndarray(acc.Tensors(tag)[-1].tensor_proto)[2])
    assert tuple(image.shape) == IMAGE_SHAPES[tag], tag
  assert "_hparams_/session_start_info" in acc.PluginTagToContent("hparams")


def test_projector_and_pngs(run_dir):
  """The Projector's files form a run of their own (an event file beside them), and LOGDIR itself holds no
  checkpoint: TensorBoard reads a projector config only in a run's directory, and shows the checkpoint of a run's
  parent directory, unlabelled, for every run without one (the train and eval runs)."""
  assert tf.train.latest_checkpoint(str(run_dir / "logs")) is None
  logs = run_dir / "logs" / "projector"
  assert [f for f in os.listdir(logs) if "tfevents" in f]
  config = (logs / "projector_config.pbtxt").read_text()
  assert 'tensor_name: "embedding/.ATTRIBUTES/VARIABLE_VALUE"' in config and "sprite.png" in config
  rows = (logs / "metadata.tsv").read_text().strip().splitlines()
  assert rows[0] == "label\tcluster" and len(rows) == 61
  assert tf.train.load_checkpoint(str(logs / "embedding.ckpt-1")).get_tensor(
      "embedding/.ATTRIBUTES/VARIABLE_VALUE").shape == (60, 5)
  tensorboard_images = _accumulator(run_dir / "logs" / "eval")
  for name in ("samples_by_cluster", "real_vs_reconstruction", "interpolation_0_to_1"):
    png = (run_dir / "images" / f"{name}.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    image = tf.io.decode_png(png).numpy().astype(int)
    assert image.shape == IMAGE_SHAPES[name]
    # the final evaluation's picture, as TensorBoard holds it (its float -> uint8 rounds differently: +-1)
    board = tf.io.decode_png(tf.make_ndarray(tensorboard_images.Tensors(name)[-1].tensor_proto)[2]).numpy()
    assert np.abs(image - board.astype(int)).max() <= 1
    assert image.min() < 128  # not blank: the pad is white, the pictures are not


def test_projector_metadata_keeps_text_labels_on_one_line_and_pngs_skip_an_empty_folder(tmp_path):
  zn = np.zeros((3, 2), np.float32)
  summaries.write_projector(str(tmp_path), zn, None, np.array(["sea\tbream", "cod", "eel\nfish"]),
                            np.array([0, 1, 0]), np.zeros((3, 5), np.float32), (5,))
  assert (tmp_path / "projector" / "metadata.tsv").read_text() == "label\tcluster\nsea bream\t0\ncod\t1\neel fish\t0\n"
  assert summaries.save_pngs(str(tmp_path / "run"), {}) == [] and not (tmp_path / "run").exists()


def test_projector_sprite_of_wide_images_says_width_then_height_and_fits_the_projectors_limit(tmp_path):
  """TensorBoard's Projector reads single_image_dim as [width, height] and refuses sprites over 8192 pixels."""
  from google.protobuf import text_format
  from tensorboard.plugins import projector
  x = np.zeros((4, 8, 12, 3), np.float32)
  summaries.write_projector(str(tmp_path / "a"), np.zeros((4, 2), np.float32), None, np.zeros(4, np.int64),
                            np.zeros(4, np.int64), x, x.shape[1:])
  config = text_format.Parse((tmp_path / "a" / "projector" / "projector_config.pbtxt").read_text(),
                             projector.ProjectorConfig())
  assert list(config.embeddings[0].sprite.single_image_dim) == [36, 24]  # drawn 3x (as_images: small images)
  big = np.zeros((9, 4000, 2000, 1), np.float32)  # 3 tiles a side of 4000 rows: 12000 > 8192
  summaries.write_projector(str(tmp_path / "b"), np.zeros((9, 2), np.float32), None, np.zeros(9, np.int64),
                            np.zeros(9, np.int64), big, big.shape[1:])
  sprite = tf.io.decode_png(tf.io.read_file(str(tmp_path / "b" / "projector" / "sprite.png"))).numpy()
  assert max(sprite.shape[:2]) <= summaries.SPRITE_MAX_SIDE and sprite.shape[:2] == (3 * 2730, 3 * 1365)


@pytest.mark.slow
def test_live_tensorboard_serves_scalars_images_and_the_projector(run_dir):
  """TensorBoard over the model directory, as over a folder of runs: each of train, eval and projector is a run,
  and the Projector's one run carries its labels and sprite."""
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  proc = subprocess.Popen([sys.executable, "-m", "tensorboard.main", f"--logdir={run_dir}",
                           "--host=127.0.0.1", f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  base = f"http://127.0.0.1:{port}/data/plugin"
  try:
    deadline, tags = time.time() + 90, {}
    while time.time() < deadline:
      try:
        tags = json.load(urllib.request.urlopen(f"{base}/scalars/tags", timeout=5))
        if "logs/eval" in tags and "logs/train" in tags:
          break
      except OSError:
        pass
      time.sleep(1)
    assert "argmax/acc" in tags.get("logs/eval", {}) and "loss/d_loss" in tags.get("logs/train", {}), tags
    images = json.load(urllib.request.urlopen(f"{base}/images/images?run=logs/eval&tag=samples_by_cluster",
                                              timeout=10))
    blob = urllib.request.urlopen(f"{base}/images/{images[-1]['query'] and 'individualImage?' + images[-1]['query']}",
                                  timeout=10).read()
    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.load(urllib.request.urlopen(f"{base}/projector/runs", timeout=30)) == ["logs/projector"]
    info = json.load(urllib.request.urlopen(f"{base}/projector/info?run=logs/projector", timeout=30))
    (embedding,) = info["embeddings"]
    assert embedding["metadataPath"].endswith("metadata.tsv")
    assert embedding["sprite"]["imagePath"].endswith("sprite.png")
  finally:
    proc.kill()
    proc.wait()


def test_cycle_errors_on_a_stub_model_with_known_answers():
  """G(z_n, z_c) = z_n and E(x) = (x / 2, logits favouring cluster 0): ||x - G(E(x))|| = ||x|| / 2,
  ||z_n - E_n(G(z))|| = ||z_n|| / 2, and z_c is recovered exactly for the prior draws of cluster 0."""
  from types import SimpleNamespace

  from clustergan_tf import prior, seeds
  logits = tf.constant([[5.0, 0.0, 0.0]])
  encoder = lambda x, training: {"zn": x / 2, "zc_logits": tf.tile(logits, [len(x), 1])}
  generator = lambda z, training: z[0]
  model = SimpleNamespace(encoder=encoder, generator=generator)
  cfg = SimpleNamespace(latent_dim=2, num_clusters=3, sigma=1.0)
  x = tf.constant([[3.0, 4.0], [0.0, 0.0]])
  recon, latent, zc = summaries.cycle_errors(model, x, cfg, num_samples=400, seed=5)
  assert recon == pytest.approx(1.25)  # (5 / 2 + 0) / 2
  zn, _, k = prior.sample(400, 2, 3, 1.0, seeds.key(5, seeds.CYCLE_ERRORS))
  assert latent == pytest.approx(float(np.mean(np.linalg.norm(zn.numpy(), axis=1))) / 2, rel=1e-5)
  assert zc == pytest.approx(float(np.mean(k.numpy() == 0)))
  assert 0.2 < zc < 0.5  # about a third of the draws are of cluster 0
