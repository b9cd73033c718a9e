"""Exports a trained model for TF Serving and TFLite, or checks an export.

  python -m clustergan_tf.export --model_dir=DIR --export_dir=export [--version=N] [--parity]
  python -m clustergan_tf.export --check=export
"""

from clustergan_tf import cli  # noqa: F401  (quiet TF start-up first)

from absl import flags

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("model_dir", None, "Trained model directory (config.json, ckpt/).")
  flags.DEFINE_string("export_dir", "export", "Base directory: encoder/<v>/, generator/<v>/, tflite/, models.config.")
  flags.DEFINE_integer("version", None, "Version directory to write; default: the next free integer.")
  flags.DEFINE_boolean("tflite", True, "Also write TFLite files (encoder float32/float16/dynamic/int8, generator).")
  flags.DEFINE_boolean("parity", False, "After exporting, compare every exported form with the Keras encoder "
                       "on the evaluation split and print max |probs diff| and cluster agreement.")
  flags.DEFINE_boolean("benchmark", False, "After exporting, print encoder images/s at batch 1 and 256 for the "
                       "SavedModel and each TFLite file.")
  from clustergan_tf import config_flags
  config_flags.define_moved_data_flags()
  flags.adopt_module_key_flags(config_flags)  # listed by --help
  flags.DEFINE_string("check", None, "Validate this export directory (tags, signatures, dtypes, shapes) and exit.")


def main(argv):
  from clustergan_tf import quiet
  with quiet.stderr_without(quiet.TFLITE_NOISE):
    export_and_check()


def export_and_check():
  """The command: --check, or export and then --parity / --benchmark."""
  from clustergan_tf import serving
  from clustergan_tf.errors import UsageError
  if FLAGS.check:
    for line in serving.check_export(FLAGS.check):
      print(line)
    print(f"{FLAGS.check}: OK")
    return
  if not FLAGS.model_dir:
    raise UsageError("--model_dir is required (or --check=EXPORT_DIR to validate an export)")
  if FLAGS.version is not None and FLAGS.version < 1:
    raise UsageError(f"--version={FLAGS.version} must be a positive integer")
  from clustergan_tf import checkpoint, config_flags, evaluate_lib, export_lib, files, outliers
  t = checkpoint.load(FLAGS.model_dir, moved=config_flags.moved_data())
  files.writable_directory(FLAGS.export_dir, "export_dir")  # before the work, not after it
  cfg, data, model = t.cfg, t.data, t.model
  if not cfg.is_clustergan:
    raise UsageError(f"--model_dir={FLAGS.model_dir} was trained with --prior={cfg.prior} "
                     f"--{'' if cfg.use_encoder else 'no'}use_encoder: export serves the encoder of a one-hot-prior "
                     "ClusterGAN; cluster this model's data with python -m clustergan_tf.decode")
  x_train = data.split("train")[0]
  zn, probs = evaluate_lib.encode(model.encoder, x_train)
  km, _ = evaluate_lib.fit_numbered_kmeans(zn, probs, cfg.num_clusters, cfg.beta_n)  # ids as in assignments.npz
  reference = outliers.fit(model.generator, model.encoder, x_train, seed=cfg.seed)  # as in metrics.json
  paths = export_lib.export(model, cfg, data, FLAGS.export_dir, FLAGS.version, km.cluster_centers_, FLAGS.tflite,
                            outlier_reference=reference)
  for name, path in paths.items():
    print(f"{name}: {path}")
  left_out = [k for k in export_lib.TFLITE_ENCODERS if k not in export_lib.tflite_encoder_kinds(data)]
  if FLAGS.tflite and left_out:
    print(f"note: no {' or '.join(left_out)} TFLite encoder for a --standardize model: quantization cannot hold "
          "its raw features' scales; use the float32 or float16 file")
  if not (FLAGS.parity or FLAGS.benchmark):
    return
  x = export_lib.raw_inputs(data.split(cfg.eval_split)[0], data)  # as clients send them
  candidates = {"saved_model": serving.saved_model_encoder(paths["encoder"]),
                "tf_serving_session": serving.session_encoder(paths["encoder"])}
  candidates.update({f"tflite_{name.removeprefix('encoder_')}": serving.tflite_encoder(path)
                     for name, path in paths.items() if name.startswith("encoder_")})  # every TFLite encoder written
  if FLAGS.parity:
    def keras_fn(b):
      b = export_lib.standardized(b, data.standardization)
      return {k: v.numpy() for k, v in export_lib._encode(model.encoder, b).items()}
    print(f"\nparity with the Keras encoder on {data.name} {cfg.eval_split} (n={len(x)}):")
    print("| form | max abs diff of cluster_probs | cluster agreement |\n|---|---|---|")
    report = serving.parity(keras_fn, candidates, x)
    for name, (diff, agree) in report.items():
      print(f"| {name} | {diff:.2e} | {100 * agree:.2f}% |")
    poor = [name for name, (_, agree) in report.items() if agree < 0.9]
    if poor:
      print(f"note: {', '.join(poor)} agree with the Keras encoder on fewer than 90% of the rows' clusters: where E "
            "is unsure (an untrained model's nearly equal cluster probabilities) coarse outputs break the ties "
            "differently; serve the float32 or float16 file, or train longer")
  if FLAGS.benchmark:
    print("\nencoder throughput (images/s, this machine, one process):")
    print("| form | batch 1 | batch 256 |\n|---|---|---|")
    for name, fn in candidates.items():
      print(f"| {name} | {serving.throughput(fn, x, 1):.0f} | {serving.throughput(fn, x, 256):.0f} |")


if __name__ == "__main__":
  define_flags()
  cli.run(main)
