"""Backprop decoding (Algorithm 1) on a linear generator, where the right answer is known."""

import functools
import types

import numpy as np
import pytest
import tensorflow as tf

from clustergan_tf import decode_lib
from clustergan_tf.errors import UsageError

K, LATENT_DIM, SIGMA = 3, 2, 0.1
# G(zn, zc) = zn @ W + zc @ A: W [2, 6] has full column rank; A's rows are far apart and far from W's span.
W = np.array([[1.0, 0.0, 0.3, 0.0, 0.0, 0.2],
              [0.0, 1.0, 0.0, 0.3, 0.1, 0.0]], np.float32)
A = np.array([[0.0, 0.0, 2.0, 0.0, 0.0, 0.0],
              [0.0, 0.0, 0.0, 2.0, 0.0, 1.0],
              [0.0, 0.0, 0.0, 0.0, 2.0, -1.0]], np.float32)


def linear_generator(zn, zc):
  return tf.matmul(zn, W) + tf.matmul(zc, A)


@pytest.fixture(scope="module")
def truth():
  """Known latents: zn [8, 2] inside [-0.3, 0.3], k [8], and x = G(zn, e_k) [8, 6]."""
  rng = np.random.default_rng(0)
  zn = rng.uniform(-0.3, 0.3, (8, LATENT_DIM)).astype(np.float32)
  k = np.arange(8) % K
  return zn, k, zn @ W + A[k]


def run(fn=decode_lib.decode, x=None, **kwargs):
  args = dict(steps=400, learning_rate=0.01, lambda_reg=0.0, clip=0.6)
  args.update(kwargs)
  return fn(linear_generator, x, K, LATENT_DIM, SIGMA, **args)


def test_recovers_cluster_and_latent(truth):
  zn, k, x = truth
  out = run(x=x, steps=1000, learning_rate=0.003)
  np.testing.assert_array_equal(out["restart"], k)
  np.testing.assert_allclose(out["zn"], zn, atol=1e-2)
  assert out["z"].shape == (8, LATENT_DIM + K)
  np.testing.assert_array_equal(out["z"][:, :LATENT_DIM], out["zn"])
  np.testing.assert_array_equal(out["z"][:, LATENT_DIM:], np.eye(K)[k])
  assert out["loss"].shape == (8,) and out["loss"].max() < 0.05


def test_clipping_bounds_every_coordinate(truth):
  _, k, _ = truth
  far = np.array([[2.0, -1.5]], np.float32).repeat(8, axis=0)  # needs |zn| well above the clip
  out = run(x=far @ W + A[k], clip=0.4)
  assert np.abs(out["zn"]).max() <= 0.4 + 1e-6
  np.testing.assert_allclose(np.abs(out["zn"]), 0.4, atol=1e-6)  # pinned at the bound
  unclipped = run(x=far @ W + A[k], clip=None, steps=1000, learning_rate=0.01)
  assert np.abs(unclipped["zn"]).max() > 1.0


def test_regulariser_shrinks_latents(truth):
  _, _, x = truth
  free = run(x=x)
  shrunk = run(x=x, lambda_reg=10.0)
  assert np.linalg.norm(shrunk["zn"], axis=1).mean() < 0.5 * np.linalg.norm(free["zn"], axis=1).mean()


