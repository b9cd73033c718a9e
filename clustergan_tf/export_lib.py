"""Exports a trained ClusterGAN for serving: SavedModels in TF Serving's layout and TFLite files.

  EXPORT/encoder/<version>/    serving_default: images|features -> cluster, cluster_probs, zn, confidence,
                                                                    outlier_score (the encoder carries G for it)
                               kmeans:          images|features -> cluster (nearest exported centroid)
  EXPORT/generator/<version>/  serving_default: zn, zc -> images;  sample: cluster, seed -> images;
                               sample_prior: count, seed -> images, cluster (in the prior's shares)
  EXPORT/tflite/encoder_{float32,float16,dynamic,int8}.tflite, generator_float32.tflite,
                encoder_outlier_score_{float32,float16}.tflite (E and G: the outputs above with outlier_score)
  EXPORT/models.config         TF Serving model_config_list for both

A version directory is written under a temporary name and renamed when complete, so a
running TF Serving never loads half a model.
"""

import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from clustergan_tf import evaluate_lib, files, networks, outliers, prior, seeds
from clustergan_tf.errors import UsageError

TFLITE_ENCODERS = ("float32", "float16", "dynamic", "int8")
TFLITE_OUTLIER_ENCODERS = ("float32", "float16")  # dynamic-range and int8 scores are coarse (BUILD_NOTES)


def tflite_encoder_kinds(data):
  """The TFLite encoders written for this data: all four, or float32 and float16 alone for a --standardize model,
  whose in-graph standardisation of raw features on mixed scales int8 weights or inputs cannot hold (a mixture of
  features scaled 0.01 to 1000: 41-43% cluster agreement against 100% in float)."""
  return TFLITE_ENCODERS if data.standardization is None else ("float32", "float16")


def _encode(encoder, x, generator=None, outlier_reference=None):
  """x [B, *data_shape] -> {"cluster", "cluster_probs", "zn", "confidence"[, "outlier_score"]}: the serving
  outputs (outlier_score when G and the outlier reference are given; see outliers.py)."""
  out = encoder(x, training=False)
  probs = tf.nn.softmax(out["zc_logits"])
  served = {"cluster": tf.argmax(probs, axis=1, output_type=tf.int64), "cluster_probs": probs,
            "zn": out["zn"], "confidence": tf.reduce_max(probs, axis=1)}
  if generator is not None and outlier_reference is not None:
    served["outlier_score"] = outliers.score(outliers.parts_of(generator, encoder, x), outlier_reference)
  return served


def _check_shape(x, name, dims):
  """Serving-time guard (a loaded signature does not enforce its input's shape): x must be [batch, *dims]."""
  want = ",".join(str(d) for d in dims)
  got = tf.strings.reduce_join(tf.strings.as_string(tf.shape(x)), separator=",")
  ok = tf.logical_and(tf.equal(tf.rank(x), len(dims) + 1),
                      tf.equal(tf.strings.reduce_join(tf.strings.as_string(tf.shape(x)[1:]), separator=","), want))
  return tf.debugging.Assert(ok, [tf.strings.join([f"{name} must have shape [batch, {want}]; got [", got, "]"])])


def _check_finite(x, name):
  """Serving-time guard: no NaN or Inf (they would come back as NaN clusters' probabilities without a word)."""
  flat = tf.reshape(x, [-1])  # reduced over one axis: valid at any rank, should it run before the shape check
  return tf.debugging.Assert(tf.reduce_all(tf.math.is_finite(flat)), [f"{name} must not hold NaN or Inf"])


def _guarded(x, *checks):
  """x once every check (a function of nothing, returning an Assert) has passed, in order."""
  for check in checks:
    with tf.control_dependencies([check()]):
      x = tf.identity(x)
  return x


def range_checked(data):
  """Whether served inputs must lie in [0, 1]: images and digits (a client who forgot to scale them sends 0-255 or
  0-16), not vectors whose training rows happened to (new rows a little outside are data, for outlier_score)."""
  return data.bounded and (len(data.data_shape) == 3 or data.scaling is not None)


