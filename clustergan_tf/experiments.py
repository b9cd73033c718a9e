"""The paper's small experiments as commands; each prints a markdown table (or writes a PNG).

  python -m clustergan_tf.experiments --experiment=baselines --flagfile=synthetic.flags --model_dir=runs/exp_synthetic
  python -m clustergan_tf.experiments --experiment=lemma --flagfile=synthetic.flags --model_dir=runs/exp_lemma
  python -m clustergan_tf.experiments --experiment=interpolation --model_dir=runs/digits --output=interp.png

baselines: ClusterGAN against plain GANs (Gaussian, uniform, GMM priors) clustered by
backprop decoding + k-means, and k-means on the data (the paper's synthetic experiment with
synthetic.flags; any data set with another flag file). lemma: a linear G trained from the
one-hot prior and from a Gaussian prior; how well each generated distribution matches the
mixture. interpolation: G(z_n, (1 - t) e_a + t e_b) of a trained model, one row per pair
of clusters. Every training flag applies; each variant trains into MODEL_DIR/<variant>
(rerunning reuses finished runs).
"""

from clustergan_tf import cli  # noqa: F401  (quiet TF start-up first)

import dataclasses
import os

import numpy as np
from absl import flags

from clustergan_tf import config_flags

FLAGS = flags.FLAGS
EXPERIMENTS = ("baselines", "lemma", "interpolation")

# A plain GAN has no encoder: the settings of a flag file that train E (its moves, the real-data terms, several
# starts picked by E's score) are turned off for the baselines, which are otherwise trained as the flag file says.
PLAIN_GAN = dict(use_encoder=False, augment_shift=0.0, augment_rotate=0.0, augment_shear=0.0, augment_colour=0.0,
                 real_data_weight=0.0,
                 starts=1)
# Plain-GAN baselines of the paper's synthetic experiment: z ~ prior in R^10 (the paper's N(0, I_10)), no encoder.
BASELINES = {"gaussian": "GAN, Gaussian prior N(0, I_10), + bp + k-means",
             "uniform": "GAN, uniform prior U(-1, 1)^10, + bp + k-means",
             "gmm": "GAN, 10-component GMM prior, + bp + k-means"}


def define_flags():
  config_flags.define_config_flags()
  flags.adopt_module_key_flags(config_flags)  # listed by --help, not only --helpfull
  flags.DEFINE_enum("experiment", None, list(EXPERIMENTS), "Which of the paper's experiments to run.")
  flags.DEFINE_string("output", None, "--experiment=interpolation: the PNG to write (default MODEL_DIR/images/"
                      "interpolation_pairs.png).")
  flags.DEFINE_integer("interpolation_steps", 10, "--experiment=interpolation: images per row, t = 0..1.")


def _header(first):
  return [f"| {first} | Hungarian ACC | purity | NMI | ARI | train minutes |", "|---|---|---|---|---|---|"]


def _train(base, name, **changes):
  from clustergan_tf import train_lib
  cfg = dataclasses.replace(base, model_dir=os.path.join(base.model_dir, name), **changes)
  return cfg, train_lib.train(cfg)


def baselines(base):
  """ClusterGAN vs plain GANs + backprop decoding + k-means vs k-means on the data (markdown lines)."""
  from clustergan_tf import checkpoint, decode_lib, metrics
  from clustergan_tf.evaluate_lib import raw_kmeans, table_row
  lines = _header(f"method ({base.dataset}, {base.eval_split} split)")
  cfg, report = _train(base, "clustergan", prior="onehot", use_encoder=True)
  minutes = f"{report['train_minutes']:.1f}"
  lines.append(table_row("ClusterGAN, encoder argmax", report["results"]["argmax"], minutes))
  lines.append(table_row("ClusterGAN, encoder + k-means", report["results"]["kmeans"], minutes))
  t = checkpoint.load(cfg.model_dir)
  x, y = t.data.split(cfg.eval_split)
  out = decode_lib.decode(t.model.generator, x, cfg.num_clusters, cfg.latent_dim, cfg.sigma, steps=cfg.decode_steps,
                          seed=cfg.seed, shares=t.model.learned_share_values())
  lines.append(table_row("ClusterGAN, bp winning restart", metrics.all_metrics(y, out["restart"]), minutes))
  for kind, name in BASELINES.items():
    _, report = _train(base, f"gan_{kind}", **dict(PLAIN_GAN, prior=kind, latent_dim=10))
    lines.append(table_row(name, report["results"]["kmeans"], f"{report['train_minutes']:.1f}"))
  lines.append(table_row("k-means on the data", raw_kmeans(t.data, base.eval_split, base.num_clusters), ""))
  return lines


def mixture_fit(samples, means, radius):
  """How a set of samples [N, D] matches a mixture with means [K, D]: (mean distance to the nearest
  mean, share of samples within `radius` of a mean, number of means that are some sample's nearest)."""
  d = np.linalg.norm(samples[:, None, :] - means[None], axis=2)
  nearest = d.min(axis=1)
  return float(nearest.mean()), float(np.mean(nearest <= radius)), int(len(np.unique(d.argmin(axis=1))))


