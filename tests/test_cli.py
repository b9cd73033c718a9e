"""The shared command-line wrapper: one-line endings with their exit statuses; the message for an interruption
outside the training loop."""

import signal
import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf

from clustergan_tf import cli


def _save(directory):
  return tf.train.Checkpoint(v=tf.Variable(1.0)).save(str(directory / "ckpt" / "ckpt"))


def test_nothing_saved_says_so(tmp_path):
  assert cli.interrupted_message(str(tmp_path)) == ("interrupted before training started (loading data or "
                                                    "building the model); nothing was saved")
  assert "nothing was saved" in cli.interrupted_message(str(tmp_path / "missing"))


def test_one_checkpoint_is_named(tmp_path):
  path = _save(tmp_path)
  assert cli.interrupted_message(str(tmp_path)).endswith(f"no training step was lost: rerunning the same command "
                                                         f"continues from {path}")


def test_runs_under_the_model_dir_are_counted(tmp_path):
  """reproduce and select_k keep one model per seed (and K) below --model_dir."""
  _save(tmp_path / "seed0")
  _save(tmp_path / "k4" / "seed1")
  assert cli.interrupted_message(str(tmp_path)).endswith(f"continues from the 2 checkpoints under {tmp_path}")


def test_ending_maps_each_known_ending_to_one_line_and_its_status(tmp_path):
  from clustergan_tf import parallel, train_lib
  from clustergan_tf.errors import UsageError
  assert cli.ending(UsageError("--k=1 must be >= 2")) == ("--k=1 must be >= 2", 2)
  assert cli.ending(KeyboardInterrupt()) == ("interrupted", 130)
  assert cli.ending(KeyboardInterrupt(), str(tmp_path))[0].endswith("nothing was saved")
  d = str(tmp_path)
  assert cli.ending(train_lib.TrainingDiverged("NaN at step 3"), d) == ("training diverged: NaN at step 3", 3)
  assert cli.ending(train_lib.TrainingInterrupted("interrupted at step 4"), d) == ("interrupted at step 4", 130)
  assert cli.ending(parallel.ChildFailed("killed by SIGKILL"), str(tmp_path)) == ("killed by SIGKILL", 1)
  assert cli.ending(train_lib.TrainingDiverged("x")) is None  # a command that does not train: a bug, traceback
  assert cli.ending(ValueError("a bug"), str(tmp_path)) is None


def test_a_missing_flag_file_says_where_the_flag_files_are():
  from absl import flags
  fv = flags.FlagValues()
  with pytest.raises(flags.Error) as e:
    fv(["prog", "--flagfile=/nonexistent/x.flags"])
  line = cli.flag_error(str(e.value))
  assert line.startswith("Unable to open flagfile: ") and "/nonexistent/x.flags" in line
  assert line.endswith("in the repository's root: run from there or give the file's path")
  assert cli.flag_error("flag --k=x: invalid literal") == "flag --k=x: invalid literal"  # others as absl wrote them


def test_after_the_first_interrupt_later_signals_are_ignored_to_the_exit(tmp_path):
  """Ctrl-C, then a Ctrl-C and a SIGTERM as late as the interpreter's exit: still one line and status 130 (they had
  added a traceback, or killed the process with 143 after the line)."""
  script = tmp_path / "command.py"
  script.write_text(textwrap.dedent("""
      import atexit, os, signal, time
      from absl import flags
      from clustergan_tf import cli

      flags.DEFINE_string("model_dir", "MODEL_DIR", "")

      def late():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)

      def main(argv):
        atexit.register(late)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(30)

      cli.run(main, trains=True)
      """).replace("MODEL_DIR", str(tmp_path / "model")))
  done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # xdist's workers ignore it
  assert (done.returncode, done.stderr) == (130, "error: interrupted before training started (loading data or "
                                                 "building the model); nothing was saved\n")


def _command_stopped_by(tmp_path, inherited, signum):
  """(exit status, stderr) of a command (cli.run, not training) started with SIGINT `inherited`, sent `signum`."""
  script = tmp_path / "command.py"
  script.write_text(textwrap.dedent(f"""
      import os, signal, time
      from clustergan_tf import cli

      def main(argv):
        os.kill(os.getpid(), {int(signum)})
        time.sleep(5)
        print("survived")

      cli.run(main)
      """))
  done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                        preexec_fn=lambda: signal.signal(signal.SIGINT, inherited))
  return done.returncode, done.stderr, done.stdout


def test_a_command_started_with_ctrl_c_ignored_keeps_it_ignored_and_kill_still_ends_one_that_does_not_train(tmp_path):
  """A background job of a script inherits an ignored Ctrl-C; a command that does not train has nothing to save."""
  assert _command_stopped_by(tmp_path, signal.SIG_IGN, signal.SIGINT) == (0, "", "survived\n")
  assert _command_stopped_by(tmp_path, signal.SIG_DFL, signal.SIGINT)[:2] == (130, "error: interrupted\n")
  assert _command_stopped_by(tmp_path, signal.SIG_DFL, signal.SIGTERM)[0] == -signal.SIGTERM