def _check_range(x, name, scaling):
  """Serving-time guard: data must lie in [0, 1], the range the model was trained on, scaled as in training."""
  flat = tf.reshape(x, [-1])  # as in _check_finite
  ok = tf.logical_and(tf.reduce_all(flat >= 0.0), tf.reduce_all(flat <= 1.0))
  return tf.debugging.Assert(ok, [f"{name} must hold values in [0, 1]: {scaling or 'scaled as the training data'}"])


def encoder_functions(encoder, data_shape, unit_range, kmeans_centroids=None, beta_n=1.0, checks=True, generator=None,
                      outlier_reference=None, standardization=None, scaling=None):
  """tf.functions for the encoder's signatures: {"serving_default": fn, ["kmeans": fn]}; serving_default
  also returns outlier_score when G and the outlier reference are given. standardization (mean [D],
  std [D]) of --standardize is applied to the raw inputs first, so clients send their data as it is;
  unit_range (range_checked): inputs must lie in [0, 1]; scaling (data.SCALING) tells a client who sends values
  outside [0, 1] how the training data was scaled."""
  name = networks.input_name(data_shape)
  spec = tf.TensorSpec([None, *data_shape], tf.float32, name=name)

  def guarded(x):
    """Clear serving-time errors: shape first (a loaded signature does not enforce it), then NaN/Inf, then range."""
    if not checks:
      return x
    return _guarded(x, lambda: _check_shape(x, name, data_shape), lambda: _check_finite(x, name),
                    *([lambda: _check_range(x, name, scaling)] if unit_range else []))

  def prepared(x):
    return standardized(guarded(x), standardization)

  @tf.function(input_signature=[spec])
  def serve(x):
    return _encode(encoder, prepared(x), generator, outlier_reference)

  fns = {"serving_default": serve}
  if kmeans_centroids is not None:
    centroids = tf.constant(np.asarray(kmeans_centroids, np.float32))

    @tf.function(input_signature=[spec])
    def kmeans(x):
      out = _encode(encoder, prepared(x))
      feats = evaluate_lib.kmeans_features(out["zn"], out["cluster_probs"], beta_n)
      d2 = tf.reduce_sum(tf.square(feats[:, None, :] - centroids[None]), axis=-1)
      return {"cluster": tf.argmin(d2, axis=1, output_type=tf.int64)}

    fns["kmeans"] = kmeans
  return fns


def standardized(x, standardization):
  """Raw inputs x [N, D] (numpy or tensor) as the model sees them: --standardize's (mean [D], std [D])
  applied; x itself when there is none."""
  if standardization is None:
    return x
  mean, std = standardization
  return (x - mean) / std


def raw_inputs(x, data):
  """Rows x of a split as a client sends them: undoes --standardize (the exported encoder redoes it)."""
  if data.standardization is None:
    return x
  mean, std = data.standardization
  return (x * std + mean).astype(np.float32)


