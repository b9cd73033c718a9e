"""Every setting of a run, declared once: default, help text, allowed values, whether it fixes the architecture.

The CLIs derive their flags from these declarations (`config_flags`), `validate` their checks,
checkpoints their resume rule (`ARCHITECTURE`) and TensorBoard its HParams (`hparams`).
Adding a setting touches its field here and the code that uses it, nothing else.
A run's Config is saved as MODEL_DIR/config.json.
"""

import dataclasses
import json
import os

from clustergan_tf import data as data_lib
from clustergan_tf import distribute, files, losses, networks, prior
from clustergan_tf.data import DATASETS, SOURCES, SPLITS
from clustergan_tf.errors import UsageError

PRECISIONS = ("float32", "mixed_bfloat16", "auto")  # bfloat16 needs no loss scaling; float16 would
THREADS = ("auto", "tensorflow")


def setting(default, help, *, choices=None, check=None, why="", architecture=False, hparam=False):
  """A Config field. check(value) -> bool, with `why` completing '--flag=value ...' when it fails (for a list field
  also when a value is no integer);
  architecture: a checkpoint is tied to it (a rerun with another value cannot resume);
  hparam: shown in TensorBoard's HParams dashboard."""
  meta = dict(help=help, choices=choices, check=check, why=why, architecture=architecture, hparam=hparam)
  return dataclasses.field(default=default, metadata=meta)


def _at_least(low, hint=""):
  return dict(check=lambda v: v >= low, why=f"must be >= {low}{hint}")


