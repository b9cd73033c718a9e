"""Command-line flags derived from the Config declarations: one absl flag per field, same name, help and default."""

import dataclasses
import types
import typing

from absl import flags

from clustergan_tf import config as config_lib
from clustergan_tf.errors import UsageError


def _kind(annotation):
  """The flag type of a field annotation: int, float, bool, str or tuple (`X | None` -> X)."""
  if isinstance(annotation, types.UnionType):
    annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
  return typing.get_origin(annotation) or annotation


def define_config_flags(flag_values=flags.FLAGS):
  """Defines a flag for every Config field (the training flags every training CLI shares)."""
  for f in config_lib.FIELDS:
    meta, kind = f.metadata, _kind(f.type)
    args = dict(name=f.name, default=f.default, help=meta["help"], flag_values=flag_values)
    if meta["choices"] is not None:
      flags.DEFINE_enum(enum_values=list(meta["choices"]), **args)
    elif kind is tuple:
      flags.DEFINE_list(**dict(args, default=[str(v) for v in f.default]))
    else:
      define = {bool: flags.DEFINE_boolean, int: flags.DEFINE_integer, float: flags.DEFINE_float}.get(
          kind, flags.DEFINE_string)
      define(**args)


def define_processes_flag(flag_values=flags.FLAGS):
  """--processes, for the commands that train several runs (reproduce, select_k)."""
  flags.DEFINE_integer("processes", 1, "Trainings run at once, each in its own process with an equal share of the "
                       "CPU cores, each logging to MODEL_DIR/train.log (CPU only; on a 2-core CPU 2 trains about "
                       "1.3x the runs per hour). 1: one after another in this process.", lower_bound=1,
                       flag_values=flag_values)


MOVED = ("data_path", "labels_path", "data_dir")  # where a trained model's data may lie now


def define_moved_data_flags(flag_values=flags.FLAGS):
  """--data_path, --labels_path, --data_dir for commands that read a trained model (evaluate, export, decode):
  where its data lies now, if it moved; the training run's place (config.json) by default."""
  for name in MOVED:
    flags.DEFINE_string(name, None, f"Where the model's --{name} lies now, if it moved since training; default: the "
                        "training run's (config.json). Rows other than the training rows are used with a note.",
                        flag_values=flag_values)


def moved_data(flag_values=flags.FLAGS):
  """{name: value} of the define_moved_data_flags given on the command line."""
  return {name: flag_values[name].value for name in MOVED if flag_values[name].value is not None}


def config_from_flags(flag_values=flags.FLAGS, **overrides):
  """The Config whose every field is the flag of the same name (list flags parsed to ints), then overrides."""
  values = {}
  for f in config_lib.FIELDS:
    value = flag_values[f.name].value
    if _kind(f.type) is tuple:
      try:
        value = int_list(f.name, value)
      except UsageError:
        if not f.metadata["why"]:
          raise
        raise UsageError(f"--{f.name}={','.join(value)} {f.metadata['why']}") from None  # the field's own words
    values[f.name] = value
  return dataclasses.replace(config_lib.Config(**values), **overrides)


def int_list(name, items, distinct=False, low=None):
  """A list flag's strings as a tuple of ints in their order, or UsageError naming --name (every CLI's integer
  lists). distinct: at least one value, none repeated (seeds, K: each trains its own runs); low: the least value."""
  shown = ",".join(items)
  try:
    ints = tuple(int(u) for u in items)
  except ValueError:
    raise UsageError(f"--{name}={shown} must be comma-separated integers") from None
  if distinct and (not ints or len(set(ints)) != len(ints)):
    raise UsageError(f"--{name}={shown} must list distinct integers, at least one")
  if low is not None and any(v < low for v in ints):
    raise UsageError(f"--{name}={shown}: every value must be >= {low}")
  return ints
