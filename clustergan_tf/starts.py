"""Label-free choice among several starts of one run (--starts, --start_steps).

Whether ClusterGAN's modes follow the classes is settled early and depends on the seed: on MNIST some
seeds merge 4, 7 and 9 within 2,000 steps and never separate them. The authors keep the best of 5
finished runs by purity, which needs labels. Here each of --starts seeds trains --start_steps steps,
the one with the highest label_free_score (no labels) continues, and the other starts' minutes count
toward the run's time budget and its train_minutes.

  MODEL_DIR/starts/start<i>/   start i: an ordinary run with seed --seed + SEED_STRIDE * i
  MODEL_DIR/starts.json        the choice: seeds, label_free_score, minutes, picked (index), acc_not_used
"""

import dataclasses
import os

import numpy as np

SEED_STRIDE = 1000  # start i of --seed=S trains with seed S + 1000 i (rerun it alone with that --seed)
RECORD = "starts.json"


def configs(cfg):
  """The Config of each start: its seed, --start_steps steps, no time budget, evaluated at its end only,
  in MODEL_DIR/starts/start<i>; constant learning rates (the decay belongs to the continued run) and no
  collapse guard (a start that collapses scores low and is not picked; it must not stop the choice)."""
  out = []
  for i in range(cfg.starts):
    model_dir = os.path.join(cfg.model_dir, "starts", f"start{i}")
    logdir = "none" if cfg.logdir == "none" else os.path.join(model_dir, "logs")
    out.append(dataclasses.replace(cfg, seed=cfg.seed + SEED_STRIDE * i, starts=1, train_steps=cfg.start_steps,
                                   time_budget_minutes=0.0, eval_every=0, model_dir=model_dir, logdir=logdir,
                                   lr_decay_from=1.0, collapse_guard=False))
  return out


def finished(start_cfg):
  """The metrics.json report of a start that reached its steps (a rerun does not train it again), else None.
  A report without `label_free_sample` was scored by the rule before the eighteenth session: None, so that the
  start is evaluated again (no training) and every start is compared by one rule."""
  from clustergan_tf import evaluate_lib
  report = evaluate_lib.read(start_cfg.model_dir)
  current = report is not None and "label_free_sample" in report
  return report if current and report.get("step") == start_cfg.train_steps else None


def pick(start_cfgs, reports):
  """The choice, as written to starts.json: the start with the highest label_free_score. acc_not_used (the
  starts' test ACC, when the data has labels) is there to judge the criterion, never to choose."""
  scores = [float(r["label_free_score"]) for r in reports]
  accs = [r.get("results", {}).get("argmax", {}).get("acc") for r in reports]
  return {"seeds": [c.seed for c in start_cfgs], "label_free_score": scores,
          "minutes": [float(r["train_minutes"]) for r in reports], "picked": int(np.argmax(scores)),
          "acc_not_used": accs}


def other_seconds(record):
  """Training seconds of the starts that were not picked (they count toward the run's budget)."""
  minutes = record["minutes"]
  return 60.0 * (sum(minutes) - minutes[record["picked"]])
