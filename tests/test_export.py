import dataclasses
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from clustergan_tf import checkpoint, export_lib, outliers, serving, train_lib
from clustergan_tf.data import Data
from clustergan_tf.errors import UsageError


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  """A tiny 28x28 model (2 train steps), exported twice (versions 1 and 2) with TFLite files."""
  from clustergan_tf.config import Config
  root = tmp_path_factory.mktemp("export")
  rng = np.random.default_rng(0)
  x = rng.random((64, 28, 28, 1)).astype(np.float32)
  y = np.arange(64) % 3
  data = Data("tiny_images", {"train": (x, y), "test": (x[:40], y[:40])}, 3, True)
  cfg = Config(dataset="mnist", num_clusters=3, latent_dim=4, batch_size=8, n_critic=1, train_steps=2,
               steps_per_loop=1, model_dir=str(root / "model"))
  train_lib.train(cfg, data=data)
  model = checkpoint.load_model(cfg, data, cfg.model_dir)
  centroids = rng.random((3, 7)).astype(np.float32)
  reference = outliers.fit(model.generator, model.encoder, x)
  paths = export_lib.export(model, cfg, data, str(root / "export"), kmeans_centroids=centroids,
                            representative_size=16, outlier_reference=reference)
  export_lib.export(model, cfg, data, str(root / "export"), kmeans_centroids=centroids, tflite=False,
                    outlier_reference=reference)
  return root / "export", paths, model, data


def test_layout_and_versions(exported):
  export_dir, paths, _, _ = exported
  assert sorted(os.listdir(export_dir / "encoder")) == ["1", "2"]
  assert sorted(os.listdir(export_dir / "generator")) == ["1", "2"]
  assert (export_dir / "encoder" / "1" / "saved_model.pb").exists()
  assert not [d for d in os.listdir(export_dir / "encoder") if d.startswith(".tmp")]
  assert 'name: "encoder"' in (export_dir / "models.config").read_text()
  assert sorted(os.listdir(export_dir / "tflite")) == [
      "encoder_dynamic.tflite", "encoder_float16.tflite", "encoder_float32.tflite", "encoder_int8.tflite",
      "encoder_outlier_score_float16.tflite", "encoder_outlier_score_float32.tflite", "generator_float32.tflite"]


def test_existing_version_is_refused(exported):
  export_dir, _, model, data = exported
  from clustergan_tf.config import Config
  with pytest.raises(UsageError, match="exists already"):
    export_lib.export(model, Config(num_clusters=3, latent_dim=4), data, str(export_dir), version=1, tflite=False)


def test_check_accepts_the_export(exported):
  export_dir = exported[0]
  lines = serving.check_export(str(export_dir))
  image = "images float32[-1, 28, 28, 1]"
  assert lines[:5] == [  # the latest version (2) of each model, one line per signature
      f"encoder/2 serving_default: ({image}) -> "
      "(cluster int64[-1], cluster_probs float32[-1, 3], confidence float32[-1], outlier_score float32[-1], "
      "zn float32[-1, 4])",
      f"encoder/2 kmeans: ({image}) -> (cluster int64[-1])",
      f"generator/2 serving_default: (zc float32[-1, 3], zn float32[-1, 4]) -> ({image})",
      f"generator/2 sample: (cluster int32[-1], seed int32[]) -> ({image})",
      f"generator/2 sample_prior: (count int32[], seed int32[]) -> (cluster int32[-1], {image})"]
  tflite = sorted(os.listdir(export_dir / "tflite"))
  assert len(lines) == 5 + len(tflite) == 12
  for line, name in zip(lines[5:], tflite):  # then one line per TFLite file, with its size on disk
    size = os.path.getsize(export_dir / "tflite" / name)
    assert re.fullmatch(rf"tflite/{re.escape(name)}: [1-9]\d* builtin op kinds, {size} bytes", line), line


def test_check_rejects_a_missing_version(tmp_path):
  (tmp_path / "encoder").mkdir()
  with pytest.raises(UsageError, match="no integer version directory"):
    serving.check_export(str(tmp_path))


@pytest.mark.parametrize("damaged, message", [("encoder/2/saved_model.pb", r"saved_model\.pb cannot be read"),
                                              ("tflite/encoder_int8.tflite", "cannot be read as a TFLite model")])
def test_check_names_a_damaged_file(exported, tmp_path, damaged, message):
  import shutil
  copy = tmp_path / "export"
  shutil.copytree(exported[0], copy)
  (copy / damaged).write_bytes(b"not a model")
  with pytest.raises(UsageError, match=f"{re.escape(str(copy / damaged.split('/saved')[0]))}.*{message}.*export"):
    serving.check_export(str(copy))


