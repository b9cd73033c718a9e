"""Trains from recipes written by `.ci/gpu_programs.py` by running their XLA programs with JAX's XLA: the project's
own train step and encoder, as TF 2.21 lowered them, on a GPU machine where TensorFlow cannot run. Developer
tooling (needs jax and scipy there), not part of the package.

  python3 .ci/gpu_replay.py PROGRAM_DIR MNIST_DIR NAME[,NAME...] SECONDS [--out DIR] [--deadline SECONDS]
      [--draw D] [--overhead S]
  python .ci/gpu_replay.py --plot REPLAY_JSON[,REPLAY_JSON...] PNG

Per recipe: compile, then train SECONDS of step time (evaluations excluded, as the project's clock does) on MNIST's
first 55,000 training images in a shuffled order (numpy, seed 0; not the project's tf.data order), evaluating the
encoder (its moving average) on the 10,000 test images at fixed steps: Hungarian ACC of argmax z_c. Where
PROGRAM_DIR has NAME.check.npz, first three steps from TF's exact initial state, compared with TF's logs, and the
averaged encoder on fixed rows. --deadline: the whole run's wall-clock limit; each recipe's SECONDS shrinks to fit
it. --overhead: seconds kept per recipe for compiling and evaluating under --deadline (60). --out: replay.log and
replay.json (rewritten at every evaluation). --draw: another draw of the large kernels and the data order (0: the
first run's; the step's own noise is the recipe's seed, fixed in the program). --plot: ACC against training minutes.
"""
import gzip
import json
import os
import re
import sys
import time

import numpy as np

EVAL_STEPS = [250, 500, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 8000, 10000, 12000, 15000, 20000, 25000, 30000,
              40000, 50000, 60000, 80000, 100000]
DTYPES = {"float32": np.float32, "int64": np.int64, "int32": np.int32, "bool": np.bool_, "float64": np.float64}


def read_idx(path):
  with gzip.open(path) if path.endswith(".gz") else open(path, "rb") as f:
    raw = f.read()
  ndim = raw[3]
  shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
  return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def mnist(d):
  def find(stem):
    return next(os.path.join(d, n) for n in (stem, stem + ".gz") if os.path.exists(os.path.join(d, n)))
  x = read_idx(find("train-images-idx3-ubyte"))[:55000].reshape(-1, 28, 28, 1).astype(np.float32) / 255
  xt = read_idx(find("t10k-images-idx3-ubyte")).reshape(-1, 28, 28, 1).astype(np.float32) / 255
  return x, xt, read_idx(find("t10k-labels-idx1-ubyte")).astype(np.int64)


def hungarian_acc(labels, pred, k):
  from scipy.optimize import linear_sum_assignment
  counts = np.zeros((k, k))
  np.add.at(counts, (pred, labels), 1)
  rows, cols = linear_sum_assignment(-counts)
  return counts[rows, cols].sum() / len(labels)


def stablehlo_text(path):
  """The HLO proto as StableHLO text. The conversion keeps XLA's `copy` before each returned variable as
  `mhlo.copy`, which the GPU plugin's compiler refuses (the CPU's accepts it): each becomes an identity reshape."""
  from jax._src.interpreters import mlir as jmlir
  from jax._src.lib import xla_client as xc
  from jaxlib.mlir import ir
  with jmlir.make_ir_context():
    text = str(ir.Module.parse(xc._xla.mlir.hlo_to_stablehlo(open(path, "rb").read())))
  text = re.sub(r"mhlo\.copy (%[\w#]+) : (tensor<[^>]*>)", r"stablehlo.reshape \1 : (\2) -> \2", text)
  left = sorted(set(re.findall(r"= \"?(mhlo\.\w+)", text)))  # ops; mhlo.* module attributes are fine
  assert not left, left
  return text


def compile_program(backend, dev, path):
  from jax._src.lib import xla_client as xc
  return backend.compile_and_load(stablehlo_text(path), xc.DeviceList(tuple([dev])), xc.CompileOptions())


