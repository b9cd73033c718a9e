"""evaluate_lib: the clusters and numbers that every report, table and metrics.json holds."""

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from clustergan_tf import evaluate_lib
from clustergan_tf.config import Config
from clustergan_tf.data import Data

K = 3


class StubModel:
  """An encoder that reads z_n and the cluster logits off the input: x = [zn (2), logits (K)], and a
  generator that writes them back (x = G(E(x)) up to the softmax)."""
  shares = tf.fill([K], 1.0 / K)

  def learned_share_values(self):
    return None  # uniform, the paper's prior

  def encoder(self, x, training=False):
    return {"zn": x[:, :2], "zc_logits": x[:, 2:]}

  def generator(self, z, training=False):
    return tf.concat([z[0], 10.0 * z[1]], axis=1)


def stub_data(labels, clusters, with_labels=True):
  """Rows whose encoder logits put row i in clusters[i] (10 logits apart: moves cannot flip it)."""
  rng = np.random.default_rng(0)
  x = np.concatenate([rng.normal(size=(len(clusters), 2)), 10.0 * np.eye(K)[clusters]], axis=1).astype(np.float32)
  y = np.asarray(labels, np.int64) if with_labels else None
  return Data("stub", {"train": (x, y), "test": (x, y)}, K, False)


def test_kmeans_features_rule_in_numpy_and_tensorflow():
  zn, probs = np.ones((2, 3), np.float32), np.full((2, K), 0.5, np.float32)
  np.testing.assert_array_equal(evaluate_lib.kmeans_features(zn, probs, 1.0).numpy(), np.concatenate([zn, probs], 1))
  np.testing.assert_array_equal(evaluate_lib.kmeans_features(zn, probs, 0.0).numpy(), probs)
  np.testing.assert_array_equal(evaluate_lib.kmeans_features(zn, None, 1.0).numpy(), zn)
  as_tensors = evaluate_lib.kmeans_features(tf.constant(zn), tf.constant(probs), 1.0)
  np.testing.assert_array_equal(as_tensors.numpy(), np.concatenate([zn, probs], 1))


def test_assign_reads_argmax_and_runs_kmeans_on_the_features():
  probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], np.float32)
  zn = np.array([[0.0], [10.0], [0.1], [10.1]], np.float32)
  out = evaluate_lib.assign(zn, probs, 2, beta_n=1.0)
  np.testing.assert_array_equal(out["argmax"], [0, 1, 0, 1])
  assert out["kmeans"][0] == out["kmeans"][2] != out["kmeans"][1] == out["kmeans"][3]
  assert set(evaluate_lib.assign(zn, None, 2, beta_n=1.0)) == {"kmeans"}


def test_encode_is_the_same_in_any_batch_size():
  x = stub_data([0] * 7, [0, 1, 2, 0, 1, 2, 0]).split("test")[0]
  a = evaluate_lib.encode(StubModel().encoder, x, batch_size=3)
  b = evaluate_lib.encode(StubModel().encoder, x, batch_size=1000)
  np.testing.assert_array_equal(a[0], b[0])
  np.testing.assert_allclose(a[1], b[1], rtol=1e-6)
  np.testing.assert_allclose(a[1].sum(1), 1.0, rtol=1e-6)


def test_evaluate_scores_the_clusters_against_the_labels():
  labels = [0, 0, 1, 1, 2, 2, 2, 0]
  clusters = [1, 1, 0, 0, 2, 2, 0, 1]  # one of 8 rows in the wrong cluster after the best matching
  data = stub_data(labels, clusters)
  ev = evaluate_lib.evaluate(StubModel(), data, "test", Config(num_clusters=K, latent_dim=2), step=7)
  assert ev.report["results"]["argmax"]["acc"] == 7 / 8
  assert ev.report["cluster_sizes"]["argmax"] == [3, 3, 2]
  assert (ev.report["step"], ev.report["num_examples"], ev.report["latents"]) == (7, 8, "encoder")
  np.testing.assert_array_equal(ev.assignments["argmax"], clusters)
  np.testing.assert_array_equal(ev.assignments["labels"], labels)
  scores = ev.report["label_free"]
  assert scores["stability"] == 1.0  # 10 logits apart: small moves change no cluster
  shares = np.array([3, 3, 2]) / 8
  assert scores["balance"] == pytest.approx(-(shares * np.log(shares)).sum() / np.log(K))
  assert ev.report["label_free_score"] == pytest.approx(scores["balance"])


