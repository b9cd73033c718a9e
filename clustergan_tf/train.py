"""Trains ClusterGAN: `python -m clustergan_tf.train --flagfile=mnist.flags [--train_steps=...]`.

Later flags override the flag file. Writes checkpoints, TensorBoard logs,
metrics.json and assignments.npz under --model_dir; rerunning resumes.
"""

from clustergan_tf import cli  # noqa: F401  (quiet TF start-up first)

import dataclasses
import signal
import sys

from absl import flags

from clustergan_tf import config as config_lib
from clustergan_tf import data as data_lib
from clustergan_tf import distribute, losses, networks, prior

D = config_lib.Config()
f = flags
f.DEFINE_enum("dataset", D.dataset, data_lib.DATASETS, "Data set to cluster.")
f.DEFINE_enum("data_source", D.data_source, data_lib.SOURCES,
              "mnist/fashion_mnist: tensorflow-datasets ('tfds', downloads once) or a directory of IDX files ('idx').")
f.DEFINE_string("data_dir", D.data_dir, "IDX directory (--data_source=idx) or TFDS data_dir (--data_source=tfds).")
f.DEFINE_string("data_path", D.data_path, "--dataset=vectors: a .npy or .csv file of shape [rows, features].")
f.DEFINE_string("labels_path", D.labels_path, "--dataset=vectors: optional integer labels (.npy/.csv), for evaluation only.")
f.DEFINE_integer("num_clusters", D.num_clusters, "K: number of clusters (one-hot size of z_c).")
f.DEFINE_integer("latent_dim", D.latent_dim, "Dimension of the continuous latent z_n.")
f.DEFINE_float("sigma", D.sigma, "Standard deviation of z_n ~ N(0, sigma^2 I); the paper uses 0.1.")
f.DEFINE_enum("prior", D.prior, prior.PRIORS,
              "Prior of z: 'onehot' (ClusterGAN: z_n ~ N(0, sigma^2 I) + one-hot z_c); the paper's plain-GAN "
              "baselines 'gaussian' N(0, I), 'uniform' U(-1, 1), 'gmm' (K components of std sigma); baselines feed G z_c = 0.")
f.DEFINE_boolean("use_encoder", D.use_encoder,
                 "Train the encoder E with the cycle losses (ClusterGAN). --nouse_encoder: a plain GAN, evaluated by "
                 "backprop decoding (Algorithm 1) + k-means, the paper's 'GAN with bp' rows.")
f.DEFINE_integer("decode_steps", D.decode_steps, "Adam steps of the backprop decoding that evaluates --nouse_encoder models.")
f.DEFINE_enum("critic_norm", D.critic_norm, networks.NORMS,
              "Normalisation in the critic D: none (the paper's), batch (DCGAN-style, not with wgan-gp), layer, "
              "or spectral (spectral norm on every weight layer, the usual partner of --loss=hinge).")
f.DEFINE_boolean("linear_generator", D.linear_generator,
                 "G(z) = W z_n + A z_c + b, no hidden layer (the paper's linear-generator lemma).")
f.DEFINE_float("beta_n", D.beta_n, "Weight of the z_n cycle loss ||z_n - E_n(G(z))||^2 (mean over dims).")
f.DEFINE_float("beta_c", D.beta_c, "Weight of the z_c cycle cross-entropy.")
f.DEFINE_enum("loss", D.loss, losses.LOSS_TYPES,
              "Adversarial loss: 'wgan-gp' (the paper's), non-saturating 'gan', or 'hinge'.")
f.DEFINE_float("gp_weight", D.gp_weight, "Gradient-penalty weight (wgan-gp); the paper uses 10.")
f.DEFINE_integer("n_critic", D.n_critic, "Critic updates per generator+encoder update.")
f.DEFINE_float("r1_weight", D.r1_weight, "gamma of an R1 penalty gamma/2 ||grad_x D(x_real)||^2 (0: off, the paper's).")
f.DEFINE_integer("r1_every", D.r1_every, "Lazy R1: apply it every N critic updates, scaled by N (StyleGAN2: 16).")
f.DEFINE_float("ema_decay", D.ema_decay,
               "Exponential moving average of G and E weights, used for evaluation and export (0: off; e.g. 0.999).")
f.DEFINE_float("augment_shift", D.augment_shift,
               "E recovers z_c from G(z) shifted at random by up to this many pixels (images; 0: off, the paper's).")
f.DEFINE_float("augment_rotate", D.augment_rotate,
               "... and rotated at random by up to this many degrees (images; 0: off).")
f.DEFINE_float("real_data_weight", D.real_data_weight,
               "Beyond the paper: E also learns from real images (cluster balance, confidence, consistency under "
               "small moves), with this weight. 0: the paper's encoder, trained on G(z) only.")
