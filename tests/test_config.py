"""Config: one declaration per setting, from which validation, the resume rule and HParams derive."""

import dataclasses

import pytest

from clustergan_tf import config as config_lib
from clustergan_tf.config import Config, validate
from clustergan_tf.errors import UsageError


def test_every_field_declares_its_help():
  for f in config_lib.FIELDS:
    assert len(f.metadata["help"]) > 10, f.name


def test_defaults_are_valid_and_are_the_papers_choices():
  cfg = Config()
  validate(cfg)
  assert (cfg.loss, cfg.n_critic, cfg.sigma, cfg.learning_rate, cfg.adam_beta1, cfg.adam_beta2) == \
      ("wgan-gp", 5, 0.1, 1e-4, 0.5, 0.9)
  assert (cfg.r1_weight, cfg.ema_decay, cfg.augment_shift, cfg.real_data_weight, cfg.critic_norm) == \
      (0.0, 0.0, 0.0, 0.0, "none")  # every fast-recipe option off


@pytest.mark.parametrize("change,message", [
    (dict(num_clusters=1), "--num_clusters=1 must be >= 2"),
    (dict(sigma=0.0), "--sigma=0.0 must be > 0"),
    (dict(time_budget_minutes=-1.0), "--time_budget_minutes=-1.0 must be >= 0"),
    (dict(decode_steps=0), "--decode_steps=0 must be >= 1"),
    (dict(ema_decay=1.0), "--ema_decay=1.0 must lie in [0, 1)"),
    (dict(augment_rotate=181.0), "--augment_rotate=181.0 must lie in [0, 180]"),
    (dict(hidden_units=(16, 0)), "--hidden_units=16,0 must be a comma-separated list of positive layer widths"),
    (dict(d_learning_rate=0.0), "--d_learning_rate=0.0 must be > 0"),
    (dict(loss="lsgan"), "--loss=lsgan must be one of wgan-gp, gan, hinge"),
    (dict(eval_split="dev"), "--eval_split=dev must be one of train, validation, test"),
    (dict(critic_norm="batch"), "--critic_norm=batch mixes examples in the critic"),
    (dict(prior="gaussian", augment_shift=2.0), "--augment_shift=2.0 and --augment_rotate/--augment_shear/--real"),
    (dict(augment_shear=1.5), "--augment_shear=1.5 must lie in [0, 1]"),
    (dict(dataset="mnist", net_width=0.0), "--net_width=0.0 must lie in (0, 4]"),
    (dict(dataset="digits", net_width=0.5), "--net_width=0.5 scales the image networks only"),
    (dict(dataset="vectors", row_image=(28, 28)), "--row_image=28,28 must be H,W,C: three positive sizes"),
    (dict(dataset="mnist", row_image=(28, 28, 1)), "--row_image=28,28,1 is for --dataset=vectors"),
    (dict(dataset="digits", data_path="x.npy"), "--data_path=x.npy is read only with --dataset=vectors"),
    (dict(dataset="images", image_size=(30, 32)), "--image_size=30,32 must be H,W: two multiples of 4, e.g. 32,32"),
    (dict(dataset="mnist", image_size=(32, 32)), "--image_size=32,32 is for --dataset=images"),
    (dict(augment_colour=3.0), "--augment_colour=3.0 must lie in [0, 2] (0: off)"),
    (dict(dataset="synthetic", labels_path="y.npy"), "--labels_path=y.npy is read only with --dataset=vectors"),
    (dict(dataset="digits", data_dir="/data/mnist"), "--data_dir=/data/mnist is read only with --dataset=mnist"),
])
def test_validate_names_the_flag_and_the_fix(change, message):
  with pytest.raises(UsageError) as e:
    validate(dataclasses.replace(Config(), **change))
  assert str(e.value).startswith(message), str(e.value)


def test_validate_accepts_the_edges_of_each_range():
  validate(Config(num_clusters=2, ema_decay=0.0, augment_rotate=180.0, d_learning_rate=None, eval_every=0,
                  critic_norm="batch", loss="gan"))


def test_a_colour_move_alone_trains_e_on_moved_samples():
  assert Config(augment_colour=0.7).augments and not Config().augments


def test_own_images_take_a_data_path_labels_and_a_net_width():
  validate(Config(dataset="images", data_path="x.npy", labels_path="y.csv", net_width=0.5, image_size=(32, 28)))


def test_architecture_settings_are_those_a_checkpoint_is_tied_to():
  assert set(config_lib.ARCHITECTURE) == {"dataset", "num_clusters", "latent_dim", "hidden_units", "mlp_batchnorm",
                                          "critic_norm", "linear_generator", "batch_size", "n_critic", "prior",
                                          "use_encoder", "standardize", "class_imbalance", "exclude_classes",
                                          "data_seed", "net_width", "image_size"}


def test_hparams_are_the_declared_fields_with_lists_joined():
  values = config_lib.hparams(Config(hidden_units=(32, 16), ema_decay=0.999))
  assert values["hidden_units"] == "32,16" and values["ema_decay"] == 0.999
  assert "model_dir" not in values and "data_dir" not in values  # paths are not hyperparameters
  assert "threads" not in values and "eval_every" not in values  # nor how a run executes or reports
  assert {"d_learning_rate", "adam_beta1", "adam_beta2", "gp_weight", "shares_warmup", "exclude_classes"} <= set(values)
  assert len(values) == 52


def test_save_and_load_round_trip(tmp_path):
  cfg = Config(hidden_units=(8, 4), d_learning_rate=2e-4, eval_every=5, exclude_classes=(9,))
  cfg.save(tmp_path / "config.json")
  assert Config.load(tmp_path / "config.json") == cfg


def test_load_ignores_fields_a_newer_version_removed(tmp_path):
  (tmp_path / "config.json").write_text('{"num_clusters": 7, "retired_setting": 1}')
  assert Config.load(tmp_path / "config.json").num_clusters == 7


def test_from_model_dir_without_a_run_is_a_usage_error(tmp_path):
  with pytest.raises(UsageError, match="holds no config.json"):
    Config.from_model_dir(str(tmp_path))


@pytest.mark.parametrize("prior,use_encoder,clustergan,readout", [
    ("onehot", True, True, True), ("onehot", False, False, True), ("gmm", True, False, True),
    ("gmm", False, False, False), ("gaussian", True, False, False), ("uniform", False, False, False)])
def test_the_clustergan_rule(prior, use_encoder, clustergan, readout):
  cfg = Config(prior=prior, use_encoder=use_encoder)
  assert (cfg.is_clustergan, cfg.has_cluster_readout) == (clustergan, readout)
