"""Flags derived from the Config declarations."""

import pytest
from absl import flags

from clustergan_tf import config as config_lib
from clustergan_tf import config_flags
from clustergan_tf.errors import UsageError


@pytest.fixture
def flag_values():
  fv = flags.FlagValues()
  config_flags.define_config_flags(fv)
  return fv


def test_one_flag_per_field_with_its_default_and_help(flag_values):
  for f in config_lib.FIELDS:
    flag = flag_values[f.name]
    assert flag.help.endswith(f.metadata["help"]), f.name  # enum flags prefix their choices
    assert flag.default == (list(map(str, f.default)) if isinstance(f.default, tuple) else f.default), f.name


def test_enum_flags_take_the_declared_choices(flag_values):
  with pytest.raises(flags.IllegalFlagValueError):
    flag_values(["prog", "--loss=lsgan"])


def test_parsed_flags_give_the_config(flag_values):
  flag_values(["prog", "--hidden_units=32,8", "--nouse_encoder", "--d_learning_rate=2e-4", "--loss=gan",
               "--num_clusters=7"])
  cfg = config_flags.config_from_flags(flag_values, seed=3)
  assert cfg == config_lib.Config(hidden_units=(32, 8), use_encoder=False, d_learning_rate=2e-4, loss="gan",
                                  num_clusters=7, seed=3)


def test_unparsed_defaults_give_the_default_config(flag_values):
  flag_values(["prog"])
  assert config_flags.config_from_flags(flag_values) == config_lib.Config()


def test_list_of_non_integers_is_a_usage_error(flag_values):
  flag_values(["prog", "--hidden_units=a,b"])
  with pytest.raises(UsageError, match="^--hidden_units=a,b must be a comma-separated list of positive layer widths"):
    config_flags.config_from_flags(flag_values)


def test_class_names_for_exclude_classes_point_to_the_ids(flag_values):
  flag_values(["prog", "--exclude_classes=cat"])
  with pytest.raises(UsageError, match=r"^--exclude_classes=cat must be class ids \(integers\): "
                     r"text labels and class subdirectories are numbered in sorted order, as training prints at "
                     r"the start \(labels: 0=..., "):
    config_flags.config_from_flags(flag_values)


def test_int_list_keeps_order_and_repeats_unless_asked_for_distinct_values():
  """One parser for every integer-list flag: layer widths may repeat; seeds and K must be distinct and present."""
  assert config_flags.int_list("hidden_units", ["16", "16"]) == (16, 16)
  assert config_flags.int_list("k", ["12", "6", "10"], distinct=True, low=2) == (12, 6, 10)
  with pytest.raises(UsageError, match="--k=6,x must be comma-separated integers"):
    config_flags.int_list("k", ["6", "x"], distinct=True)
  with pytest.raises(UsageError, match="--k=1,4: every value must be >= 2"):
    config_flags.int_list("k", ["1", "4"], distinct=True, low=2)
  with pytest.raises(UsageError, match="--seeds=0,0 must list distinct integers, at least one"):
    config_flags.int_list("seeds", ["0", "0"], distinct=True)
  with pytest.raises(UsageError, match="^--seeds= must list distinct integers, at least one$"):
    config_flags.int_list("seeds", [], distinct=True)