def test_an_export_that_fails_while_converting_changes_nothing(exported, tmp_path, monkeypatch):
  """The TFLite conversions come after both SavedModels are written: a failure there (or a kill) publishes nothing,
  and leaves no staging behind."""
  import shutil
  copy = tmp_path / "export"
  shutil.copytree(exported[0], copy)
  before = {p: os.path.getmtime(copy / p) for p in ("tflite/encoder_float32.tflite", "models.config")}

  def crash(*args, **kwargs):
    raise RuntimeError("the converter crashed")

  monkeypatch.setattr(export_lib, "convert_encoder_tflite", crash)
  _, _, model, data = exported
  from clustergan_tf.config import Config
  with pytest.raises(RuntimeError, match="crashed"):
    export_lib.export(model, Config(dataset="mnist", num_clusters=3, latent_dim=4), data, str(copy),
                      representative_size=16)
  for name in ("encoder", "generator"):
    assert sorted(os.listdir(copy / name)) == ["1", "2"]
  assert sorted(os.listdir(copy)) == ["encoder", "generator", "models.config", "tflite"]
  assert {p: os.path.getmtime(copy / p) for p in before} == before
  serving.check_export(str(copy))


def test_check_refuses_latest_versions_that_differ_and_lists_leftovers(exported, tmp_path):
  import shutil
  copy = tmp_path / "export"
  shutil.copytree(exported[0], copy)
  (copy / "encoder" / ".tmp-3-999999999-x").mkdir()
  lines = serving.check_export(str(copy))
  assert lines[-1].startswith("leftover: encoder/.tmp-3-999999999-x (an export's staging, left by one that was killed")
  shutil.copytree(copy / "encoder" / "2", copy / "encoder" / "3")
  with pytest.raises(UsageError, match=r"the latest versions are encoder/3 and generator/2 \(an export of an older "
                     r"version was interrupted\); export the model again"):
    serving.check_export(str(copy))


def test_parity_of_every_form(exported):
  _, paths, model, data = exported
  x = data.split("test")[0]

  def keras_fn(b):
    return {k: v.numpy() for k, v in export_lib._encode(model.encoder, b).items()}

  cands = {"saved_model": serving.saved_model_encoder(paths["encoder"]),
           "session": serving.session_encoder(paths["encoder"]),
           "tflite_float32": serving.tflite_encoder(paths["encoder_float32"]),
           "tflite_float16": serving.tflite_encoder(paths["encoder_float16"]),
           "tflite_dynamic": serving.tflite_encoder(paths["encoder_dynamic"])}
  report = serving.parity(keras_fn, cands, x, batch_size=16)
  assert report["saved_model"][0] < 1e-6 and report["saved_model"][1] == 1.0
  assert report["session"][0] < 1e-6 and report["session"][1] == 1.0
  assert report["tflite_float32"][0] < 1e-4
  assert report["tflite_float16"][0] < 1e-2
  assert report["tflite_dynamic"][0] < 1e-3  # int8 weights, float activations (measured 1.0e-4 here)
  out = serving.tflite_encoder(paths["encoder_int8"])(x[:5])
  assert out["cluster_probs"].shape == (5, 3) and np.allclose(out["cluster_probs"].sum(1), 1, atol=0.05)


def test_signatures_reject_bad_input(exported):
  _, paths, _, _ = exported
  sig = tf.saved_model.load(paths["encoder"]).signatures["serving_default"]
  with pytest.raises(tf.errors.InvalidArgumentError, match=r"images must have shape \[batch, 28,28,1\]; got "
                     r"\[2,28,28\]"):
    sig(images=tf.zeros([2, 28, 28], tf.float32))  # wrong rank
  with pytest.raises(tf.errors.InvalidArgumentError, match=r"images must have shape \[batch, 28,28,1\]; got \[784\]"):
    sig(images=tf.zeros([784], tf.float32))  # one image, flattened, without a batch
  with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a float tensor but is a int32"):
    sig(images=tf.zeros([2, 28, 28, 1], tf.int32))  # wrong dtype
  with pytest.raises(tf.errors.InvalidArgumentError, match=r"images must have shape \[batch, 28,28,1\]; "
                     r"got \[2,32,32,1\]"):
    sig(images=tf.zeros([2, 32, 32, 1], tf.float32))  # wrong image size
  with pytest.raises(tf.errors.InvalidArgumentError, match=r"images must hold values in \[0, 1\]: scaled as the "
                     "training data"):  # a data set of unknown scaling (data.SCALING names the known ones)
    sig(images=tf.fill([1, 28, 28, 1], 255.0))  # unscaled pixels
  with pytest.raises(tf.errors.InvalidArgumentError, match="images must not hold NaN or Inf"):
    sig(images=tf.fill([1, 28, 28, 1], float("nan")))
  out = sig(images=tf.zeros([2, 28, 28, 1]))
  assert out["cluster"].dtype == tf.int64 and out["cluster_probs"].shape == (2, 3)


