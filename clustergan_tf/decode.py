"""Backprop decoding (Algorithm 1) of a split: `python -m clustergan_tf.decode --model_dir=DIR [--num_samples=N]`.

Recovers z* for N rows spread over the split (seeds.shown_rows) through the generator alone, writes
--output (default MODEL_DIR/decode.npz: `rows`, `z`, `restart`, `loss`, `restart_loss`, `kmeans`,
`argmax`, and `labels` when the split has them, `class_names` and `files` where assignments.npz
has them) and prints the clustering scores of the winning restart and of k-means on z*, plus how
often the winning restart matches the encoder's argmax. `--benchmark` instead times the batched decoder
against the one-restart-at-a-time loop.
"""

from clustergan_tf import cli  # noqa: F401  (quiet TF start-up first)

import math
import os
import time

import numpy as np
from absl import flags

from clustergan_tf import files, prior, seeds
from clustergan_tf import data as data_lib
from clustergan_tf.errors import UsageError

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("model_dir", None, "Directory of a trained model (holds config.json and ckpt/).")
  flags.DEFINE_enum("split", "test", data_lib.SPLITS, "Split whose rows are decoded (--num_samples of them).")
  from clustergan_tf import config_flags
  config_flags.define_moved_data_flags()
  flags.adopt_module_key_flags(config_flags)  # listed by --help
  flags.DEFINE_integer("num_samples", 1000, "Decode N rows of the split, the same for every model and spread over it "
                       "(a split sorted by class is covered); all of it if it is smaller. decode.npz's `rows` "
                       "gives their indices in the split.")
  flags.DEFINE_integer("restarts", None, "Restarts per sample, restart k fixing z_c = e_k; default: K (every cluster).")
  flags.DEFINE_integer("steps", 5000, "Adam steps per restart (the paper: 5000).")
  flags.DEFINE_float("learning_rate", 0.01, "Adam learning rate on z_n (the paper: 0.01).")
  flags.DEFINE_float("lambda_reg", 10.0,
                     "Weight of the ||z_n||^2 penalty next to the L1 reconstruction loss (the paper: 10).")
  flags.DEFINE_float("clip", None, "Clip z_n to [-clip, clip] after every step; inf disables clipping. Default: the "
                     "prior's (onehot: the paper's 0.6; uniform: 1; gaussian, gmm: none).")
  flags.DEFINE_integer("batch_size", 1000,
                       "Samples decoded together (each with all its restarts): the paper used 1000.")
  flags.DEFINE_string("output", None, "Where to write the .npz of results; default: MODEL_DIR/decode.npz.")
  flags.DEFINE_integer("seed", 0, "Seed of the starting points z_n ~ N(0, sigma^2 I).")
  flags.DEFINE_boolean("benchmark", False, "Only time the batched decoder against the per-restart loop on 256 samples "
                       "with min(--steps, 200) steps, and print both times and their ratio.")


BENCHMARK_SAMPLES, BENCHMARK_MAX_STEPS, NAIVE_PAIRS = 256, 200, 20


def decode_args(cfg):
  """The keyword arguments of decode_lib.decode that come from flags and config."""
  from clustergan_tf import decode_lib
  clip = decode_lib.default_clip(cfg.prior) if FLAGS.clip is None else FLAGS.clip
  clip = None if clip is None or math.isinf(clip) else clip
  return dict(num_clusters=cfg.num_clusters, latent_dim=cfg.latent_dim, sigma=cfg.sigma, restarts=FLAGS.restarts,
              steps=FLAGS.steps, learning_rate=FLAGS.learning_rate, lambda_reg=FLAGS.lambda_reg, clip=clip,
              seed=FLAGS.seed, batch_size=FLAGS.batch_size, prior=cfg.prior)


def benchmark(generator, x, args):
  """Times decode and decode_loop on the same inputs and settings; returns the lines to print.

  Each is run once with 1 step (tracing and set-up: both build a fresh solver per call)
  and once with the full steps, so the step loop's own cost is also shown.
  """
  from clustergan_tf import decode_lib
  args = dict(args, steps=min(args["steps"], BENCHMARK_MAX_STEPS), batch_size=len(x))
  fns = {"decode": decode_lib.decode, "decode_loop": decode_lib.decode_loop}
  total, fixed, results = {}, {}, {}
  for name, fn in fns.items():
    t0 = time.perf_counter()
    fn(generator, x, **dict(args, steps=1))
    fixed[name] = time.perf_counter() - t0
    t0 = time.perf_counter()
    results[name] = fn(generator, x, **args)
    total[name] = time.perf_counter() - t0
  loop = {name: total[name] - fixed[name] for name in fns}
  a, b = results["decode"], results["decode_loop"]
  restarts = args["restarts"] or args["num_clusters"]
  per_pair = decode_lib.naive_pair_seconds(generator, x, args, NAIVE_PAIRS)
  return [f"benchmark: {len(x)} samples x {restarts} restarts x {args['steps']} steps",
          "                                  total   (1-step run)   total - 1-step",
          f"  decode (all restarts batched)  {total['decode']:7.2f}s  {fixed['decode']:7.2f}s  {loop['decode']:12.2f}s",
          f"  decode_loop (one per restart)  {total['decode_loop']:7.2f}s  {fixed['decode_loop']:7.2f}s  "
          f"{loop['decode_loop']:12.2f}s",
          f"  ratio loop / batched           {total['decode_loop'] / total['decode']:7.2f}x  "
          f"{'':9s}{loop['decode_loop'] / max(loop['decode'], 1e-9):12.2f}x",
          f"  same winners {np.mean(a['restart'] == b['restart']):.4f}, "
          f"max |loss difference| {np.abs(a['loss'] - b['loss']).max():.2e}",
          f"  naive loop, one (input, restart) pair per call: {per_pair:.3f}s per pair, timed on {NAIVE_PAIRS} pairs; "
          f"x {len(x) * restarts} pairs = {per_pair * len(x) * restarts:.1f}s, "
          f"{per_pair * len(x) * restarts / total['decode']:.1f}x the batched decoder (extrapolated, not run in full)"]