def initial_state(meta, exact, rng):
  values = []
  for i, p in enumerate(meta["params"]):
    shape, dtype = tuple(p["shape"]), DTYPES[p["dtype"]]
    if p["kind"] == "data":
      values.append(None)
    elif p["kind"] == "exact":
      values.append(exact[f"p{i}"])
    elif p["kind"] == "const":
      values.append(np.full(shape, p["value"], dtype))
    elif p["kind"] == "normal":
      values.append((rng.standard_normal(shape) * p["std"]).astype(dtype))
    else:
      values.append(None)
  for i, p in enumerate(meta["params"]):
    if p["kind"] == "same":
      values[i] = values[p["as"]].copy()
  return values


def check(meta, step_exe, enc_exe, values, alias, dev, log):
  """Three steps from TF's exact initial state on gpu_programs' rows, and the averaged encoder after them."""
  import jax
  name, rows = meta["name"], meta["batch"] * meta["n_critic"]
  state = [None] + [jax.device_put(v, dev) for v in values[1:]]
  result = {"name": name}
  for n, seed in ((1, 0), (2, 1), (3, 2)):
    state[0] = jax.device_put(np.random.default_rng(seed).random((rows, 28, 28, 1), np.float32), dev)
    outs = step_exe.execute(state)
    for o, p in alias.items():
      state[p] = outs[o]
    if n in (1, 3):
      want = meta["first_step" if n == 1 else "third_step"]
      got = {k: float(np.asarray(outs[i])) for i, k in enumerate(meta["outputs"])}
      worst = max(abs(got[k] - v) / max(1e-6, abs(v)) for k, v in want.items())
      result[f"step{n}_worst_relative"] = worst
      log(f"{name}: step {n} vs TF's from the same state: worst relative difference of the logs {worst:.2e} "
          + " ".join(f"{k}={got[k]:.5g}/{want[k]:.5g}" for k in meta["outputs"]))
  xe = jax.device_put(np.random.default_rng(3).random((meta["eval_rows"], 28, 28, 1), np.float32), dev)
  logits = np.asarray(enc_exe.execute([xe] + [state[j] for j in meta["encoder_params"]])[0])
  same = float(np.mean(logits.argmax(1) == np.array(meta["encoder_check_argmax"])))
  diff = float(np.abs(logits[:4] - np.array(meta["encoder_check_logits"])).max())
  log(f"{name}: encoder after 3 steps (its moving average): argmax agrees on {same:.4f} of {len(logits)} rows, "
      f"max |logit difference| {diff:.2e} on 4 rows")
  return dict(result, encoder_agreement=same, encoder_max_diff=diff)