def test_batched_equals_loop_and_batch_size(truth):
  _, _, x = truth
  x = x[:5]
  batched = run(x=x, steps=60, lambda_reg=1.0)
  looped = run(decode_lib.decode_loop, x=x, steps=60, lambda_reg=1.0)
  split = run(x=x, steps=60, lambda_reg=1.0, batch_size=2)  # 3 batches of 2 rows, the last padded
  for other in (looped, split):
    np.testing.assert_array_equal(other["restart"], batched["restart"])
    np.testing.assert_allclose(other["loss"], batched["loss"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(other["zn"], batched["zn"], atol=1e-5)


def test_fewer_restarts_and_determinism(truth):
  _, _, x = truth
  a = run(x=x[:4], steps=20, restarts=2, seed=3)
  b = run(x=x[:4], steps=20, restarts=2, seed=3)
  assert set(a["restart"]) <= {0, 1}
  for key in a:
    np.testing.assert_array_equal(a[key], b[key])


def test_keras_and_saved_model_generators(tmp_path):
  from clustergan_tf import export_lib, networks
  gen = networks.build_generator((6,), LATENT_DIM, K, hidden_units=(8,), output_activation="linear")
  export_lib.write_saved_model(gen, export_lib.generator_functions(gen, LATENT_DIM, K, SIGMA), str(tmp_path))
  x = np.random.default_rng(1).normal(size=(3, 6)).astype(np.float32)
  args = dict(steps=30, lambda_reg=10.0)
  from_keras = decode_lib.decode(gen, x, K, LATENT_DIM, SIGMA, **args)
  from_saved = decode_lib.decode(decode_lib.generator_from_saved_model(str(tmp_path)), x, K, LATENT_DIM, SIGMA,
                                 **args)
  np.testing.assert_array_equal(from_saved["restart"], from_keras["restart"])
  np.testing.assert_allclose(from_saved["loss"], from_keras["loss"], rtol=1e-4)


@pytest.mark.parametrize("kwargs, flag", [
    ({"restarts": 0}, "--restarts"),
    ({"restarts": K + 1}, "--restarts"),
    ({"steps": 0}, "--steps"),
    ({"learning_rate": 0.0}, "--learning_rate"),
    ({"learning_rate": -1.0}, "--learning_rate"),
    ({"lambda_reg": -0.1}, "--lambda_reg"),
    ({"clip": 0.0}, "--clip"),
    ({"batch_size": 0}, "--batch_size"),
    ({"x": np.zeros((0, 6), np.float32)}, "--num_samples"),
])
def test_bad_arguments(truth, kwargs, flag):
  args = {"x": truth[2], **kwargs}
  with pytest.raises(UsageError, match=flag):
    run(**args)
  with pytest.raises(UsageError, match=flag):
    run(decode_lib.decode_loop, **args)


def test_wrong_data_shape():
  with pytest.raises(UsageError, match=r"shape \(5,\)"):
    run(x=np.zeros((4, 5), np.float32))


@pytest.mark.parametrize("kind", ["gaussian", "uniform", "gmm"])
def test_plain_gan_priors_decode_z_n_with_z_c_zero(truth, kind):
  """Baseline priors: z_c stays 0, z* = z_n* recovers the z_n that made x = G(z_n, 0)."""
  zn, _, _ = truth
  x = zn @ W
  out = run(x=x, steps=1000, learning_rate=0.003, prior=kind, clip="prior", restarts=2)
  assert out["z"].shape == (8, LATENT_DIM)
  np.testing.assert_allclose(out["zn"], zn, atol=1e-2)


def test_prior_starting_points():
  """onehot: N(0, sigma^2); gmm: restart r starts in component r; gaussian: R draws of N(0, I)."""
  from clustergan_tf import prior
  onehot = decode_lib.initial_zn(2000, 4, 3, 0.1, seed=0)
  assert onehot.shape == (2000, 4, 3) and abs(onehot.std() - 0.1) < 0.005
  gmm = decode_lib.initial_zn(2000, 4, 3, 0.1, seed=0, prior_kind="gmm", restarts=2)
  np.testing.assert_allclose(gmm.mean(axis=0), prior.gmm_means(4, 3).numpy()[:2], atol=0.01)
  gauss = decode_lib.initial_zn(2000, 4, 3, 0.1, seed=0, prior_kind="gaussian", restarts=7)
  assert gauss.shape == (2000, 7, 3) and abs(gauss.std() - 1.0) < 0.02
  assert decode_lib.default_clip("onehot") == 0.6 and decode_lib.default_clip("gaussian") is None


def test_naive_pair_timing_runs_one_pair_per_call(truth, monkeypatch):
  """The benchmark's textbook loop: one call to trace, then one call per (input, restart) pair (input i
  with restart i mod K), timed together and divided by the number of pairs (at most len(x))."""
  _, _, x = truth
  args = dict(num_clusters=K, latent_dim=LATENT_DIM, sigma=SIGMA, steps=3, learning_rate=0.01, lambda_reg=0.0,
              clip=0.6, seed=0, prior="onehot")
  x = np.repeat(x, 3, axis=0)  # >= NAIVE_PAIRS inputs
  calls, real_solver = [], decode_lib.make_solver

  def counting_solver(*a, **kw):
    solve = real_solver(*a, **kw)

    def wrapped(xi, zc, zn0):
      calls.append((xi.numpy(), int(np.argmax(zc.numpy())), zn0.shape))
      return solve(xi, zc, zn0)
    return wrapped

  monkeypatch.setattr(decode_lib, "make_solver", counting_solver)
  for pairs, expected_pairs in ((20, 20), (100, len(x))):
    clock, calls[:] = iter([100.0, 103.0]), []  # a fake clock: 3 s pass between its two readings
    monkeypatch.setattr(decode_lib, "time", types.SimpleNamespace(perf_counter=functools.partial(next, clock)))
    assert decode_lib.naive_pair_seconds(linear_generator, x, args, pairs=pairs) == pytest.approx(3.0 / expected_pairs)
    assert len(calls) == 1 + expected_pairs
    for i, (xi, k, shape) in enumerate(calls[1:]):
      np.testing.assert_array_equal(xi, x[i:i + 1])
      assert k == i % K and shape == (1, LATENT_DIM)


def test_restart_scores_weigh_the_fit_against_the_log_shares():
  loss = np.array([[1.0, 1.5], [1.0, 3.0]])
  np.testing.assert_array_equal(decode_lib.restart_scores(loss), loss)  # no shares: the loss itself
  # dims 1: 1 * loss / 1.0 - log share: row 0 (1.0 + 1.609, 1.5 + 0.223), row 1 (1.0 + 1.609, 3.0 + 0.223)
  np.testing.assert_allclose(decode_lib.restart_scores(loss, [0.2, 0.8]),
                             [[2.6094, 1.7231], [2.6094, 3.2231]], atol=1e-4)
  # dims 10: the fit outweighs the prior: row 0 (10 + 1.609, 15 + 0.223)
  np.testing.assert_allclose(decode_lib.restart_scores(loss, [0.2, 0.8], dims=10)[0], [11.6094, 15.2231], atol=1e-4)
  zn = np.zeros((2, 2, LATENT_DIM), np.float32)
  out = decode_lib.pick(zn, loss.astype(np.float32), 2, shares=[0.2, 0.8])
  np.testing.assert_array_equal(out["restart"], [1, 0])
  np.testing.assert_array_equal(out["loss"], [1.5, 1.0])  # the winner's own loss, without the prior term
  np.testing.assert_array_equal(decode_lib.pick(zn, loss, 2, shares=[0.2, 0.8], dims=10)["restart"], [0, 0])
  np.testing.assert_array_equal(decode_lib.pick(zn, loss, 2, shares=[0.5, 0.5])["restart"], [0, 0])


def test_shares_weigh_in_with_every_data_dimension(monkeypatch):
  """Image-shaped x [N, 2, 3]: restart_scores gets dims = 6, the product of the sample's axes."""
  seen = []
  real = decode_lib.restart_scores
  monkeypatch.setattr(decode_lib, "restart_scores", lambda loss, shares=None, dims=1: seen.append(dims) or
                      real(loss, shares, dims))
  image_generator = lambda zn, zc: tf.reshape(linear_generator(zn, zc), [-1, 2, 3])  # noqa: E731
  x = (A[:2]).reshape(2, 2, 3)
  decode_lib.decode(image_generator, x, K, LATENT_DIM, SIGMA, steps=5, shares=[0.2, 0.3, 0.5])
  assert seen == [6]


def test_shares_in_decode(truth):
  _, _, x = truth
  plain = run(x=x, steps=60)
  uniform = run(x=x, steps=60, shares=np.full(K, 1 / K))
  np.testing.assert_array_equal(uniform["restart"], plain["restart"])
  tilted = run(x=x, steps=60, shares=[0.01, 0.01, 0.98])
  np.testing.assert_array_equal(plain["restart_loss"], tilted["restart_loss"])  # the search itself is unchanged
  expected = decode_lib.restart_scores(plain["restart_loss"], [0.01, 0.01, 0.98], dims=x.shape[1]).argmin(axis=1)
  np.testing.assert_array_equal(tilted["restart"], expected)
  middle = np.repeat(0.5 * (A[:1] + A[2:]), 2, axis=0)  # as close to cluster 0 as to cluster 2: the shares decide
  assert set(run(x=middle, steps=200, shares=[0.98, 0.01, 0.01])["restart"]) == {0}
  assert set(run(x=middle, steps=200, shares=[0.01, 0.01, 0.98])["restart"]) == {2}
  with pytest.raises(UsageError, match="shares"):
    run(x=x, shares=[0.5, 0.5])
  with pytest.raises(UsageError, match="shares"):
    run(decode_lib.decode_loop, x=x, shares=[0.0, 0.5, 0.5])