def test_label_free_rows_add_a_fixed_sample_of_training_rows_unless_the_encoder_fitted_them(monkeypatch):
  x_train, x_test = np.arange(10, dtype=np.float32)[:, None], np.full((2, 1), -1.0, np.float32)
  data = Data("stub", {"train": (x_train, None), "test": (x_test, None)}, K, False)
  monkeypatch.setattr(evaluate_lib, "LABEL_FREE_TRAIN_ROWS", 4)
  x, splits = evaluate_lib.label_free_rows(data, "test", Config(num_clusters=K, seed=0))
  assert splits == ["test", "train"] and x.shape == (6, 1)
  np.testing.assert_array_equal(x[:2], x_test)  # the evaluated split first, then 4 distinct training rows
  assert len(set(x[2:, 0])) == 4 and set(x[2:, 0]) <= set(x_train[:, 0])
  again, _ = evaluate_lib.label_free_rows(data, "test", Config(num_clusters=K, seed=5))
  np.testing.assert_array_equal(again, x)  # the same rows whatever the run's seed: seeds are compared on one set
  for cfg, split in ((Config(num_clusters=K, real_data_weight=1.0), "test"), (Config(num_clusters=K), "train")):
    x, splits = evaluate_lib.label_free_rows(data, split, cfg)
    assert splits == [split] and len(x) == len(data.split(split)[0])


def test_label_free_rows_of_vectors_score_the_file_once(tmp_path):
  """--dataset=vectors: both splits are the file's rows, also after --exclude_classes drops some from training."""
  from clustergan_tf import data as data_lib
  path = tmp_path / "x.npy"
  np.save(path, np.arange(40, dtype=np.float32).reshape(20, 2))
  np.save(tmp_path / "y.npy", np.arange(20) % 4)
  vectors = data_lib.load_vectors(str(path), str(tmp_path / "y.npy"))
  for d in (vectors, data_lib.drop_training_classes(vectors, [3])):
    x, splits = evaluate_lib.label_free_rows(d, "test", Config(num_clusters=K))
    assert splits == ["test"] and len(x) == 20


def test_evaluate_scores_label_free_balance_over_the_test_and_training_rows():
  """Test rows all in cluster 0, training rows in clusters 1 and 2: balance over the 9 rows, not the 3 test rows."""
  rng = np.random.default_rng(0)
  rows = lambda clusters: np.concatenate([rng.normal(size=(len(clusters), 2)), 10.0 * np.eye(K)[clusters]], 1).astype(
      np.float32)
  data = Data("stub", {"train": (rows([1, 1, 1, 2, 2, 2]), None), "test": (rows([0, 0, 0]), None)}, K, False)
  ev = evaluate_lib.evaluate(StubModel(), data, "test", Config(num_clusters=K, latent_dim=2), step=1)
  assert ev.report["label_free_sample"] == {"splits": ["test", "train"], "num_rows": 9, "moves_per_row": 8}
  assert ev.report["label_free"]["balance"] == pytest.approx(1.0)  # 3 + 3 + 3 rows
  assert ev.report["cluster_sizes"]["argmax"] == [3, 0, 0]  # the clusters themselves: the test split only
  real = evaluate_lib.evaluate(StubModel(), data, "test", Config(num_clusters=K, latent_dim=2, real_data_weight=1.0),
                               step=1)
  assert real.report["label_free_sample"] == {"splits": ["test"], "num_rows": 3, "moves_per_row": 8}
  assert real.report["label_free"]["balance"] == pytest.approx(0.0, abs=1e-9)


def test_evaluate_without_labels_reports_sizes_and_labels_minus_one():
  data = stub_data([0] * 6, [0, 1, 2, 0, 1, 2], with_labels=False)
  ev = evaluate_lib.evaluate(StubModel(), data, "test", Config(num_clusters=K, latent_dim=2), step=1)
  assert ev.report["results"] == {} and ev.report["cluster_sizes"]["argmax"] == [2, 2, 2]
  np.testing.assert_array_equal(ev.assignments["labels"], [-1] * 6)
  assert "(no labels: cluster sizes [2, 2, 2])" in evaluate_lib.format_report(ev.report)


def test_rows_without_a_label_are_clustered_and_left_out_of_the_scores():
  """The first test's rows plus two rows labelled -1 in the wrong clusters: the same 7/8 over the 8 labelled rows."""
  labels = [0, 0, 1, -1, 1, 2, 2, 2, -1, 0]
  clusters = [1, 1, 0, 2, 0, 2, 2, 0, 0, 1]
  ev = evaluate_lib.evaluate(StubModel(), stub_data(labels, clusters), "test", Config(num_clusters=K, latent_dim=2),
                             step=7)
  assert ev.report["results"]["argmax"]["acc"] == 7 / 8 and ev.report["num_labelled"] == 8
  assert ev.report["cluster_sizes"]["argmax"] == [4, 3, 3]  # every row is clustered
  np.testing.assert_array_equal(ev.assignments["labels"], labels)
  assert evaluate_lib.format_report(ev.report).startswith("stub test (n=10, 8 labelled) at step 7:")
  every = evaluate_lib.evaluate(StubModel(), stub_data([0, 1, 2], [0, 1, 2]), "test",
                                Config(num_clusters=K, latent_dim=2), step=7)
  assert "num_labelled" not in every.report  # only where some rows have no label


