"""Every setting of a run in one dataclass; the CLIs fill it from flags and save it as MODEL_DIR/config.json."""

import dataclasses
import json
import os


PRECISIONS = ("float32", "mixed_bfloat16")  # bfloat16 needs no loss scaling; float16 would


@dataclasses.dataclass
class Config:
  # data
  dataset: str = "synthetic"
  data_source: str = "tfds"
  data_dir: str | None = None
  data_path: str | None = None
  labels_path: str | None = None
  # prior and losses (the paper's MNIST settings are in mnist.flags)
  num_clusters: int = 10
  latent_dim: int = 30
  sigma: float = 0.10
  prior: str = "onehot"  # ClusterGAN's; "gaussian", "uniform", "gmm": the paper's plain-GAN baselines
  use_encoder: bool = True  # False: a plain GAN (no E, no cycle losses), clustered by backprop decoding
  decode_steps: int = 1000  # Adam steps of backprop decoding when it clusters (use_encoder=False)
  beta_n: float = 10.0
  beta_c: float = 10.0
  loss: str = "wgan-gp"  # or "gan" (non-saturating), "hinge"
  gp_weight: float = 10.0
  n_critic: int = 5
  # fast-recipe options; each off by default (the paper's behaviour)
  r1_weight: float = 0.0  # gamma of an R1 penalty gamma/2 ||grad D(x_real)||^2 (0: off)
  r1_every: int = 16  # lazy R1: applied every N critic updates, scaled by N
  ema_decay: float = 0.0  # > 0: moving average of G and E weights, used for evaluation and export
  augment_shift: float = 0.0  # E recovers z_c from G(z) shifted by up to this many pixels (images only)
  augment_rotate: float = 0.0  # ... and rotated by up to this many degrees
  # beyond the paper (reported apart): E also learns from real data
  real_data_weight: float = 0.0  # weight of the real-data terms below (0: the paper's E, trained on G(z) only)
  real_balance_weight: float = 1.0  # -H(mean_x softmax(E_c(x))): clusters used evenly
  real_confidence_weight: float = 0.1  # mean_x H(softmax(E_c(x))): confident assignments
  real_consistency_weight: float = 1.0  # CE(softmax(E_c(x)), E_c(moved x)): stable under small moves
  # networks
  hidden_units: tuple = (256, 256)
  mlp_batchnorm: bool = False
  critic_norm: str = "none"  # the paper's; "batch" (with loss=gan) or "layer" normalise the critic
  linear_generator: bool = False  # G(z) = W z_n + A z_c + b: the paper's linear-generator lemma
  # optimisation
  learning_rate: float = 1e-4
  d_learning_rate: float | None = None  # None: same as learning_rate
  adam_beta1: float = 0.5
  adam_beta2: float = 0.9
  batch_size: int = 64  # global, over all replicas
  train_steps: int = 1000  # generator steps
  time_budget_minutes: float = 0.0  # > 0: also stop when this much training time is spent (evaluations excluded)
  seed: int = 0
  # run
  model_dir: str = "runs/default"
  logdir: str | None = None  # TensorBoard logs; None: MODEL_DIR/logs, "none": no logs
  strategy: str = "default"
  cpu_replicas: int = 0
  steps_per_loop: int = 50
  precision: str = "float32"  # or "mixed_bfloat16" (bf16 compute, float32 weights; AMX/AVX512_BF16 CPUs, GPUs)
  deterministic: bool = False  # tf.config.experimental.enable_op_determinism(): bit-identical reruns
  jit_compile: bool = True  # XLA-compile the train step (1.6x on the digits MLPs here)
  eval_every: int = 0  # 0: only at the end
  checkpoint_every: int = 1000
  eval_split: str = "test"

  @property
  def is_clustergan(self):
    """The one-hot prior with a trained encoder: clusters come from E (not a plain-GAN baseline)."""
    return self.prior == "onehot" and self.use_encoder

  @property
  def critic_learning_rate(self):
    """The critic's Adam learning rate: --d_learning_rate, or --learning_rate when unset."""
    return self.d_learning_rate if self.d_learning_rate is not None else self.learning_rate

  def save(self, path):
    with open(path, "w") as f:
      json.dump(dataclasses.asdict(self), f, indent=2, sort_keys=True)

  @classmethod
  def load(cls, path):
    with open(path) as f:
      d = json.load(f)
    names = {f.name for f in dataclasses.fields(cls)}
    d = {k: v for k, v in d.items() if k in names}
    if "hidden_units" in d:
      d["hidden_units"] = tuple(d["hidden_units"])
    return cls(**d)

  @classmethod
  def from_model_dir(cls, model_dir):
    from clustergan_tf.errors import UsageError
    path = os.path.join(model_dir, "config.json")
    if not os.path.exists(path):
      raise UsageError(f"--model_dir={model_dir} holds no config.json: train a model there first")
    return cls.load(path)