f.DEFINE_float("real_balance_weight", D.real_balance_weight,
               "Real-data term: weight of -H(mean softmax(E_c(x))) (use all clusters evenly).")
f.DEFINE_float("real_confidence_weight", D.real_confidence_weight,
               "Real-data term: weight of mean H(softmax(E_c(x))) (confident assignments).")
f.DEFINE_float("real_consistency_weight", D.real_consistency_weight,
               "Real-data term: weight of CE(softmax(E_c(x)), softmax(E_c(moved x))) (stable under small shifts/rotations).")
f.DEFINE_list("hidden_units", list(map(str, D.hidden_units)), "MLP layer widths for vector data, e.g. 256,256.")
f.DEFINE_boolean("mlp_batchnorm", D.mlp_batchnorm, "BatchNorm in the MLP generator (vector data).")
f.DEFINE_float("learning_rate", D.learning_rate, "Adam learning rate of G+E (and of D unless --d_learning_rate).")
f.DEFINE_float("d_learning_rate", D.d_learning_rate, "Adam learning rate of the critic; default: --learning_rate.")
f.DEFINE_float("adam_beta1", D.adam_beta1, "Adam beta1 for both optimizers.")
f.DEFINE_float("adam_beta2", D.adam_beta2, "Adam beta2 for both optimizers.")
f.DEFINE_integer("batch_size", D.batch_size, "Global batch size (over all replicas).")
f.DEFINE_integer("train_steps", D.train_steps, "Generator steps to train in total (a resumed run continues to it).")
f.DEFINE_float("time_budget_minutes", D.time_budget_minutes,
               "Stop when this many minutes of training are spent (evaluations excluded; kept across resumes), "
               "or at --train_steps, whichever comes first. 0: no budget.")
f.DEFINE_integer("seed", D.seed, "Seed of weights, noise and data order.")
f.DEFINE_string("model_dir", D.model_dir, "Directory for checkpoints, logs, config.json, metrics.json, assignments.npz.")
f.DEFINE_string("logdir", D.logdir, "TensorBoard log directory (default: MODEL_DIR/logs; 'none': no TensorBoard output).")
f.DEFINE_enum("strategy", D.strategy, distribute.STRATEGIES,
              "tf.distribute strategy: default (one device), mirrored (local GPUs or --cpu_replicas), multi_worker (TF_CONFIG).")
f.DEFINE_integer("cpu_replicas", D.cpu_replicas, "With --strategy=mirrored on a CPU-only machine: split the CPU into N replicas.")
f.DEFINE_integer("steps_per_loop", D.steps_per_loop, "Generator steps per tf.function call (logging granularity).")
f.DEFINE_enum("precision", D.precision, config_lib.PRECISIONS,
              "Compute precision: float32 or mixed_bfloat16 (bf16 compute, float32 weights: CPUs with AMX/AVX512_BF16, GPUs).")
f.DEFINE_boolean("deterministic", D.deterministic,
                 "Op determinism (tf.config.experimental.enable_op_determinism): same seed -> bit-identical weights.")
f.DEFINE_boolean("jit_compile", D.jit_compile, "XLA-compile the train step (--nojit_compile to debug).")
f.DEFINE_integer("eval_every", D.eval_every, "Evaluate every N generator steps (0: only at the end).")
f.DEFINE_integer("checkpoint_every", D.checkpoint_every, "Checkpoint every N generator steps (and at the end).")
f.DEFINE_enum("eval_split", D.eval_split, data_lib.SPLITS, "Split to evaluate and write metrics for.")
FLAGS = flags.FLAGS


def config_from_flags():
  """Config with every field taken from the flag of the same name."""
  values = {}
  for field in dataclasses.fields(config_lib.Config):
    v = FLAGS[field.name].value
    if field.name == "hidden_units":
      from clustergan_tf.errors import UsageError
      try:
        v = tuple(int(u) for u in v)
      except ValueError:
        raise UsageError(f"--hidden_units={','.join(v)} must be comma-separated integers, e.g. 256,256") from None
    values[field.name] = v
  return config_lib.Config(**values)


def main(argv):
  from clustergan_tf import train_lib
  signal.signal(signal.SIGTERM, signal.default_int_handler)  # preemption: checkpoint, then exit
  try:
    train_lib.train(config_from_flags())
  except train_lib.TrainingDiverged as e:
    print(f"error: training diverged: {e}", file=sys.stderr)
    sys.exit(3)
  except train_lib.TrainingInterrupted as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(130)
  except KeyboardInterrupt:  # outside the training loop: loading, building, final evaluation
    print("error: interrupted; rerun the same command to resume from the last checkpoint", file=sys.stderr)
    sys.exit(130)


if __name__ == "__main__":
  cli.run(main)