def test_outlier_report_scores_an_excluded_class_the_encoder_is_unsure_of():
  """Training rows sit firmly in a cluster; the test split adds rows of class 9 with flat logits (E unsure, G
  redraws them badly): AUROC 1, every such row flagged, of the 90 seen rows (the training rows) at most the one above
  their 99th percentile."""
  rng = np.random.default_rng(1)
  clusters = np.arange(90) % K
  seen = np.concatenate([rng.normal(size=(90, 2)), 10.0 * np.eye(K)[clusters]], axis=1).astype(np.float32)
  unsure = np.concatenate([rng.normal(size=(10, 2)), np.zeros((10, K))], axis=1).astype(np.float32)
  y = np.concatenate([clusters, np.full(10, 9)])
  data = Data("stub", {"train": (seen, clusters), "test": (np.concatenate([seen, unsure]), y)}, K, False)
  report, scores = evaluate_lib.outlier_report(StubModel(), data, *data.split("test"),
                                               Config(num_clusters=K, latent_dim=2, exclude_classes=(9,)))
  assert scores.shape == (100,) and report["auroc_excluded"] == 1.0
  assert report["flagged_share_excluded"] == 1.0 and report["flagged_share_seen"] <= 1 / 90
  assert report["flagged_share"] == pytest.approx(0.1 + 0.9 * report["flagged_share_seen"])
  assert report["thresholds"]["0.99"] == report["threshold"]
  assert list(report["thresholds"]) == ["0.9", "0.95", "0.99", "0.999"]
  # Rows without a label (-1), however unsure E is of them, are neither seen nor unseen: the same AUROC; every row
  # keeps its score.
  y_unknown = np.concatenate([y, np.full(10, -1)])
  x_unknown = np.concatenate([data.split("test")[0], unsure])
  unknown, all_scores = evaluate_lib.outlier_report(StubModel(), data, x_unknown, y_unknown,
                                                    Config(num_clusters=K, latent_dim=2, exclude_classes=(9,)))
  assert all_scores.shape == (110,) and unknown["auroc_excluded"] == 1.0
  assert unknown["flagged_share_excluded"] == 1.0 and unknown["flagged_share_seen"] == report["flagged_share_seen"]


def test_write_is_the_one_schema_with_training_fields(tmp_path):
  data = stub_data([0, 1, 2], [0, 1, 2])
  ev = evaluate_lib.evaluate(StubModel(), data, "test", Config(num_clusters=K, latent_dim=2), step=3)
  report = evaluate_lib.write(str(tmp_path), ev, train_minutes=1.5, weights_sha256="abc")
  saved = json.loads((tmp_path / "metrics.json").read_text())
  assert saved == report and (saved["train_minutes"], saved["weights_sha256"]) == (1.5, "abc")
  arrays = np.load(tmp_path / "assignments.npz")
  assert set(arrays.files) == {"labels", "argmax", "kmeans", "outlier_score"}
  assert sorted(os.listdir(tmp_path)) == ["assignments.npz", "metrics.json"]  # no temporary files left


def test_text_labels_travel_as_class_names_beside_the_ids(tmp_path):
  data = dataclasses.replace(stub_data([0, 1, 2], [0, 1, 2]), class_names=("cat", "dog", "eel"))
  ev = evaluate_lib.evaluate(StubModel(), data, "test", Config(num_clusters=K, latent_dim=2), step=3)
  report = evaluate_lib.write(str(tmp_path), ev, train_minutes=1.5, weights_sha256="abc")
  assert report["class_names"] == ["cat", "dog", "eel"]
  arrays = np.load(tmp_path / "assignments.npz")  # no pickle needed: an array of strings
  assert arrays["class_names"].tolist() == ["cat", "dog", "eel"] and arrays["labels"].tolist() == [0, 1, 2]