def validate(cfg):
  """Raises UsageError naming the flag for any setting that cannot work."""
  from clustergan_tf.errors import UsageError
  from clustergan_tf.losses import LOSS_TYPES
  from clustergan_tf.networks import NORMS
  from clustergan_tf.prior import PRIORS
  checks = [
      (cfg.num_clusters >= 2, "num_clusters", "must be >= 2 (clustering into one group is no clustering)"),
      (cfg.latent_dim >= 1, "latent_dim", "must be >= 1"),
      (cfg.sigma > 0, "sigma", "must be > 0 (the paper uses 0.1)"),
      (cfg.prior in PRIORS, "prior", f"must be one of {', '.join(PRIORS)}"),
      (cfg.decode_steps >= 1, "decode_steps", "must be >= 1"),
      (cfg.beta_n >= 0, "beta_n", "must be >= 0"),
      (cfg.beta_c >= 0, "beta_c", "must be >= 0"),
      (cfg.n_critic >= 1, "n_critic", "must be >= 1"),
      (cfg.gp_weight >= 0, "gp_weight", "must be >= 0"),
      (cfg.r1_weight >= 0, "r1_weight", "must be >= 0 (0: no R1 penalty)"),
      (cfg.r1_every >= 1, "r1_every", "must be >= 1 (1: R1 at every critic update)"),
      (0 <= cfg.ema_decay < 1, "ema_decay", "must lie in [0, 1) (0: no moving average; 0.999 is typical)"),
      (cfg.augment_shift >= 0, "augment_shift", "must be >= 0 (pixels)"),
      (0 <= cfg.augment_rotate <= 180, "augment_rotate", "must lie in [0, 180] (degrees)"),
      (cfg.real_data_weight >= 0, "real_data_weight", "must be >= 0 (0: the paper's encoder)"),
      (min(cfg.real_balance_weight, cfg.real_confidence_weight, cfg.real_consistency_weight) >= 0,
       "real_balance_weight", "the real-data sub-weights must be >= 0"),
      (cfg.loss in LOSS_TYPES, "loss", f"must be one of {', '.join(LOSS_TYPES)}"),
      (cfg.critic_norm in NORMS, "critic_norm", f"must be one of {', '.join(NORMS)}"),
      (not (cfg.critic_norm == "batch" and cfg.loss == "wgan-gp"), "critic_norm",
       "mixes examples in the critic, which breaks the per-sample gradient penalty: use layer with --loss=wgan-gp"),
      (not ((cfg.augment_shift or cfg.augment_rotate or cfg.real_data_weight) and not cfg.is_clustergan),
       "augment_shift", "and --augment_rotate/--real_data_weight train the encoder: they need --prior=onehot "
       "--use_encoder"),
      (cfg.learning_rate > 0, "learning_rate", "must be > 0"),
      (cfg.d_learning_rate is None or cfg.d_learning_rate > 0, "d_learning_rate", "must be > 0"),
      (0 <= cfg.adam_beta1 < 1 and 0 <= cfg.adam_beta2 < 1, "adam_beta1", "Adam betas must lie in [0, 1)"),
      (cfg.batch_size >= 1, "batch_size", "must be >= 1"),
      (cfg.precision in PRECISIONS, "precision", f"must be one of {', '.join(PRECISIONS)}"),
      (cfg.train_steps >= 0, "train_steps", "must be >= 0"),
      (cfg.time_budget_minutes >= 0, "time_budget_minutes", "must be >= 0 (0: no budget, train --train_steps)"),
      (cfg.steps_per_loop >= 1, "steps_per_loop", "must be >= 1"),
      (cfg.eval_every >= 0, "eval_every", "must be >= 0 (0: evaluate only at the end)"),
      (cfg.checkpoint_every >= 1, "checkpoint_every", "must be >= 1"),
      (len(cfg.hidden_units) >= 1 and all(u >= 1 for u in cfg.hidden_units), "hidden_units",
       "must be a comma-separated list of positive layer widths, e.g. 256,256"),
  ]
  for ok, flag, why in checks:
    if not ok:
      raise UsageError(f"--{flag}={getattr(cfg, flag)!s} {why}")