def test_generator_signatures(exported):
  _, paths, _, _ = exported
  gen = tf.saved_model.load(paths["generator"])
  a = gen.signatures["sample"](cluster=tf.constant([0, 2]), seed=tf.constant(7))["images"]
  b = gen.signatures["sample"](cluster=tf.constant([0, 2]), seed=tf.constant(7))["images"]
  assert a.shape == (2, 28, 28, 1)
  np.testing.assert_array_equal(a.numpy(), b.numpy())
  with pytest.raises(tf.errors.InvalidArgumentError, match="cluster must be < 3"):
    gen.signatures["sample"](cluster=tf.constant([5]), seed=tf.constant(0))
  img = gen.signatures["serving_default"](zn=tf.zeros([1, 4]), zc=tf.one_hot([1], 3))["images"]
  assert img.shape == (1, 28, 28, 1)
  with pytest.raises(tf.errors.InvalidArgumentError, match=r"zn must have shape \[batch, 4\]; got \[3,5\]"):
    gen.signatures["serving_default"](zn=tf.zeros([3, 5]), zc=tf.one_hot([1, 0, 2], 3))
  with pytest.raises(tf.errors.InvalidArgumentError, match="zn and zc must have the same batch size"):
    gen.signatures["serving_default"](zn=tf.zeros([2, 4]), zc=tf.one_hot([1, 0, 2], 3))
  with pytest.raises(tf.errors.InvalidArgumentError, match="count must be >= 0"):
    gen.signatures["sample_prior"](count=tf.constant(-1), seed=tf.constant(0))
  drawn = gen.signatures["sample_prior"](count=tf.constant(6), seed=tf.constant(3))
  again = gen.signatures["sample_prior"](count=tf.constant(6), seed=tf.constant(3))
  assert drawn["images"].shape == (6, 28, 28, 1) and drawn["cluster"].shape == (6,)
  assert set(drawn["cluster"].numpy()) <= {0, 1, 2}
  np.testing.assert_array_equal(drawn["images"].numpy(), again["images"].numpy())
  # the TFLite generator agrees with the SavedModel on the same latents
  zn, zc = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32) * 0.1, np.eye(3, dtype=np.float32)
  lite = serving.tflite_interpreter(paths["generator_float32"]).get_signature_runner("serving_default")
  np.testing.assert_allclose(lite(zn=zn, zc=zc)["images"],
                             gen.signatures["serving_default"](zn=zn, zc=zc)["images"].numpy(), atol=1e-4)


@pytest.mark.slow
def test_plain_gan_has_no_encoder_to_export(tmp_path):
  """A --nouse_encoder model: export refuses in one line and points to backprop decoding."""
  import subprocess
  import sys
  from clustergan_tf.config import Config
  cfg = Config(dataset="synthetic", num_clusters=3, latent_dim=2, hidden_units=(8,), batch_size=8, n_critic=1,
               train_steps=1, steps_per_loop=1, prior="gaussian", use_encoder=False, decode_steps=1, logdir="none",
               model_dir=str(tmp_path / "gan"))
  train_lib.train(cfg)
  proc = subprocess.run([sys.executable, "-m", "clustergan_tf.export", f"--model_dir={cfg.model_dir}",
                         f"--export_dir={tmp_path / 'export'}"], capture_output=True, text=True)
  assert proc.returncode != 0
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith("error: ") and "--prior=gaussian --nouse_encoder" in last and "clustergan_tf.decode" in last


