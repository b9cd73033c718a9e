"""benchmark: every recipe is a valid configuration, and FLOPs are counted, not estimated."""

import pytest
import tensorflow as tf

from absl import flags

from clustergan_tf import benchmark
from clustergan_tf.config import Config, validate
from clustergan_tf.errors import UsageError


def test_every_recipe_is_a_valid_config():
  for settings in benchmark.RECIPES.values():
    validate(Config(dataset="mnist", **settings))
  assert benchmark.RECIPES["paper"] == {"loss": "wgan-gp", "n_critic": 5}  # mnist.flags' schedule


def test_count_flops_of_a_matmul_is_2mnk():
  fn = tf.function(lambda a, b: tf.linalg.matmul(a, b))
  concrete = fn.get_concrete_function(tf.TensorSpec([2, 3]), tf.TensorSpec([3, 4]))
  assert benchmark.count_flops(concrete) == 2 * 2 * 3 * 4


def test_steps_per_sec_counts_calls_over_elapsed_time(monkeypatch):
  """steps / (clock after the last call's result - clock before the first call)."""
  clock = iter([10.0, 12.5])
  monkeypatch.setattr(benchmark.time, "perf_counter", lambda: next(clock))
  calls = []
  step = lambda x: calls.append(x) or {"g_loss": tf.constant(x)}  # noqa: E731
  assert benchmark.steps_per_sec(step, 1.0, 5) == 2.0
  assert len(calls) == 5


def test_matmul_peak_is_timed_with_both_compilers(monkeypatch):
  """The practical peak is measured with TF's kernel and with XLA's (either can be faster on a CPU)."""
  benchmark.matmul_program.cache_clear()
  seen, function = [], tf.function
  monkeypatch.setattr(tf, "function", lambda f, **kw: seen.append(kw.get("jit_compile")) or function(f, **kw))
  peak = benchmark.matmul_peak(32, tf.float32, streams=2, seconds=0.01)
  assert [j for j in seen if j is not None] == [False, True] and set(peak) == {"tf", "xla"}
  assert min(peak.values()) > 0


@pytest.mark.parametrize("intra, env, expected", [(1, None, 2), (0, None, 1), (0, "1", 2), (2, None, 1)])
def test_matmul_streams_fill_the_cores(monkeypatch, intra, env, expected):
  """2 cores: one-thread ops (--threads=auto, or the user's TF_NUM_INTRAOP_THREADS=1) -> 2 products; TF's pools -> 1."""
  monkeypatch.setattr(tf.config.threading, "get_intra_op_parallelism_threads", lambda: intra)
  if env:
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", env)
  else:
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
  assert benchmark.matmul_streams(2) == expected


def test_matmul_program_is_traced_once_for_every_round():
  """Rounds time the same program: a second timing neither builds nor traces it again (TF warned of retracing)."""
  benchmark.matmul_program.cache_clear()
  for _ in range(2):
    benchmark.matmul_flops_per_sec(8, tf.float32, seconds=0.0, streams=2)
  f, _ = benchmark.matmul_program(8, tf.float32, False, 2)
  assert benchmark.matmul_program.cache_info().misses == 1 and f.experimental_get_tracing_count() == 1


def test_matmul_flops_count_every_stream_and_call(monkeypatch):
  """2 n^3 FLOPs per product, one product per stream per call, over the elapsed time."""
  clock = iter([0.0, 0.5, 1.0, 1.0])  # start, after call 1 (< 1 s: go on), after call 2 (done), end
  monkeypatch.setattr(benchmark.time, "perf_counter", lambda: next(clock))
  assert benchmark.matmul_flops_per_sec(8, tf.float32, seconds=1.0, streams=3) == 2 * 8 ** 3 * 2 * 3 / 1.0


def test_the_flag_files_recipe_is_timed_with_the_flag_files_settings():
  """RECIPES[benchmark.MNIST_CPU] sets what mnist_cpu.flags sets for every setting that changes the step's cost,
  so the benchmark times the recipe users run (both ways: a setting of either one missing from the other fails)."""
  import pathlib
  from absl import flags
  from clustergan_tf import config_flags
  flag_values = flags.FlagValues()
  config_flags.define_config_flags(flag_values)
  flag_values(["prog", f"--flagfile={pathlib.Path(__file__).parent.parent / 'mnist_cpu.flags'}"])
  flag_file = config_flags.config_from_flags(flag_values)
  recipe = benchmark.RECIPES[benchmark.MNIST_CPU]
  timed = Config(**recipe)
  step_settings = {"loss", "n_critic", "critic_norm", "ema_decay", "net_width", "zn_smoothness_weight",
                   "augment_shift", "augment_rotate", "augment_shear", "real_data_weight", "r1_weight"}
  for name in step_settings | set(recipe):
    assert getattr(flag_file, name) == getattr(timed, name), name


def test_recipes_must_name_at_least_one_known_recipe():
  benchmark.check_recipes(["paper", "fast"])
  with pytest.raises(UsageError, match="^--recipes is empty: name at least one of paper, "):
    benchmark.check_recipes([])
  with pytest.raises(UsageError, match="^--recipes: unknown nope; choose from paper, "):
    benchmark.check_recipes(["paper", "nope"])


@pytest.mark.parametrize("flag", ["--matmul_size=-1", "--batch_size=0", "--steps=0", "--rounds=0"])
def test_sizes_and_counts_below_one_fail_at_flag_parsing(flag):
  """absl's bound error (one line from cli.run) instead of a TensorFlow traceback half a minute later."""
  flag_values = flags.FlagValues()
  benchmark.define_flags(flag_values)
  with pytest.raises(flags.IllegalFlagValueError, match="is not a positive integer"):
    flag_values(["prog", flag])
