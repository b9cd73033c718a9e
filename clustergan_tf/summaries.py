"""TensorBoard output under LOGDIR (default MODEL_DIR/logs): train and eval scalars, images, HParams, Projector.

  LOGDIR/train/  losses, Wasserstein estimate, gradient penalty, learning rates, steps/s, images/s
  LOGDIR/eval/   acc/purity/nmi/ari per read-out, cluster shares, reconstruction and latent errors,
                 images (K-row sample grid, real vs G(E(x)), interpolation), HParams
  LOGDIR/projector/  Projector: the encoder's latents of the evaluation split (+ labels, sprite); a run of its own
                 (an event file marks it), so TensorBoard shows it also when --logdir holds many runs
"""

import os

import numpy as np
import tensorflow as tf

from clustergan_tf import config as config_lib
from clustergan_tf import prior, seeds, visualize

SPRITE_MAX_SIDE = 8192  # pixels: TensorBoard's Projector refuses a larger sprite
RECONSTRUCTED_ROWS = 20  # real images in the real_vs_reconstruction picture (two rows of ten)


def write_train(writer, step, logs, steps_per_sec, images_per_sec, learning_rates):
  """Scalars of one logging interval (losses averaged over it)."""
  with writer.as_default(step=step):
    for k, v in logs.items():
      tf.summary.scalar(f"loss/{k}", v)
    for name, lr in learning_rates.items():
      tf.summary.scalar(f"learning_rate/{name}", lr)
    tf.summary.scalar("speed/steps_per_sec", steps_per_sec)
    tf.summary.scalar("speed/images_per_sec", images_per_sec)


def cycle_errors(model, x, cfg, num_samples=1000, seed=0):
  """(mean ||x - G(E(x))||_2 over num_samples rows of x (seeds.shown_rows), mean ||z_n - E_n(G(z))||_2 and z_c
  recovery over prior draws)."""
  x = np.asarray(x)[seeds.shown_rows(len(x), num_samples)]
  out = model.encoder(x, training=False)
  x_hat = model.generator([out["zn"], tf.nn.softmax(out["zc_logits"])], training=False)
  recon = tf.reduce_mean(tf.norm(tf.reshape(x - x_hat, [len(x), -1]), axis=1))
  key = seeds.key(seed, seeds.CYCLE_ERRORS)
  zn, zc, k = prior.sample(num_samples, cfg.latent_dim, cfg.num_clusters, cfg.sigma, key)
  back = model.encoder(model.generator([zn, zc], training=False), training=False)
  latent = tf.reduce_mean(tf.norm(zn - back["zn"], axis=1))
  zc_acc = tf.reduce_mean(tf.cast(tf.argmax(back["zc_logits"], 1, output_type=tf.int32) == k, tf.float32))
  return float(recon), float(latent), float(zc_acc)


def pictures(model, data, cfg, x):
  """{name: image [H, W, 1]} of the current model (empty for data that cannot be drawn).

  The cluster pictures need the onehot prior and the encoder; other models get prior samples.
  """
  shape = data.data_shape
  if not cfg.is_clustergan:
    pic = visualize.prior_samples(model.generator, shape, cfg.latent_dim, cfg.num_clusters, cfg.sigma, cfg.prior)
    return {} if pic is None else {"samples": pic}
  pics = {
      "samples_by_cluster": visualize.sample_grid(model.generator, shape, cfg.latent_dim, cfg.num_clusters, cfg.sigma),
      "real_vs_reconstruction": visualize.reconstructions(model.generator, model.encoder,
                                                        x[seeds.shown_rows(len(x), RECONSTRUCTED_ROWS)], shape),
      "interpolation_0_to_1": visualize.interpolation(model.generator, shape, cfg.latent_dim, cfg.num_clusters,
                                                      cfg.sigma),
  }
  return {k: v for k, v in pics.items() if v is not None}