def train(meta, prog_dir, data, seconds, dev, backend, log=print, on_eval=None, draw=0):
  import jax
  name = meta["name"]
  t0 = time.perf_counter()
  step_exe = compile_program(backend, dev, os.path.join(prog_dir, name + ".step.pb"))
  enc_exe = compile_program(backend, dev, os.path.join(prog_dir, name + ".encoder.pb"))
  compile_s = time.perf_counter() - t0
  exact = dict(np.load(os.path.join(prog_dir, name + ".init.npz")))
  alias = {int(o): p for o, p in meta["alias"].items()}
  checked = {}
  check_file = os.path.join(prog_dir, name + ".check.npz")
  if os.path.exists(check_file):
    values = initial_state(meta, exact, np.random.default_rng(0))
    for k, v in np.load(check_file).items():
      values[int(k[1:])] = v
    for i, p in enumerate(meta["params"]):
      if p["kind"] == "same":
        values[i] = values[p["as"]].copy()
    checked = check(meta, step_exe, enc_exe, values, alias, dev, log)
  if seconds <= 0:
    return dict(name=name, compile_seconds=round(compile_s, 1), check=checked)
  values = initial_state(meta, exact, np.random.default_rng(draw))
  x, xt, yt = data
  rows = meta["batch"] * meta["n_critic"]
  state = [None] + [jax.device_put(v, dev) for v in values[1:]]
  xt_dev = [jax.device_put(xt[i:i + meta["eval_rows"]], dev) for i in range(0, len(xt), meta["eval_rows"])]
  epoch_rng = np.random.default_rng(meta["seed"] + draw)
  order, pos = epoch_rng.permutation(len(x)), 0

  def evaluate():
    weights = [state[j] for j in meta["encoder_params"]]
    logits = [enc_exe.execute([xb] + weights)[0] for xb in xt_dev]
    pred = np.concatenate([np.asarray(lg) for lg in logits]).argmax(1)
    return hungarian_acc(yt, pred, 10), np.bincount(pred, minlength=10).max() / len(pred)

  curve, step, train_s, evals = [], 0, 0.0, [s for s in EVAL_STEPS]
  log(f"{name}: compiled in {compile_s:.1f} s on {dev.device_kind}; {rows} real rows per generator step, "
      f"{meta['flops'] / 1e9:.2f} GFLOP per step (TF's count)")
  outs = None
  while train_s < seconds:
    target = evals[0] if evals else step + 50000
    t = time.perf_counter()
    while step < target:
      if pos + rows > len(order):
        order, pos = epoch_rng.permutation(len(x)), 0
      state[0] = jax.device_put(x[order[pos:pos + rows]], dev)
      pos += rows
      outs = step_exe.execute(state)
      for o, p in alias.items():
        state[p] = outs[o]
      step += 1
      if train_s + time.perf_counter() - t > seconds:
        break
    jax.block_until_ready(outs)
    train_s += time.perf_counter() - t
    if evals and step >= evals[0]:
      evals.pop(0)
    acc, biggest = evaluate()
    logs = {k: float(np.asarray(outs[i])) for i, k in enumerate(meta["outputs"])}
    curve.append(dict(step=step, train_seconds=round(train_s, 2), acc=round(acc, 4), largest_cluster=round(biggest, 3),
                      d_loss=logs["d_loss"], g_loss=logs["g_loss"]))
    if on_eval:
      on_eval(dict(name=name, compile_seconds=round(compile_s, 1), check=checked, curve=curve))
    log(f"{name}: step {step:6d}  {train_s / 60:5.2f} min  {step / train_s:7.1f} steps/s  ACC {acc:.4f}  "
        f"largest cluster {biggest:.2f}  d_loss {logs['d_loss']:.4g}  g_loss {logs['g_loss']:.4g}")
  rate = step / train_s
  log(f"{name}: {step} steps in {train_s:.1f} s: {rate:.1f} generator steps/s, {rate * rows:.0f} real images/s, "
      f"{meta['flops'] * rate / 1e12:.2f} TFLOP/s counted; final ACC {curve[-1]['acc']:.4f}")
  return dict(name=name, draw=draw, compile_seconds=round(compile_s, 1), check=checked, steps=step,
              train_seconds=round(train_s, 1), steps_per_sec=round(rate, 2), curve=curve)