def generator_functions(generator, latent_dim, num_clusters, sigma, shares=None, standardization=None):
  """tf.functions for the generator's signatures: serving_default (zn, zc), sample (cluster, seed) and
  sample_prior (count, seed: clusters drawn in the prior's shares [K], uniform when None). With --standardize's
  (mean [D], std [D]) G's rows come back in the raw features' units, the ones the exported encoder takes."""

  def draw(zn, zc):
    x = generator([zn, zc], training=False)
    if standardization is None:
      return x
    mean, std = (tf.constant(np.asarray(v, np.float32)) for v in standardization)
    return x * std + mean

  @tf.function(input_signature=[tf.TensorSpec([None, latent_dim], tf.float32, name="zn"),
                                tf.TensorSpec([None, num_clusters], tf.float32, name="zc")])
  def serve(zn, zc):
    zn = _guarded(zn, lambda: _check_shape(zn, "zn", [latent_dim]), lambda: _check_shape(zc, "zc", [num_clusters]),
                  lambda: tf.debugging.Assert(tf.equal(tf.shape(zn)[0], tf.shape(zc)[0]),
                                              ["zn and zc must have the same batch size"]))
    return {"images": draw(zn, zc)}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.int32, name="cluster"),
                                tf.TensorSpec([], tf.int32, name="seed")])
  def sample(cluster, seed):
    tf.debugging.assert_less(cluster, num_clusters, message=f"cluster must be < {num_clusters}")
    tf.debugging.assert_non_negative(cluster, message="cluster must be >= 0")
    s = tf.stack([tf.cast(seed, tf.int64), tf.constant(seeds.SERVE_SAMPLE, tf.int64)])
    zn = sigma * tf.random.stateless_normal([tf.shape(cluster)[0], latent_dim], s)
    return {"images": draw(zn, tf.one_hot(cluster, num_clusters))}

  @tf.function(input_signature=[tf.TensorSpec([], tf.int32, name="count"), tf.TensorSpec([], tf.int32, name="seed")])
  def sample_prior(count, seed):
    count = _guarded(count, lambda: tf.debugging.Assert(count >= 0, ["count must be >= 0"]))
    s = tf.stack([tf.cast(seed, tf.int64), tf.constant(seeds.SERVE_SAMPLE, tf.int64)])
    zn, zc, k = prior.sample(count, latent_dim, num_clusters, sigma, s, shares=shares)
    return {"images": draw(zn, zc), "cluster": k}

  return {"serving_default": serve, "sample": sample, "sample_prior": sample_prior}


def write_saved_model(models, functions, path):
  """Writes a SavedModel with the given signatures (keras.export.ExportArchive) to path; models: the Keras
  models (one or a list) whose variables the functions use."""
  archive = keras.export.ExportArchive()
  for model in models if isinstance(models, (list, tuple)) else [models]:
    archive.track(model)
  for name, fn in functions.items():
    archive.add_endpoint(name, fn)
  archive.write_out(path, verbose=False)


def next_version(base):
  versions = [int(d) for d in os.listdir(base) if d.isdigit()] if os.path.isdir(base) else []
  return max(versions, default=0) + 1


def convert_encoder_tflite(saved_model_dir, kind, representative=None):
  """Converts the encoder SavedModel's serving_default to a builtin-ops-only TFLite flatbuffer."""
  conv = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=["serving_default"])
  conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
  if kind in ("float16", "dynamic", "int8"):
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
  if kind == "float16":
    conv.target_spec.supported_types = [tf.float16]
  if kind == "int8":
    if representative is None:
      raise ValueError("int8 needs representative data")
    conv.representative_dataset = lambda: ([r[None].astype(np.float32)] for r in representative)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
  return conv.convert()


def models_config(base_path="/models"):
  """TF Serving's model_config_list text for the encoder and the generator."""
  entries = "".join(
      f'  config {{\n    name: "{n}"\n    base_path: "{base_path}/{n}"\n    model_platform: "tensorflow"\n  }}\n'
      for n in ("encoder", "generator"))
  return "model_config_list {\n" + entries + "}\n"


