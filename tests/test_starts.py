"""Label-free choice among several starts (--starts)."""

import dataclasses
import io
import json
import os
import re
import shutil

import pytest

from clustergan_tf import checkpoint, config, starts, train_lib
from clustergan_tf.errors import UsageError


def test_each_start_is_a_short_ordinary_run_of_its_own_seed(tmp_path):
  cfg = config.Config(seed=7, starts=3, start_steps=50, train_steps=900, time_budget_minutes=30, eval_every=100,
                      model_dir=str(tmp_path), lr_decay_from=0.5)
  made = starts.configs(cfg)
  assert [c.seed for c in made] == [7, 1007, 2007]
  assert [c.model_dir for c in made] == [str(tmp_path / "starts" / f"start{i}") for i in range(3)]
  assert {(c.starts, c.train_steps, c.time_budget_minutes, c.eval_every) for c in made} == {(1, 50, 0.0, 0)}
  assert {(c.lr_decay_from, c.collapse_guard) for c in made} == {(1.0, False)}
  assert made[1].logdir == str(tmp_path / "starts" / "start1" / "logs")
  assert starts.configs(dataclasses.replace(cfg, logdir="none"))[0].logdir == "none"


def test_pick_takes_the_highest_label_free_score_and_bills_the_others():
  cfgs = starts.configs(config.Config(starts=3))
  reports = [{"label_free_score": s, "train_minutes": m, "results": {"argmax": {"acc": a}}}
             for s, m, a in [(0.62, 1.0, 0.73), (0.67, 2.0, 0.95), (0.64, 3.0, 0.82)]]
  record = starts.pick(cfgs, reports)
  assert record == {"seeds": [0, 1000, 2000], "label_free_score": [0.62, 0.67, 0.64], "minutes": [1.0, 2.0, 3.0],
                    "picked": 1, "acc_not_used": [0.73, 0.95, 0.82]}
  assert starts.other_seconds(record) == 240.0  # (1 + 3) minutes


def test_finished_reads_only_a_start_that_reached_its_steps(tmp_path):
  cfg = starts.configs(config.Config(starts=2, start_steps=20, model_dir=str(tmp_path)))[0]
  assert starts.finished(cfg) is None
  os.makedirs(cfg.model_dir)
  sample = {"splits": ["test", "train"], "num_rows": 20, "moves_per_row": 8}
  for step, extra, expected in [(10, {"label_free_sample": sample}, None), (20, {"label_free_sample": sample}, 20),
                                (20, {}, None)]:  # the last: scored by the old rule, evaluated again
    with open(os.path.join(cfg.model_dir, "metrics.json"), "w") as f:
      json.dump({"step": step, "label_free_score": 0.5, **extra}, f)
    assert (starts.finished(cfg) or {}).get("step") == expected


@pytest.mark.parametrize("change, why", [(dict(prior="gaussian"), "needs --prior=onehot"),
                                         (dict(strategy="multi_worker"), "not supported with --strategy=multi_worker")])
def test_settings_that_cannot_choose_a_start(change, why):
  with pytest.raises(UsageError, match=f"--starts=2 .*{why}"):
    config.validate(config.Config(starts=2, **change))


def test_the_picked_start_continues_as_a_plain_run_of_its_seed(tiny_config, tiny_data, monkeypatch):
  """Starts of 2 steps, start 1 picked (forced: a tiny model's scores tie) and continued to 4: the same
  weights as an ordinary 4-step run of its seed; every start's minutes are in train_minutes; a rerun
  trains no start again."""
  pick = starts.pick
  monkeypatch.setattr(starts, "pick", lambda cfgs, reports: {**pick(cfgs, reports), "picked": 1})
  cfg = dataclasses.replace(tiny_config, starts=2, start_steps=2, train_steps=4, deterministic=True,
                            jit_compile=False, logdir="none")
  out = io.StringIO()
  report = train_lib.train(cfg, data=tiny_data, out=out)
  with open(os.path.join(cfg.model_dir, starts.RECORD)) as f:
    record = json.load(f)
  picked = record["picked"]
  assert f"picked start 1 of 2 (seed {tiny_config.seed + 1000}" in out.getvalue()
  assert "start 1 of 2: seed 1000, 2 steps in" in out.getvalue()
  assert config.Config.load(os.path.join(cfg.model_dir, "config.json")).seed == record["seeds"][picked]
  assert report["step"] == 4 and report["train_minutes"] >= round(sum(record["minutes"]), 3) - 0.001
  plain = dataclasses.replace(cfg, starts=1, seed=record["seeds"][picked], model_dir=cfg.model_dir + "_plain")
  plain_out = io.StringIO()
  train_lib.train(plain, data=tiny_data, out=plain_out)
  fingerprint = re.compile(r"final weights sha256:(\w+) at step 4")
  assert fingerprint.findall(out.getvalue()) == fingerprint.findall(plain_out.getvalue())
  rerun = io.StringIO()
  train_lib.train(cfg, data=tiny_data, out=rerun)
  assert rerun.getvalue().count("final weights") == 1 and "start 0 of 2: seed" not in rerun.getvalue()
  assert "picked start" in rerun.getvalue()
  assert checkpoint.latest(cfg.model_dir).endswith("ckpt-4")


def test_a_finished_start_trained_on_other_rows_is_not_adopted(tiny_config, tiny_data):
  cfg = dataclasses.replace(tiny_config, starts=2, start_steps=2, train_steps=4, jit_compile=False, logdir="none")
  train_lib.train(cfg, data=tiny_data, out=io.StringIO())
  shutil.rmtree(checkpoint.directory(cfg.model_dir))  # stopped after the starts, before the run's first checkpoint
  x, y = tiny_data.splits["train"]
  other = dataclasses.replace(tiny_data, splits=dict(tiny_data.splits, train=(x[::-1].copy(), y)))
  with pytest.raises(UsageError, match=r"^the training data of --dataset=synthetic .* are not those the checkpoints "
                                       r"in --model_dir=\S+/starts/start\d were trained on"):
    train_lib.train(cfg, data=other, out=io.StringIO())