@dataclasses.dataclass
class Config:
  # -- data
  dataset: str = setting("synthetic", "Data set to cluster.", choices=DATASETS, architecture=True, hparam=True)
  data_source: str = setting("tfds", "mnist/fashion_mnist: tensorflow-datasets ('tfds', downloads once) or a "
                             "directory of IDX files ('idx').", choices=SOURCES)
  data_dir: str | None = setting(None, "IDX directory (--data_source=idx) or TFDS data_dir (--data_source=tfds).")
  data_path: str | None = setting(None, "--dataset=vectors: a .npy or .csv file of shape [rows, features]. "
                                  "--dataset=images: a .npy of images [N, H, W(, C)] (uint8, or numbers in [0, 1]), "
                                  "or a directory of PNG/JPEG/BMP/GIF/WebP files of one size (a subdirectory names "
                                  "its files' class); H and W multiples of 4.")
  labels_path: str | None = setting(None, "--dataset=vectors/images: optional labels (.npy/.csv), one per row of "
                                    "--data_path (per file of a directory, in sorted order): integer ids or text "
                                    "(numbered in sorted order; -1: no label), for evaluation only.")
  image_size: tuple[int, ...] = setting((), "--dataset=images: resize every image to H,W (e.g. 32,32; stretched, "
                                        "not cropped), so that images of several sizes, or sides that are no multiple "
                                        "of 4, can train. Empty: the images as they are.",
                                        check=lambda v: v == () or (len(v) == 2 and min(v) >= 4 and v[0] % 4 == 0
                                                                    and v[1] % 4 == 0),
                                        why="must be H,W: two multiples of 4, e.g. 32,32", architecture=True,
                                        hparam=True)
  standardize: bool = setting(False, "--dataset=vectors: scale every feature to mean 0, std 1 (statistics of the "
                              "training rows).", architecture=True, hparam=True)
  row_image: tuple[int, ...] = setting((), "--dataset=vectors whose rows are flattened images: their shape H,W,C "
                                       "(e.g. 28,28,1; rows in numpy's order of [N, H, W, C] reshaped to [N, -1]), so "
                                       "that --augment_* moves them as images (digits: 8,8,1 by itself). Empty: plain "
                                       "vectors.", check=lambda v: v == () or (len(v) == 3 and min(v) >= 1),
                                       why="must be H,W,C: three positive sizes, e.g. 28,28,1", hparam=True)
  class_imbalance: float = setting(1.0, "Subsample every split of a labelled data set so that class shares fall "
                                   "geometrically, the largest this many times the smallest (12.5 for 10 classes: "
                                   "26% down to 2%), seeded by --data_seed. 1: the data as it is.",
                                   architecture=True, check=lambda v: v >= 1, why="must be >= 1 (1: no subsampling)",
                                   hparam=True)
  data_seed: int = setting(0, "Seed of the --class_imbalance subsample; apart from --seed, so that every training "
                           "seed sees the same rows.", architecture=True, hparam=True)
  exclude_classes: tuple[int, ...] = setting((), "Class ids dropped from the training split only (comma list), to "
                                             "measure how well outlier_score finds a class never seen.",
                                             architecture=True, why="must be class ids (integers): text labels and "
                                             "class subdirectories are numbered in sorted order, as training prints "
                                             "at the start (labels: 0=..., 1=...)", hparam=True)
  # -- prior and losses (the paper's MNIST settings are in mnist.flags)
  num_clusters: int = setting(10, "K: number of clusters (one-hot size of z_c).", architecture=True, hparam=True,
                              check=lambda v: v >= 2, why="must be >= 2 (clustering into one group is no clustering)")
  latent_dim: int = setting(30, "Dimension of the continuous latent z_n.", architecture=True, hparam=True,
                            **_at_least(1))
  sigma: float = setting(0.10, "Standard deviation of z_n ~ N(0, sigma^2 I); the paper uses 0.1.", hparam=True,
                         check=lambda v: v > 0, why="must be > 0 (the paper uses 0.1)")
  prior: str = setting("onehot", "Prior of z: 'onehot' (ClusterGAN: z_n ~ N(0, sigma^2 I) + one-hot z_c); the "
                       "paper's plain-GAN baselines 'gaussian' N(0, I), 'uniform' U(-1, 1), 'gmm' (K components of "
                       "std sigma); baselines feed G z_c = 0.", choices=prior.PRIORS, architecture=True, hparam=True)
  use_encoder: bool = setting(True, "Train the encoder E with the cycle losses (ClusterGAN). --nouse_encoder: a "
                              "plain GAN, evaluated by backprop decoding (Algorithm 1) + k-means, the paper's 'GAN "
                              "with bp' rows.", architecture=True, hparam=True)
  decode_steps: int = setting(1000, "Adam steps of the backprop decoding that evaluates --nouse_encoder models.",
                              **_at_least(1), hparam=True)
  beta_n: float = setting(10.0, "Weight of the z_n cycle loss ||z_n - E_n(G(z))||^2 (mean over dims).", hparam=True,
                          **_at_least(0))
  beta_c: float = setting(10.0, "Weight of the z_c cycle cross-entropy.", hparam=True, **_at_least(0))
  loss: str = setting("wgan-gp", "Adversarial loss: 'wgan-gp' (the paper's), non-saturating 'gan', or 'hinge'.",
                      choices=losses.LOSS_TYPES, hparam=True)
  gp_weight: float = setting(10.0, "Gradient-penalty weight (wgan-gp); the paper uses 10.", **_at_least(0), hparam=True)
  n_critic: int = setting(5, "Critic updates per generator+encoder update.", architecture=True, hparam=True,
                          **_at_least(1))
  # -- fast-recipe options; each off by default (the paper's behaviour)
  r1_weight: float = setting(0.0, "gamma of an R1 penalty gamma/2 ||grad_x D(x_real)||^2 (0: off, the paper's).",
                             hparam=True, **_at_least(0, " (0: no R1 penalty)"))
  r1_every: int = setting(16, "Lazy R1: apply it every N critic updates, scaled by N (StyleGAN2: 16).",
                          **_at_least(1, " (1: R1 at every critic update)"), hparam=True)
  ema_decay: float = setting(0.0, "Exponential moving average of G and E weights, used for evaluation and export "
                             "(0: off; e.g. 0.999).", hparam=True, check=lambda v: 0 <= v < 1,
                             why="must lie in [0, 1) (0: no moving average; 0.999 is typical)")
  augment_shift: float = setting(0.0, "E recovers z_c from G(z) shifted at random by up to this many pixels "
                                 "(images, digits' rows as 8x8 images, --row_image vectors; 0: off, the paper's).",
                                 hparam=True, **_at_least(0, " (pixels)"))
  augment_rotate: float = setting(0.0, "... and rotated at random by up to this many degrees (0: off).",
                                  hparam=True, check=lambda v: 0 <= v <= 180, why="must lie in [0, 180] (degrees)")
  augment_shear: float = setting(0.0, "... and sheared (its slant changed) at random by up to this many pixels of "
                                 "column shift per row (0: off; 0.3 is about 17 degrees).", hparam=True,
                                 check=lambda v: 0 <= v <= 1, why="must lie in [0, 1] (column shift per row)")
  augment_colour: float = setting(0.0, "... and each channel given a random gain exp(U(-s, s)) and offset "
                                  "U(-s/2, s/2) for s = this (0: off; beyond the paper: for colour that varies "
                                  "between images and should not make the clusters, e.g. 0.7).", hparam=True,
                                  check=lambda v: 0 <= v <= 2, why="must lie in [0, 2] (0: off)")
  # -- beyond the paper (reported apart): E also learns from real data
  real_data_weight: float = setting(
      0.0, "Beyond the paper: E also learns from real images (cluster balance, confidence, consistency under small "
      "moves), with this weight. 0: the paper's encoder, trained on G(z) only.", hparam=True,
      **_at_least(0, " (0: the paper's encoder)"))
  real_balance_weight: float = setting(1.0, "Real-data term: weight of -H(mean softmax(E_c(x))) (use all clusters "
                                       "evenly).", **_at_least(0), hparam=True)
  real_confidence_weight: float = setting(0.1, "Real-data term: weight of mean H(softmax(E_c(x))) (confident "
                                          "assignments).", **_at_least(0), hparam=True)
  real_consistency_weight: float = setting(1.0, "Real-data term: weight of CE(softmax(E_c(x)), softmax(E_c(moved "
                                           "x))) (stable under small shifts/rotations).", **_at_least(0), hparam=True)
  zn_smoothness_weight: float = setting(0.0, "Weight of the variance over the batch of G's steepness along z_n "
                                       "(||G(z_n + d) - G(z_n)|| / ||d||, d = sigma/2 in a random direction): "
                                       "a mode that holds two classes needs a steep switch between them, so "
                                       "classes are pushed into z_c (beyond the paper; 0: off).", hparam=True,
                                       **_at_least(0))
  # -- networks
  hidden_units: tuple[int, ...] = setting((256, 256), "MLP layer widths for vector data, e.g. 256,256.",
                                          architecture=True, hparam=True,
                                          check=lambda v: len(v) >= 1 and all(u >= 1 for u in v),
                                          why="must be a comma-separated list of positive layer widths, e.g. 256,256")
  net_width: float = setting(1.0, "Width multiplier of the image networks (mnist, fashion_mnist, images): G's, D's "
                             "and E's channels and hidden units times this (1: the paper's 64, 128, 1024; 0.5: about a "
                             "quarter of the FLOPs, beyond the paper). Vector data: --hidden_units.",
                             architecture=True, hparam=True, check=lambda v: 0 < v <= 4,
                             why="must lie in (0, 4] (1: the paper's networks)")
  mlp_batchnorm: bool = setting(False, "BatchNorm in the MLP generator (vector data).", architecture=True,
                                hparam=True)
  critic_norm: str = setting("none", "Normalisation in the critic D: none (the paper's), batch (DCGAN-style, not "
                             "with wgan-gp), layer, or spectral (spectral norm on every weight layer, the usual "
                             "partner of --loss=hinge).", choices=networks.NORMS, architecture=True, hparam=True)
  linear_generator: bool = setting(False, "G(z) = W z_n + A z_c + b, no hidden layer (the paper's linear-generator "
                                   "lemma).", architecture=True, hparam=True)
  # -- optimisation
  learning_rate: float = setting(1e-4, "Adam learning rate of G+E (and of D unless --d_learning_rate).",
                                 hparam=True, check=lambda v: v > 0, why="must be > 0")
  d_learning_rate: float | None = setting(None, "Adam learning rate of the critic; default: --learning_rate.",
                                          check=lambda v: v is None or v > 0, why="must be > 0", hparam=True)
  adam_beta1: float = setting(0.5, "Adam beta1 for both optimizers.", check=lambda v: 0 <= v < 1,
                              why="must lie in [0, 1)", hparam=True)
  adam_beta2: float = setting(0.9, "Adam beta2 for both optimizers.", check=lambda v: 0 <= v < 1,
                              why="must lie in [0, 1)", hparam=True)
  lr_decay_from: float = setting(
      1.0, "Fraction of training done (steps of --train_steps, or minutes of --time_budget_minutes when that ends "
      "first) after which both learning rates fall linearly to 0 at the end, in steps of one block "
      "(--steps_per_loop); with a time budget they follow the clock, so --deterministic cannot repeat such a run. "
      "1: constant rates (the paper's).", hparam=True, check=lambda v: 0 <= v <= 1,
      why="must lie in [0, 1] (1: constant learning rates)")
  batch_size: int = setting(64, "Global batch size (over all replicas).", architecture=True, hparam=True,
                            **_at_least(1))
  train_steps: int = setting(1000, "Generator steps to train in total (a resumed run continues to it).",
                             hparam=True, **_at_least(0))
  time_budget_minutes: float = setting(
      0.0, "Stop when this many minutes of training are spent (evaluations excluded; kept across resumes), or at "
      "--train_steps, whichever comes first. 0: no budget.", **_at_least(0, " (0: no budget, train --train_steps)"),
      hparam=True)
  seed: int = setting(0, "Seed of weights, noise and data order.", hparam=True)
  starts: int = setting(1, "Label-free choice of the start: train this many seeds (--seed + 1000 i) for "
                        "--start_steps each, continue the one with the highest label_free_score; their minutes count "
                        "toward --time_budget_minutes. 1: one start (the paper's).", hparam=True, **_at_least(1))
  start_steps: int = setting(2000, "--starts > 1: generator steps of each start before the choice.", **_at_least(1),
  hparam=True)
  # -- beyond the paper: a user's own data
  cluster_shares: str = setting("uniform", "Cluster proportions of the prior: 'uniform' (the paper's) or 'learned' "
                                "(re-estimated every --shares_every steps from E's mean softmax(z_c) on real data, "
                                "each share at least --shares_floor / K).", choices=("uniform", "learned"),
                                hparam=True)
  shares_every: int = setting(500, "--cluster_shares=learned: generator steps between re-estimates of the shares.",
                              **_at_least(1), hparam=True)
  shares_warmup: int = setting(0, "--cluster_shares=learned: generator steps with uniform shares before the first "
                               "re-estimate (the clusters form first; mnist_cpu.flags: 10000).", **_at_least(0),
                               hparam=True)
  shares_momentum: float = setting(0.0, "--cluster_shares=learned: weight of the old shares in each re-estimate "
                                   "(0: the new estimate alone; 0.5: halfway toward it).",
                                   check=lambda v: 0 <= v < 1, why="must lie in [0, 1)", hparam=True)
  shares_floor: float = setting(0.2, "--cluster_shares=learned: every share stays >= this / K, so that no cluster "
                                "dies.", check=lambda v: 0 < v <= 1, why="must lie in (0, 1] (1: uniform shares)",
                                hparam=True)
  # -- run
  model_dir: str = setting("runs/default", "Directory for checkpoints, logs, config.json, metrics.json, "
                           "assignments.npz.")
  logdir: str | None = setting(None, "TensorBoard log directory (default: MODEL_DIR/logs; 'none': no TensorBoard "
                               "output).")
  strategy: str = setting("default", "tf.distribute strategy: default (one device), mirrored (local GPUs or "
                          "--cpu_replicas), multi_worker (TF_CONFIG).", choices=distribute.STRATEGIES)
  cpu_replicas: int = setting(0, "With --strategy=mirrored on a CPU-only machine: split the CPU into N replicas.")
  steps_per_loop: int = setting(50, "Generator steps per tf.function call (logging granularity).", **_at_least(1))
  precision: str = setting("float32", "Compute precision: float32, mixed_bfloat16 (bf16 compute, float32 "
                           "weights: fast only on CPUs with AMX/AVX512_BF16 and on GPUs) or auto (mixed_bfloat16 "
                           "for the conv nets where the hardware computes it, with XLA off on such CPUs; else "
                           "float32; printed at start-up, recorded in config.json).",
                           choices=PRECISIONS, hparam=True)
  deterministic: bool = setting(False, "Op determinism (tf.config.experimental.enable_op_determinism): same seed -> "
                                "bit-identical weights.")
  threads: str = setting("auto", "TensorFlow's CPU thread pools: auto (on a machine without GPUs, for a step not "
                         "compiled by XLA: 2 inter-op streams of max(1, cores/2) intra-op threads each, 1.16x TF's "
                         "defaults for the bfloat16 MNIST step on a 2-core CPU; with GPUs, for an XLA step, or where "
                         "TF_NUM_INTRAOP_THREADS/TF_NUM_INTEROP_THREADS are set: TF's) or tensorflow (TF's defaults: "
                         "every core for each op). Printed at start-up.",
                         choices=THREADS)
  jit_compile: bool = setting(True, "XLA-compile the train step (--nojit_compile to debug; --precision=auto turns "
                              "it off for the conv nets on CPUs with native bfloat16, where it was slower).")
  eval_every: int = setting(0, "Evaluate every N generator steps (0: only at the end).",
                            **_at_least(0, " (0: evaluate only at the end)"))
  checkpoint_every: int = setting(1000, "Checkpoint every N generator steps (and at the end).", **_at_least(1))
  eval_split: str = setting("test", "Split to evaluate and write metrics for.", choices=SPLITS)
  collapse_guard: bool = setting(True, "Stop (exit 3, last good checkpoint kept) when G stops using z_c: the z_c "
                                 "cycle loss climbs back above half of log K after falling below a tenth of it, a "
                                 "collapse that no NaN shows. --nocollapse_guard trains on.")

  @property
  def is_clustergan(self):
    """The one-hot prior with a trained encoder: clusters come from E (not a plain-GAN baseline)."""
    return prior.feeds_cluster(self.prior) and self.use_encoder

  @property
  def augments(self):
    """Whether E recovers z_c from a moved G(z) (--augment_shift, --augment_rotate or --augment_shear)."""
    return bool(self.augment_shift or self.augment_rotate or self.augment_shear or self.augment_colour)

  @property
  def has_cluster_readout(self):
    """Whether the latents name a cluster (an argmax read-out beside k-means): the one-hot prior (E's z_c, or
    the winning restart of backprop decoding), or a gmm prior whose encoder recovers the component."""
    return prior.feeds_cluster(self.prior) or (self.prior == "gmm" and self.use_encoder)

  def load_data(self, standardization=None):
    """The data set these settings name, with their subsampling, exclusions and standardisation (by
    standardization = (mean, std) when given: a trained model's)."""
    return data_lib.load(self.dataset, self.data_source, self.data_dir, self.data_path, self.labels_path,
                         standardize=self.standardize, class_imbalance=self.class_imbalance,
                         exclude_classes=self.exclude_classes, seed=self.data_seed, standardization=standardization,
                         image_size=self.image_size)

  @property
  def critic_learning_rate(self):
    """The critic's Adam learning rate: --d_learning_rate, or --learning_rate when unset."""
    return self.d_learning_rate if self.d_learning_rate is not None else self.learning_rate

  def save(self, path):
    with open(path, "w") as f:
      json.dump(dataclasses.asdict(self), f, indent=2, sort_keys=True)

  @classmethod
  def load(cls, path):
    d = files.read_json(path, "it holds the run's settings: restore it, or delete it and rerun the same training "
                        "command with the same flags (it resumes from the checkpoints and writes it again)")
    names = {f.name for f in dataclasses.fields(cls)}
    d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names}  # JSON lists: tuples
    if d.get("dataset", cls.dataset) not in data_lib.IMAGE_DATASETS:  # a --data_dir no such data set reads, kept by
      d["data_dir"] = None  # runs from before it was refused: not the user's to clear
    return cls(**d)

  @classmethod
  def from_model_dir(cls, model_dir):
    path = os.path.join(model_dir, "config.json")
    if not os.path.exists(path):
      raise UsageError(f"--model_dir={model_dir} holds no config.json: train a model there first")
    return cls.load(path)