def test_served_outlier_score_equals_the_evaluation(exported):
  """serving_default's outlier_score is outliers.score with the reference measured on the training rows."""
  export_dir, paths, model, data = exported
  x = data.split("test")[0]
  served = serving.saved_model_encoder(paths["encoder"])(x)["outlier_score"]
  reference = outliers.fit(model.generator, model.encoder, data.split("train")[0])
  np.testing.assert_allclose(served, outliers.score(outliers.parts(model.generator, model.encoder, x), reference),
                             rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind,atol", [("float32", 1e-3), ("float16", 0.15)])
def test_tflite_outlier_score_equals_the_saved_model(exported, kind, atol):
  """encoder_outlier_score_{kind}.tflite serves the SavedModel's outputs, outlier_score included (float16
  weights move the tiny test model's scores by about 0.08, in the same order)."""
  from scipy.stats import spearmanr
  _, paths, _, data = exported
  x = data.split("test")[0]
  served = serving.saved_model_encoder(paths["encoder"])(x)
  lite = serving.tflite_encoder(paths[f"encoder_outlier_score_{kind}"])(x)
  assert sorted(lite) == sorted(served)
  np.testing.assert_allclose(lite["outlier_score"], served["outlier_score"], atol=atol)
  assert spearmanr(lite["outlier_score"], served["outlier_score"])[0] > 0.99
  np.testing.assert_array_equal(lite["cluster"], served["cluster"])


def test_standardized_vectors_are_served_raw():
  """--standardize: the exported encoder takes features as the user has them and standardises them itself."""
  import tensorflow as tf
  mean, std = np.array([1.0, 2.0], np.float32), np.array([2.0, 4.0], np.float32)
  encoder = lambda x, training=False: {"zn": x, "zc_logits": x}
  serve = export_lib.encoder_functions(encoder, (2,), False, standardization=(mean, std))["serving_default"]
  raw = np.array([[1.0, 2.0], [3.0, 10.0]], np.float32)
  np.testing.assert_allclose(serve(tf.constant(raw))["zn"].numpy(), [[0.0, 0.0], [1.0, 2.0]])
  data = Data("vectors", {"train": ((raw - mean) / std, None)}, None, False, standardization=(mean, std))
  np.testing.assert_allclose(export_lib.raw_inputs((raw - mean) / std, data), raw)
  assert export_lib.tflite_encoder_kinds(data) == ("float32", "float16")  # int8 cannot hold raw features' scales
  assert export_lib.tflite_encoder_kinds(dataclasses.replace(data, standardization=None)) == export_lib.TFLITE_ENCODERS


def test_sample_prior_draws_clusters_in_the_prior_shares():
  import tensorflow as tf
  generator = lambda z, training=False: tf.concat([z[0], z[1]], axis=1)
  fns = export_lib.generator_functions(generator, 2, 3, 0.1, shares=np.array([0.0, 0.25, 0.75], np.float32))
  out = fns["sample_prior"](tf.constant(4000), tf.constant(3))
  counts = np.bincount(out["cluster"].numpy(), minlength=3) / 4000
  np.testing.assert_allclose(counts, [0.0, 0.25, 0.75], atol=0.02)
  np.testing.assert_array_equal(out["images"].numpy()[:, 2:].argmax(1), out["cluster"].numpy())  # z_c = e_cluster


def test_a_standardize_models_generator_serves_raw_features():
  """The exported encoder takes raw features (it standardises them itself); G's rows come back in the same units."""
  generator = lambda z, training=False: z[0]  # G(z) = z_n: standardised rows
  mean, std = np.array([10.0, -1.0], np.float32), np.array([2.0, 0.5], np.float32)
  fns = export_lib.generator_functions(generator, 2, 3, 0.1, standardization=(mean, std))
  out = fns["serving_default"](tf.constant([[0.0, 0.0], [1.0, -2.0]]), tf.one_hot([0, 1], 3))["images"]
  np.testing.assert_allclose(out.numpy(), [[10.0, -1.0], [12.0, -2.0]])
  assert fns["sample"](tf.constant([0]), tf.constant(1))["images"].shape == (1, 2)


def test_the_range_check_says_how_the_training_data_was_scaled():
  from clustergan_tf import data
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"features must hold values in \[0, 1\]: scikit-learn's 0-16 pixel counts divided by 16"):
    export_lib._check_range(tf.constant([[16.0]]), "features", data.SCALING["digits"])
  export_lib._check_range(tf.constant([[1.0]]), "features", data.SCALING["digits"])  # in range: no error


def test_only_images_and_digits_must_arrive_in_the_unit_range():
  x = np.full((4, 3), 0.5, np.float32)
  assert export_lib.range_checked(Data("digits", {"train": (x, None)}, None, True))
  assert export_lib.range_checked(Data("tiny_images", {"train": (x.reshape(4, 3, 1, 1), None)}, None, True))
  assert not export_lib.range_checked(Data("vectors", {"train": (x, None)}, None, True))  # rows that were in [0, 1]
  assert not export_lib.range_checked(Data("digits", {"train": (x, None)}, None, False))