def test_format_report_lines():
  report = {"dataset": "d", "split": "test", "num_examples": 4, "step": 2, "cluster_sizes": {"kmeans": [2, 2]},
            "results": {"argmax": {"acc": 0.5, "nmi": 0.25}}, "label_free_score": 0.75,
            "diagnostics": {"mode_purity": 0.9}}
  assert evaluate_lib.format_report(report).splitlines() == [
      "d test (n=4) at step 2:", "  argmax  acc 0.5000  nmi 0.2500", "  label_free_score 0.7500  mode_purity 0.9"]
  vectors = dict(report, dataset="vectors")  # (with --exclude_classes or --class_imbalance training saw fewer rows)
  assert evaluate_lib.format_report(vectors).startswith("vectors test (n=4; --data_path's rows: no held-out split)")


def test_append_curve_writes_one_line_per_evaluation(tmp_path):
  report = {"step": 4, "results": {"argmax": {"acc": 0.5}}, "label_free_score": 0.7, "diagnostics": {"mode_purity": 1}}
  evaluate_lib.append_curve(str(tmp_path), report, 0.25)
  evaluate_lib.append_curve(str(tmp_path), dict(report, step=8), 0.5)
  lines = [json.loads(line) for line in (tmp_path / "curve.jsonl").read_text().splitlines()]
  assert lines[0] == {"step": 4, "train_minutes": 0.25, "argmax_acc": 0.5, "label_free_score": 0.7, "mode_purity": 1}
  assert [p["step"] for p in lines] == [4, 8]


def test_append_curve_replaces_the_evaluations_a_resume_repeats(tmp_path):
  """A run resumed from step 4 evaluates 8 again, a reused finished run its last step: one line per step."""
  report = {"step": 4, "results": {"argmax": {"acc": 0.5}}}
  for step, minutes in ((4, 1.0), (8, 2.0), (12, 3.0), (8, 2.5), (12, 3.5), (12, 3.5)):
    evaluate_lib.append_curve(str(tmp_path), dict(report, step=step), minutes)
  lines = [json.loads(line) for line in (tmp_path / "curve.jsonl").read_text().splitlines()]
  assert [(p["step"], p["train_minutes"]) for p in lines] == [(4, 1.0), (8, 2.5), (12, 3.5)]


def test_append_curve_drops_a_torn_line(tmp_path):
  (tmp_path / "curve.jsonl").write_text('{"step": 4, "train_minutes": 1.0}\n{"step": 8, "train_mi\n\n')
  evaluate_lib.append_curve(str(tmp_path), {"step": 8, "results": {}}, 2.0)
  lines = [json.loads(line) for line in (tmp_path / "curve.jsonl").read_text().splitlines()]
  assert [p["step"] for p in lines] == [4, 8]


def test_raw_kmeans_separates_separated_blobs():
  rng = np.random.default_rng(0)
  y = np.repeat(np.arange(3), 20)
  x = (10.0 * y[:, None] + rng.normal(size=(60, 4))).astype(np.float32)
  data = Data("blobs", {"train": (x, y), "test": (x, y)}, 3, False)
  assert evaluate_lib.raw_kmeans(data, "test", 3)["acc"] == 1.0


def test_table_row_formats_floats_and_keeps_strings():
  row = evaluate_lib.table_row("seed 0", {"acc": 0.5, "purity": "**0.9**", "nmi": 0.25, "ari": 0.125}, "1.5", 42)
  assert row == "| seed 0 | 0.5000 | **0.9** | 0.2500 | 0.1250 | 1.5 | 42 |"


def test_renumbering_maps_clusters_onto_the_reference_ids_one_to_one():
  clusters = np.array([0, 0, 0, 1, 1, 2, 2, 2])
  reference = np.array([2, 2, 1, 0, 0, 1, 1, 2])  # cluster 0 is mostly 2, 1 is 0, 2 is 1
  np.testing.assert_array_equal(evaluate_lib.renumbering(clusters, reference, K), [2, 0, 1])


def test_kmeans_ids_follow_the_encoder_ids_and_so_do_its_centroids():
  """Three tight groups whose E clusters are 2, 0, 1: k-means, whatever its own numbering, names them 2, 0, 1, and
  centroid i is the centre of the group it now calls i (what the exported kmeans signature serves)."""
  rng = np.random.default_rng(0)
  group = np.repeat(np.arange(3), 20)
  zn = (np.eye(3)[group] * 10 + rng.normal(0, 0.1, (60, 3))).astype(np.float32)
  probs = np.eye(K, dtype=np.float32)[np.array([2, 0, 1])[group]]
  km, ids = evaluate_lib.fit_numbered_kmeans(zn, probs, K, beta_n=1.0)
  np.testing.assert_array_equal(ids, probs.argmax(1))
  np.testing.assert_array_equal(km.predict(evaluate_lib.kmeans_features(zn, probs, 1.0).numpy()), ids)
  assert evaluate_lib.assign(zn, probs, K, 1.0)["kmeans"].tolist() == ids.tolist()