def lemma(base):
  """Linear G = W z_n + A z_c + b from the one-hot prior vs from a Gaussian prior (markdown lines)."""
  from clustergan_tf import checkpoint, metrics, prior, seeds
  variants = {"one-hot prior (ClusterGAN), linear G": dict(prior="onehot"),
              "Gaussian prior N(0, I), linear G": dict(PLAIN_GAN, prior="gaussian")}
  lines = ["| linear generator | mean distance to nearest mixture mean | share within the data's radius | "
           "mixture means hit | test ACC (argmax or bp + k-means) |", "|---|---|---|---|---|"]
  dim = int(np.prod(base.load_data().data_shape))
  for name, changes in variants.items():
    # z_n as wide as the data, so that a linear G could match each component's covariance exactly
    cfg, report = _train(base, name.split(" ")[0].replace("-", ""), linear_generator=True, latent_dim=dim, **changes)
    t = checkpoint.load(cfg.model_dir)
    x, y = t.data.split("train")
    x, y = x[y != metrics.UNLABELLED], y[y != metrics.UNLABELLED]  # each class's rows
    x = x.reshape(len(x), -1)  # distances between whole samples (images too)
    classes, index = np.unique(y, return_inverse=True)  # the class ids present, whatever K is
    means = np.stack([x[index == i].mean(axis=0) for i in range(len(classes))])
    radius = float(np.quantile(np.linalg.norm(x - means[index], axis=1), 0.99))  # 99% of real points lie within
    key = seeds.key(cfg.seed, seeds.LEMMA_SAMPLES)
    zn, zc, _ = prior.sample(5000, cfg.latent_dim, cfg.num_clusters, cfg.sigma, key,
                             cfg.prior)
    fake = t.model.generator([zn, zc], training=False).numpy().reshape(5000, -1)
    dist, share, hit = mixture_fit(fake, means, radius)
    method = "argmax" if "argmax" in report["results"] else "kmeans"
    lines.append(f"| {name} | {dist:.3f} | {share:.3f} | {hit}/{len(means)} | "
                 f"{report['results'][method]['acc']:.4f} ({method}) |")
  real_dist, real_share, real_hit = mixture_fit(x[:5000], means, radius)
  lines.append(f"| (real training data) | {real_dist:.3f} | {real_share:.3f} | {real_hit}/{len(means)} | |")
  return lines


def interpolation(model_dir, output, steps, moved=None):
  """Writes a PNG: row a is G(z_n, (1 - t) e_a + t e_(a+1 mod K)), t = 0..1. Returns its path. moved: where the
  model's data lies now (checkpoint.load)."""
  from clustergan_tf import checkpoint, files, prior, visualize
  from clustergan_tf.errors import UsageError
  if steps < 2:
    raise UsageError(f"--interpolation_steps={steps} must be at least 2 (t = 0 and t = 1)")
  path = output or os.path.join(model_dir, "images", "interpolation_pairs.png")
  files.check_output_path(path, "output", ("png",))  # before loading and drawing
  t = checkpoint.load(model_dir, moved=moved)
  cfg, data, model = t.cfg, t.data, t.model
  if not prior.feeds_cluster(cfg.prior) or visualize.image_shape(data.data_shape) is None:
    raise UsageError(f"--model_dir={model_dir}: interpolation needs a one-hot-prior model of drawable data "
                     f"(images or square vectors); this one has --prior={cfg.prior}, data shape {data.data_shape}")
  rows = [visualize.interpolation(model.generator, data.data_shape, cfg.latent_dim, cfg.num_clusters, cfg.sigma,
                                  k_from=a, k_to=(a + 1) % cfg.num_clusters, steps=steps, rows=1, seed=a)
          for a in range(cfg.num_clusters)]
  files.make_parent(path)
  visualize.write_png(np.concatenate(rows, axis=0), path)
  return path


def main(argv):
  from clustergan_tf import data as data_lib
  from clustergan_tf.errors import UsageError
  if FLAGS.experiment is None:
    raise UsageError("--experiment is required: baselines, lemma or interpolation")
  if FLAGS.experiment == "interpolation":
    print(f"wrote {interpolation(FLAGS.model_dir, FLAGS.output, FLAGS.interpolation_steps, config_flags.moved_data())}")
    return
  base = config_flags.config_from_flags()
  missing = data_lib.labels_missing(base.dataset, base.data_path, base.labels_path)
  if missing:
    raise UsageError(f"--experiment={FLAGS.experiment} scores against labels: {missing}")
  lines = baselines(base) if FLAGS.experiment == "baselines" else lemma(base)
  print(f"\n{FLAGS.experiment} experiment, {base.dataset}, seed {base.seed}, {base.train_steps} steps:\n")
  print("\n".join(lines))


if __name__ == "__main__":
  define_flags()
  cli.run(main, trains=True)