FIELDS = dataclasses.fields(Config)
ARCHITECTURE = tuple(f.name for f in FIELDS if f.metadata["architecture"])  # a checkpoint is tied to these


def hparams(cfg):
  """{name: value} of the settings shown in TensorBoard's HParams dashboard (lists as comma-joined strings)."""
  values = {f.name: getattr(cfg, f.name) for f in FIELDS if f.metadata["hparam"]}
  values["d_learning_rate"] = cfg.critic_learning_rate  # the rate the critic trains at (None: --learning_rate's)
  return {k: ",".join(map(str, v)) if isinstance(v, tuple) else v for k, v in values.items()}


# Checks between settings: (ok(cfg), the flag to name, why).
_COMBINATIONS = (
    (lambda c: not (c.critic_norm == "batch" and c.loss == "wgan-gp"), "critic_norm",
     "mixes examples in the critic, which breaks the per-sample gradient penalty: use layer with --loss=wgan-gp"),
    (lambda c: c.is_clustergan or not (c.augments or c.real_data_weight),
     "augment_shift", "and --augment_rotate/--augment_shear/--real_data_weight train the encoder: they need "
     "--prior=onehot --use_encoder"),
    (lambda c: c.starts == 1 or c.is_clustergan, "starts",
     "picks a start by the encoder's label_free_score: it needs --prior=onehot --use_encoder"),
    (lambda c: c.starts == 1 or c.strategy != "multi_worker", "starts",
     "is not supported with --strategy=multi_worker: choose the start on one machine, then resume it there"),
    (lambda c: c.net_width == 1 or c.dataset in data_lib.CONV_DATASETS, "net_width",
     "scales the image networks only: for vector data set the MLP's widths with --hidden_units"),
    (lambda c: c.data_path is None or c.dataset in data_lib.FILE_DATASETS, "data_path",
     "is read only with --dataset=vectors or --dataset=images: add one of them, or leave --data_path out"),
    (lambda c: c.labels_path is None or c.dataset in data_lib.FILE_DATASETS, "labels_path",
     "is read only with --dataset=vectors or --dataset=images (the other data sets bring their labels): add one of "
     "them, or leave --labels_path out"),
    (lambda c: c.data_dir is None or c.dataset in data_lib.IMAGE_DATASETS, "data_dir",
     "is read only with --dataset=mnist or --dataset=fashion_mnist (IDX files or TFDS): leave it out (your own "
     "files: --data_path)"),
    (lambda c: not c.image_size or c.dataset == "images", "image_size",
     "is for --dataset=images: the other data sets have one size already"),
    (lambda c: not c.row_image or c.dataset == "vectors", "row_image",
     "is for --dataset=vectors: image data sets have their shape, and digits' rows are known to be 8x8 images"),
    (lambda c: c.precision != "auto" or c.strategy != "multi_worker", "precision",
     "would let each worker choose for its own processor: give every worker the same explicit --precision"),
)


def validate(cfg):
  """Raises UsageError naming the flag for any setting that cannot work."""
  for f in FIELDS:
    value, meta = getattr(cfg, f.name), f.metadata
    if meta["choices"] is not None and value not in meta["choices"]:
      raise UsageError(f"--{f.name}={value!s} must be one of {', '.join(meta['choices'])}")
    if meta["check"] is not None and not meta["check"](value):
      raise UsageError(f"--{f.name}={_show(value)} {meta['why']}")
  for ok, flag, why in _COMBINATIONS:
    if not ok(cfg):
      raise UsageError(f"--{flag}={_show(getattr(cfg, flag))} {why}")


def _show(value):
  return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
