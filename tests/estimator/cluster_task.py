"""One task of a test cluster: `train_and_evaluate` under its TF_CONFIG.

Usage: cluster_task.py MODULE WORK_DIR MAX_STEPS

MODULE is "ours" (`tf.estimator` after `patch_tf()` where TensorFlow has
none, else `tf_bn_compat.estimator`) or "native" (TensorFlow's own).
TF_CONFIG gives the task and the model_dir. The worker trains to half of
MAX_STEPS, so that the chief alone takes the last steps and the final
global step is exactly MAX_STEPS. The chief waits for the worker's session
before its first step, so that both train. A training task writes
WORK_DIR/<task type>.json: {"steps": steps it ran}.
"""

import json
import os
import sys
import time

import tensorflow as tf

import estimator_models as models

_BARRIER_TIMEOUT_SECS = 120


def _estimator_module(name):
  if name == "native":
    return tf.estimator
  import tf_bn_compat  # pylint: disable=g-import-not-at-top
  if getattr(tf, "estimator", None) is None:
    tf_bn_compat.patch_tf()
    return tf.estimator
  from tf_bn_compat import estimator  # pylint: disable=g-import-not-at-top
  return estimator


class _Harness(tf.compat.v1.train.SessionRunHook):
  """Counts this task's steps; the chief waits until the worker is up."""

  def __init__(self, task_type, work_dir):
    self._task_type = task_type
    self._marker = os.path.join(work_dir, "worker_ready")
    self._out = os.path.join(work_dir, task_type + ".json")
    self._steps = 0

  def after_create_session(self, session, coord):
    del session, coord
    if self._task_type == "worker":
      open(self._marker, "w").close()
      return
    deadline = time.time() + _BARRIER_TIMEOUT_SECS
    while not os.path.exists(self._marker) and time.time() < deadline:
      time.sleep(0.05)

  def after_run(self, run_context, run_values):
    self._steps += 1

  def end(self, session):
    with open(self._out, "w") as f:
      json.dump({"steps": self._steps}, f)


def main(module, work_dir, max_steps):
  tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.INFO)
  est = _estimator_module(module)
  task_type = json.loads(os.environ["TF_CONFIG"])["task"]["type"]
  # Every checkpoint is kept: one deleted while the evaluator restores it
  # would fail the evaluation (as in TensorFlow).
  config = models.run_config(est, save_checkpoints_steps=max_steps // 4,
                             save_summary_steps=max_steps // 4,
                             log_step_count_steps=max_steps // 4,
                             keep_checkpoint_max=0)
  estimator = est.Estimator(models.make_model_fn(est), config=config)
  (x, y), (ex, ey) = models.make_data(64, seed=0), models.make_data(40, 1)
  train_steps = max_steps // 2 if task_type == "worker" else max_steps
  train_spec = est.TrainSpec(models.train_input_fn(x, y),
                             max_steps=train_steps,
                             hooks=[_Harness(task_type, work_dir)])
  eval_spec = est.EvalSpec(
      models.eval_input_fn(ex, ey), steps=None, start_delay_secs=1,
      throttle_secs=1, exporters=[est.FinalExporter(
          "final", models.serving_input_receiver_fn(est))])
  est.train_and_evaluate(estimator, train_spec, eval_spec)
  sys.stdout.flush()
  sys.stderr.flush()
  # A started server's threads would keep the process alive.
  os._exit(0)  # pylint: disable=protected-access


if __name__ == "__main__":
  main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