def plot(replay_jsons, png):
  """Test ACC against training minutes, one line per recipe and draw (replay_jsons: comma-separated files)."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(7.5, 4.4))
  colours = {}
  for path in replay_jsons.split(","):
    for r in json.load(open(path)):
      if r.get("curve"):
        c, name = r["curve"], r["name"].replace("_float32", "")
        colour = colours.setdefault(name, f"C{len(colours)}")
        ax.plot([p["train_seconds"] / 60 for p in c], [p["acc"] for p in c], marker=".", color=colour,
                linestyle="-" if r.get("draw", 0) == 0 else "--",
                label=f"{name}.flags, draw {r.get('draw', 0)} ({r['steps_per_sec']:.0f} steps/s)")
  ax.set(xlabel="training minutes (evaluations excluded)", ylabel="test ACC (argmax z_c, Hungarian)", ylim=(0, 1),
         title="MNIST on one H200: the project's XLA programs replayed by JAX")
  ax.grid(alpha=0.3)
  ax.legend(loc="lower right")
  fig.tight_layout()
  fig.savefig(png, dpi=110)


USAGE = ("usage: python3 .ci/gpu_replay.py PROGRAM_DIR MNIST_DIR NAME[,NAME...] SECONDS [--out DIR] [--deadline S] "
         "[--draw D] [--overhead S]   (NAME: a flag file's programs, e.g. mnist_cpu_float32)\n"
         "       python .ci/gpu_replay.py --plot REPLAY_JSON[,REPLAY_JSON...] PNG")
OPTIONS = ("--out", "--deadline", "--draw", "--overhead")


def usage_error(argv):
  """The usage line (with what is wrong) for arguments the run cannot start from; None where they are usable."""
  if argv[1:2] == ["--plot"]:
    return None if len(argv) == 4 else USAGE
  if len(argv) < 5 or len(argv) % 2 == 0:
    return USAGE
  options = dict(zip(argv[5::2], argv[6::2]))
  bad = [k for k in options if k not in OPTIONS]
  if bad:
    return f"gpu_replay: unknown option {bad[0]}\n{USAGE}"
  if not options.get("--draw", "0").isdigit():
    return f"gpu_replay: --draw {options['--draw']} must be a whole number\n{USAGE}"
  if not any(os.path.exists(os.path.join(argv[2], "train-images-idx3-ubyte" + gz)) for gz in ("", ".gz")):
    return f"gpu_replay: {argv[2]} has no train-images-idx3-ubyte[.gz]; MNIST_DIR needs MNIST's four IDX files\n{USAGE}"
  for value in [argv[4]] + [v for k, v in options.items() if k != "--out"]:
    try:
      float(value)
    except ValueError:
      return f"gpu_replay: {value} is not a number of seconds (or a draw)\n{USAGE}"
  missing = [n for n in argv[3].split(",") if not os.path.isfile(os.path.join(argv[1], n + ".json"))]
  if missing:
    return f"gpu_replay: {argv[1]} has no {missing[0]}.json (write it with .ci/gpu_programs.py)\n{USAGE}"
  return None


def main(argv):
  error = usage_error(argv)
  if error:
    print(error, file=sys.stderr)
    sys.exit(2)
  if argv[1] == "--plot":
    return plot(argv[2], argv[3])
  import jax
  jax.config.update("jax_enable_x64", True)  # the step keeps int64 counters
  from jax._src import xla_bridge
  prog_dir, mnist_dir, names, seconds = argv[1], argv[2], argv[3].split(","), float(argv[4])
  out = argv[argv.index("--out") + 1] if "--out" in argv else None
  if out:
    os.makedirs(out, exist_ok=True)
  backend = xla_bridge.get_backend()
  dev = backend.local_devices()[0]
  data = mnist(mnist_dir)
  logf = open(os.path.join(out, "replay.log"), "a") if out else None

  def log(line):
    print(line, flush=True)
    if logf:
      logf.write(line + "\n")
      logf.flush()

  deadline = float(argv[argv.index("--deadline") + 1]) if "--deadline" in argv else None
  draw = int(argv[argv.index("--draw") + 1]) if "--draw" in argv else 0
  overhead = float(argv[argv.index("--overhead") + 1]) if "--overhead" in argv else 60.0
  start = time.perf_counter()
  log(f"device {dev.device_kind}, jax {jax.__version__}, draw {draw}")
  results = []

  def save(partial=None):
    if out:
      json.dump(results + ([partial] if partial else []), open(os.path.join(out, "replay.json"), "w"), indent=1)

  for i, name in enumerate(names):
    budget = seconds
    if deadline:  # what is left, shared among the recipes left, less --overhead each for compiling and evals
      budget = min(seconds, (deadline - (time.perf_counter() - start)) / (len(names) - i) - overhead)
    meta = json.load(open(os.path.join(prog_dir, name + ".json")))
    try:
      results.append(train(meta, prog_dir, data, budget, dev, backend, log, on_eval=save, draw=draw))
    except Exception as e:  # one recipe's failure must not cost the others' device time
      log(f"{name}: failed: {type(e).__name__}: {str(e)[:500]}")
      results.append(dict(name=name, error=f"{type(e).__name__}: {str(e)[:500]}"))
    save()


if __name__ == "__main__":
  main(sys.argv)
