"""Evaluating the latest checkpoint and exporting it, once per checkpoint.

`Evaluator` is what `train_and_evaluate` runs on each new checkpoint:
locally from a saving listener (`EvaluateOnNewCheckpoint`, also the master
task's), on a cluster in the evaluator task's loop.
"""

import collections
import os
import time

import tensorflow as tf

from tf_bn_compat.estimator import hooks as hooks_lib

_logging = tf.compat.v1.logging
_GLOBAL_STEP = tf.compat.v1.GraphKeys.GLOBAL_STEP
# A warning about a missing or unchanged checkpoint is repeated at most
# this often (seconds).
_WARNING_INTERVAL_SECS = 600


class EvalStatus(object):
  """What an attempt to evaluate found."""
  EVALUATED = "evaluated"
  MISSING_CHECKPOINT = "missing checkpoint"
  NO_NEW_CHECKPOINT = "no new checkpoint"


EvalResult = collections.namedtuple(
    "EvalResult", ["status", "metrics", "checkpoint_path"])
EvalResult.__new__.__defaults__ = (None, None)


class Evaluator(object):
  """Evaluates the latest checkpoint once, then runs the exporters on it.

  Args:
    estimator: The `Estimator`.
    eval_spec: The `EvalSpec`.
    max_training_steps: `TrainSpec.max_steps`; an evaluation at or past it
      makes the final export.
  """

  def __init__(self, estimator, eval_spec, max_training_steps):
    self._estimator = estimator
    self._eval_spec = eval_spec
    self._max_training_steps = max_training_steps
    self._previous_checkpoint = None
    self._last_warning_time = 0

  def _warn(self, message):
    now = time.time()
    if now - self._last_warning_time > _WARNING_INTERVAL_SECS:
      _logging.warning(message)
      self._last_warning_time = now

  def _export(self, result, is_the_final_export):
    export_dir_base = os.path.join(
        tf.compat.as_str_any(self._estimator.model_dir), "export")
    return [exporter.export(
        estimator=self._estimator,
        export_path=os.path.join(export_dir_base, exporter.name),
        checkpoint_path=result.checkpoint_path,
        eval_result=result.metrics,
        is_the_final_export=is_the_final_export)
            for exporter in self._eval_spec.exporters]

  def evaluate_and_export(self):
    """Evaluates a new checkpoint and exports it.

    Returns:
      (EvalResult, list of the exporters' results); the list is empty when
      there was no new checkpoint to evaluate.
    """
    checkpoint = self._estimator.latest_checkpoint()
    if not checkpoint:
      self._warn("Estimator is not trained yet. Will start an evaluation "
                 "when a checkpoint is ready.")
      return EvalResult(EvalStatus.MISSING_CHECKPOINT), []
    if checkpoint == self._previous_checkpoint:
      self._warn(
          "No new checkpoint ready for evaluation. Skip the current "
          "evaluation pass as evaluation results are expected to be same "
          "for the same checkpoint.")
      return EvalResult(EvalStatus.NO_NEW_CHECKPOINT), []
    metrics = self._estimator.evaluate(
        input_fn=self._eval_spec.input_fn, steps=self._eval_spec.steps,
        name=self._eval_spec.name, checkpoint_path=checkpoint,
        hooks=self._eval_spec.hooks)
    result = EvalResult(EvalStatus.EVALUATED, metrics, checkpoint)
    is_final = bool(self._max_training_steps) and (
        metrics[_GLOBAL_STEP] >= self._max_training_steps)
    exports = self._export(result, is_final)
    self._last_warning_time = 0
    self._previous_checkpoint = checkpoint
    return result, exports


class EvaluateOnNewCheckpoint(hooks_lib.CheckpointSaverListener):
  """Evaluates after checkpoints are saved, at most every `throttle_secs`.

  The checkpoint saved when the session starts is not evaluated (it holds
  nothing trained in this run); the last one is, when training ends.
  """

  def __init__(self, evaluator, throttle_secs):
    self._evaluator = evaluator
    self._throttle_secs = throttle_secs
    self._timer = None
    self._first_save_seen = False
    self.eval_result, self.export_results = None, None

  def begin(self):
    self._timer = hooks_lib.SecondOrStepTimer(every_secs=self._throttle_secs)
    self._first_save_seen = False

  def after_save(self, session, global_step_value):
    del session
    if not self._first_save_seen:
      self._first_save_seen = True
      return
    if self._timer.should_trigger_for_step(global_step_value):
      self._evaluate(global_step_value)
    else:
      _logging.info("Skip the current checkpoint eval due to throttle secs "
                    "({} secs).".format(self._throttle_secs))

  def end(self, session, global_step_value):
    del session
    if global_step_value != self._timer.last_triggered_step():
      self._evaluate(global_step_value)

  def _evaluate(self, global_step_value):
    self._timer.update_last_triggered_step(global_step_value)
    result, self.export_results = self._evaluator.evaluate_and_export()
    self.eval_result = result
    if result.status != EvalStatus.EVALUATED:
      raise RuntimeError("There was no new checkpoint after the training. "
                         "Eval status: {}".format(result.status))
