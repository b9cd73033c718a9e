import numpy as np
import tensorflow as tf

from clustergan_tf import diagnostics


class _ConstantEncoder:
  """E whose cluster is fixed by the sign of the first feature (unchanged by small noise far from 0)."""

  def __call__(self, x, training=False):
    first = tf.reshape(x, [tf.shape(x)[0], -1])[:, :1]
    return {"zc_logits": tf.concat([first, -first], axis=1) * 100.0}


def test_label_free_scores_by_hand():
  x = np.concatenate([np.full([3, 4], 5.0), np.full([1, 4], -5.0)]).astype(np.float32)
  probs = np.array([[0.9, 0.1], [0.7, 0.3], [0.8, 0.2], [0.4, 0.6]], np.float32)
  scores = diagnostics.label_free(_ConstantEncoder(), x, probs)
  # shares (3/4, 1/4): entropy 0.5623 nats / log 2 = 0.8113; confidence (0.9 + 0.7 + 0.8 + 0.6) / 4 = 0.75
  np.testing.assert_allclose(scores["balance"], 0.811278, rtol=1e-5)
  np.testing.assert_allclose(scores["confidence"], 0.75, rtol=1e-6)
  assert scores["stability"] == 1.0  # noise of 0.05 cannot flip a feature of +-5
  np.testing.assert_allclose(scores["score"], scores["stability"] * scores["balance"])


def test_label_free_balance_against_learned_prior_shares():
  x = np.concatenate([np.full([3, 4], 5.0), np.full([1, 4], -5.0)]).astype(np.float32)
  probs = np.array([[0.9, 0.1], [0.7, 0.3], [0.8, 0.2], [0.4, 0.6]], np.float32)  # cluster shares (3/4, 1/4)
  scores = diagnostics.label_free(_ConstantEncoder(), x, probs, [0.75, 0.25])
  assert scores["balance"] == 1.0 and scores["score"] == scores["stability"]  # shares as the prior's


def test_stability_sees_clusters_that_a_move_flips():
  x = np.zeros([200, 28, 28, 1], np.float32)
  x[:, 0, 0, 0] = 1.0  # only the corner pixel decides the cluster: any shift moves it away
  encoder = lambda t, training=False: {"zc_logits": tf.concat([t[:, 0, 0, :] - 0.5, 0.5 - t[:, 0, 0, :]], 1)}  # noqa
  clusters = np.argmax(encoder(tf.constant(x))["zc_logits"].numpy(), 1)
  assert diagnostics.stability(encoder, x, clusters) < 0.5


def test_mode_purity_counts_majority_shares():
  def generator(z, training=False):
    zn, zc = z
    k = tf.argmax(zc, 1)
    # mode 0 draws class 0; mode 1 draws class 1 or 2 by the sign of z_n's first coordinate (half each)
    return tf.cast(tf.where(k == 0, 0, tf.where(zn[:, 0] > 0, 1, 2)), tf.float32)[:, None]
  labeller = lambda x: np.asarray(x)[:, 0].astype(int)  # noqa: E731
  out = diagnostics.mode_purity(generator, labeller, latent_dim=2, num_clusters=2, sigma=1.0, per_mode=400)
  assert out["mode_classes"] == 2
  assert 0.7 < out["mode_purity"] < 0.8  # (1 + ~0.5) / 2


def test_mode_labeller_learns_the_classes():
  rng = np.random.default_rng(0)
  y = rng.integers(0, 3, 600)
  x = (np.eye(3)[y] * 3 + rng.normal(0, 0.3, (600, 3))).astype(np.float32)
  labeller = diagnostics.ModeLabeller(x[:500], y[:500])
  assert np.mean(labeller(x[500:]) == y[500:]) > 0.95


def test_moves_per_row_aim_at_16000_moved_rows_between_1_and_8_moves_per_row():
  rows = (100_000, 16_000, 15_999, 8_000, 1_797, 359, 1)
  assert [diagnostics.moves_per_row(n) for n in rows] == [1, 1, 2, 2, 8, 8, 8]


def test_stability_moves_small_data_several_times_and_large_data_once():
  seen = []

  def encoder(t, training=False):
    seen.append(int(t.shape[0]))
    return {"zc_logits": tf.concat([t[:, :1], -t[:, :1]], 1) * 100.0}

  small = np.full([5, 2], 5.0, np.float32)
  assert diagnostics.stability(encoder, small, np.zeros(5, np.int64)) == 1.0
  assert seen == [5] * 8  # 8 independent moves of the 5 rows
  seen.clear()
  large = np.full([16_000, 2], 5.0, np.float32)
  diagnostics.stability(encoder, large, np.zeros(16_000, np.int64))
  assert sum(seen) == 16_000  # one move each


def test_the_run_labeller_learns_only_from_labelled_rows():
  """Rows without a label (-1) are left out: -1 is never a class the labeller gives a sample."""
  from clustergan_tf.config import Config
  from clustergan_tf.data import Data
  rng = np.random.default_rng(0)
  y = rng.integers(0, 3, 600)
  x = (np.eye(3)[y] * 3 + rng.normal(0, 0.3, (600, 3))).astype(np.float32)
  y_partial = np.where(np.arange(600) % 2 == 0, -1, y)
  labeller = diagnostics.labeller(Config(num_clusters=3), Data("stub", {"train": (x, y_partial)}, 3, False))
  assert set(labeller(x).tolist()) == {0, 1, 2}
  assert diagnostics.labeller(Config(num_clusters=3), Data("stub", {"train": (x, None)}, 3, False)) is None