def write_eval(writer, step, report, model, data, cfg, x, pics):
  """Scalars and images of one evaluation. x: the evaluated split's data; pics: `pictures(...)`."""
  cycle = cycle_errors(model, x, cfg) if cfg.is_clustergan else None
  with writer.as_default(step=step):
    for method, values in report["results"].items():
      for k, v in values.items():
        tf.summary.scalar(f"{method}/{k}", v)
    for method, sizes in report["cluster_sizes"].items():
      total = max(sum(sizes), 1)
      for k, n in enumerate(sizes):
        tf.summary.scalar(f"cluster_share_{method}/{k}", n / total)
    for k, v in {**report.get("label_free", {}), **report.get("diagnostics", {})}.items():
      tf.summary.scalar(f"diagnostics/{k}", v)
    if "label_free_score" in report:
      tf.summary.scalar("diagnostics/label_free_score", report["label_free_score"])
    for k, share in enumerate(report.get("prior_shares", [])):
      tf.summary.scalar(f"prior_share/{k}", share)
    for k, v in report.get("outliers", {}).items():
      if isinstance(v, float):
        tf.summary.scalar(f"outliers/{k}", v)
    if cycle:
      for name, value in zip(("reconstruction_error", "latent_error", "zc_recovery"), cycle):
        tf.summary.scalar(f"cycle/{name}", value)
    for name, image in pics.items():
      tf.summary.image(name, image[None], step=step)


def write_hparams(writer, cfg):
  """The run's settings for TensorBoard's HParams dashboard (final metrics are the eval scalars)."""
  from tensorboard.plugins.hparams import api as hp
  with writer.as_default():
    hp.hparams(config_lib.hparams(cfg), trial_id=os.path.basename(os.path.normpath(cfg.model_dir)))


PROJECTOR_RUN = "projector"


def write_projector(logdir, zn, probs, labels, clusters, x, data_shape, max_points=2000):
  """Latents [z_n, softmax(z_c)] (z_n alone when probs is None) of up to max_points examples (seeds.shown_rows) in
  TensorBoard's Projector under LOGDIR/projector/, with metadata (label, cluster) and, for drawable data, a sprite
  image. TensorBoard reads a projector config only in a run's directory (one holding an event file): the directory
  gets one, and no checkpoint lies in LOGDIR itself, which TensorBoard would show for every other run unlabelled."""
  from tensorboard.plugins import projector
  shown = seeds.shown_rows(len(zn), max_points)
  n, zn, labels, clusters, x = len(shown), zn[shown], [labels[i] for i in shown], np.asarray(clusters)[shown], x[shown]
  probs = None if probs is None else probs[shown]
  logdir = os.path.join(logdir, PROJECTOR_RUN)
  os.makedirs(logdir, exist_ok=True)
  writer = tf.summary.create_file_writer(logdir)
  with writer.as_default():
    tf.summary.text("about", f"the encoder's latents of {n} evaluated rows: open the Projector tab", step=0)
  writer.close()
  latents = zn if probs is None else np.concatenate([zn, probs], axis=1)
  embedding = tf.Variable(latents, name="embedding")
  tf.train.Checkpoint(embedding=embedding).save(os.path.join(logdir, "embedding.ckpt"))
  with open(os.path.join(logdir, "metadata.tsv"), "w") as f:
    f.write("label\tcluster\n")
    for i in range(n):
      label = " ".join(str(labels[i]).split())  # a text label's tabs and line breaks would break the columns
      f.write(f"{label}\t{clusters[i]}\n")
  config = projector.ProjectorConfig()
  emb = config.embeddings.add()
  emb.tensor_name = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
  emb.metadata_path = "metadata.tsv"
  if visualize.image_shape(data_shape) is not None:
    images = visualize.as_images(x, data_shape)
    side = int(np.ceil(np.sqrt(n)))
    h, w = images.shape[1:3]
    scale = min(1.0, SPRITE_MAX_SIDE / (side * max(h, w)))  # the Projector refuses larger sprites
    if scale < 1.0:
      h, w = max(1, int(h * scale)), max(1, int(w * scale))
      images = tf.image.resize(images, (h, w), antialias=True).numpy()
    visualize.write_png(visualize.tile(images, side, side, pad=0), os.path.join(logdir, "sprite.png"))
    emb.sprite.image_path = "sprite.png"
    emb.sprite.single_image_dim.extend([w, h])  # the Projector reads [width, height]
  projector.visualize_embeddings(logdir, config)


def save_pngs(model_dir, pics):
  """The evaluation pictures (`pictures(...)`) as PNG files in MODEL_DIR/images/, for users without TensorBoard."""
  if not pics:  # data that cannot be drawn: no empty folder
    return []
  out = os.path.join(model_dir, "images")
  os.makedirs(out, exist_ok=True)
  paths = []
  for name, image in pics.items():
    paths.append(os.path.join(out, f"{name}.png"))
    visualize.write_png(image, paths[-1])
  return paths