def scores(out, labels, encoder_argmax, num_clusters, prior_kind="onehot"):
  """(report lines, extra arrays): metrics of the winning restart (onehot prior) and of k-means on z*,
  agreement with E's argmax (when there is one)."""
  from clustergan_tf import evaluate_lib, metrics
  kmeans = evaluate_lib.fit_kmeans(out["z"], num_clusters).labels_.astype(np.int64)
  clusters = {"kmeans": kmeans}
  if prior.feeds_cluster(prior_kind):  # k-means ids numbered after the winning restarts', as evaluate numbers them
    clusters = {"restart": out["restart"],
                "kmeans": evaluate_lib.renumbering(kmeans, out["restart"], num_clusters)[kmeans]}
  lines = []
  if labels is not None and np.all(labels == metrics.UNLABELLED):
    labels = None  # a sample of rows without a label
  for name, assigned in clusters.items():
    if labels is not None:
      scored = metrics.all_metrics(labels, assigned)
      lines.append(f"  {name:7s} " + "  ".join(f"{k} {v:.4f}" for k, v in scored.items()))
    else:
      lines.append(f"  {name:7s} cluster sizes {np.bincount(assigned, minlength=num_clusters).tolist()} (no labels)")
  if encoder_argmax is None:
    return lines, {"kmeans": clusters["kmeans"]}
  if prior.feeds_cluster(prior_kind):
    lines.append(f"  winning restart = encoder argmax for {np.mean(out['restart'] == encoder_argmax):.4f} of samples")
  return lines, {"kmeans": clusters["kmeans"], "argmax": encoder_argmax}


def write(path, arrays):
  """Writes the .npz atomically (temp file + rename), or raises UsageError naming --output."""
  try:
    files.make_parent(path)
    files.atomic_write(path, lambda f: np.savez(f, **arrays))
  except OSError as e:
    raise UsageError(f"--output={path} cannot be written ({e.strerror}); choose another path") from None


def main(argv):
  from clustergan_tf import checkpoint, config_flags, decode_lib, evaluate_lib
  if not FLAGS.model_dir:
    raise UsageError("--model_dir is required: the directory a training run wrote")
  if FLAGS.num_samples < 1:
    raise UsageError(f"--num_samples={FLAGS.num_samples} must be at least 1")
  output = FLAGS.output or os.path.join(FLAGS.model_dir, "decode.npz")
  if not FLAGS.benchmark:
    files.check_output_path(output, "output")
  t = checkpoint.load(FLAGS.model_dir, moved=config_flags.moved_data())
  cfg, data, model = t.cfg, t.data, t.model
  args = dict(decode_args(cfg), shares=model.learned_share_values())
  generator = decode_lib.generator_from_keras(model.generator)
  x, y = data.split(FLAGS.split)
  if FLAGS.benchmark:
    print("\n".join(benchmark(generator, x[:BENCHMARK_SAMPLES], args)))
    return
  rows = seeds.shown_rows(len(x), FLAGS.num_samples)
  x = x[rows]
  y = None if y is None else y[rows]
  if len(x) < cfg.num_clusters:
    raise UsageError(f"--num_samples={FLAGS.num_samples} decodes {len(x)} rows, fewer than the {cfg.num_clusters} "
                     "clusters k-means on z* needs: decode at least that many")
  t0 = time.perf_counter()
  out = decode_lib.decode(generator, x, **args)
  seconds = time.perf_counter() - t0
  encoder_argmax = evaluate_lib.encode(model.encoder, x)[1].argmax(axis=1) if cfg.use_encoder else None
  lines, extra = scores(out, y, encoder_argmax, cfg.num_clusters, cfg.prior)
  restarts = FLAGS.restarts or cfg.num_clusters
  print(f"{data.name} {FLAGS.split} (n={len(x)}): {restarts} restarts x {FLAGS.steps} Adam steps "
        f"(lr {FLAGS.learning_rate}, lambda {FLAGS.lambda_reg}, clip {args['clip']}) in {seconds:.1f}s; "
        f"mean loss {out['loss'].mean():.4f}")
  print("\n".join(lines))
  arrays = {"z": out["z"], "restart": out["restart"], "loss": out["loss"], "restart_loss": out["restart_loss"],
            "rows": rows, **extra}
  if y is not None:
    arrays["labels"] = y
  arrays.update(data.name_arrays(FLAGS.split, rows))
  write(output, arrays)
  print(f"wrote {output}")


if __name__ == "__main__":
  define_flags()
  cli.run(main)