def export(model, cfg, data, export_dir, version=None, kmeans_centroids=None, tflite=True,
           representative_size=500, outlier_reference=None):
  """Writes encoder and generator SavedModels (+ TFLite files, models.config). Returns {name: path}.
  With an outlier reference (outliers.fit) the encoder's serving_default also returns outlier_score
  and the encoder SavedModel carries G; so do two more TFLite files, encoder_outlier_score_{float32,float16}
  (the other TFLite encoders stay E alone: 4-5x faster)."""
  data_shape = data.data_shape
  enc_base, gen_base = os.path.join(export_dir, "encoder"), os.path.join(export_dir, "generator")
  if version is None:
    version = max(next_version(enc_base), next_version(gen_base))
  enc_fns = encoder_functions(model.encoder, data_shape, range_checked(data), kmeans_centroids, cfg.beta_n,
                              generator=model.generator, outlier_reference=outlier_reference,
                              standardization=data.standardization, scaling=data.scaling)
  gen_fns = generator_functions(model.generator, cfg.latent_dim, cfg.num_clusters, cfg.sigma,
                                model.learned_share_values(), data.standardization)
  served = [model.encoder, model.generator] if outlier_reference is not None else model.encoder
  # Everything is written beside its place first and moved in at the end: a crash or kill while writing (the TFLite
  # conversions take minutes) leaves the previous export as it was.
  with files.Staging() as staging:
    tflite_dir = staging.directory(export_dir, "tflite", merge=True) if tflite else None
    try:
      gen_dir, enc_dir = staging.directory(gen_base, str(version)), staging.directory(enc_base, str(version))
    except FileExistsError as e:
      raise UsageError(f"{e} exists already; pass another --version or omit it for the next free one") from None
    write_saved_model(served, enc_fns, enc_dir)
    write_saved_model(model.generator, gen_fns, gen_dir)
    names = {}
    if tflite:
      os.makedirs(tflite_dir)
      names = _write_tflite(model, data, tflite_dir, gen_fns, served, outlier_reference, representative_size)
    files.atomic_bytes(os.path.join(export_dir, "models.config"), models_config().encode())  # the same every time
    try:
      staging.publish()  # generator/<v>, encoder/<v>, then the TFLite files
    except FileExistsError as e:
      raise UsageError(f"{e} appeared while this export ran (another export to --export_dir?); nothing was "
                       "published: export again") from None
  paths = {"encoder": os.path.join(enc_base, str(version)), "generator": os.path.join(gen_base, str(version))}
  paths.update({key: os.path.join(export_dir, "tflite", name) for key, name in names.items()})
  return paths


def _write_tflite(model, data, tflite_dir, gen_fns, served, outlier_reference, representative_size):
  """Writes the TFLite files into tflite_dir; returns {key: file name} (encoder_<kind>, encoder_outlier_score_<kind>,
  generator_float32). The converter reads SavedModels without the serving-time checks (builtin ops only: no Assert)."""
  names = {}
  with tempfile.TemporaryDirectory() as tmp:
    def lite_ready(name, models, **outliers_by):
      """A SavedModel of serving_default without the serving-time checks, for the converter."""
      path = os.path.join(tmp, name)
      write_saved_model(models, {"serving_default": encoder_functions(
          model.encoder, data.data_shape, range_checked(data), checks=False, standardization=data.standardization,
          **outliers_by)["serving_default"]}, path)
      return path

    x_train = data.split("train")[0]
    rep = raw_inputs(x_train[seeds.rows(len(x_train), representative_size, 0)], data)
    encoders = [("encoder", lite_ready("encoder", model.encoder), tflite_encoder_kinds(data))]
    if outlier_reference is not None:  # E + G, 4-5x E's time: files of their own (int8 scrambles scores)
      encoders.append(("encoder_outlier_score", lite_ready("encoder_outlier_score", served, generator=model.generator,
                                                           outlier_reference=outlier_reference),
                       TFLITE_OUTLIER_ENCODERS))
    for name, saved, kinds in encoders:
      for kind in kinds:
        names[f"{name}_{kind}"] = f"{name}_{kind}.tflite"
        with open(os.path.join(tflite_dir, names[f"{name}_{kind}"]), "wb") as f:
          f.write(convert_encoder_tflite(saved, kind, rep))
    gen_plain = os.path.join(tmp, "generator")
    write_saved_model(model.generator, {"serving_default": gen_fns["serving_default"]}, gen_plain)
    conv = tf.lite.TFLiteConverter.from_saved_model(gen_plain, signature_keys=["serving_default"])
    names["generator_float32"] = "generator_float32.tflite"
    with open(os.path.join(tflite_dir, names["generator_float32"]), "wb") as f:
      f.write(conv.convert())
  return names
