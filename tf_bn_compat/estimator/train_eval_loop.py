"""`train_and_evaluate`: train, evaluating and exporting on new checkpoints.

Locally (no cluster in the `RunConfig`), training runs once with a saving
listener; each checkpoint after the first one it sees is evaluated, unless
the last evaluation started less than `EvalSpec.throttle_secs` ago; every
evaluation runs the exporters on the evaluated checkpoint. When training
ends (at `TrainSpec.max_steps`), the last checkpoint is evaluated if it
was not yet, and the exporters hear it is the final export.
"""

import collections
import os

import tensorflow as tf

from tf_bn_compat.estimator import cluster_config
from tf_bn_compat.estimator import estimator as estimator_lib
from tf_bn_compat.estimator import hooks as hooks_lib
from tf_bn_compat.estimator import multi_worker
from tf_bn_compat.estimator import training_specs

_logging = tf.compat.v1.logging
_GLOBAL_STEP = tf.compat.v1.GraphKeys.GLOBAL_STEP
_EVALUATOR = "evaluator"


class EvalStatus(object):
  """What an attempt to evaluate found."""
  EVALUATED = "evaluated"
  MISSING_CHECKPOINT = "missing checkpoint"
  NO_NEW_CHECKPOINT = "no new checkpoint"


EvalResult = collections.namedtuple(
    "EvalResult", ["status", "metrics", "checkpoint_path"])
EvalResult.__new__.__defaults__ = (None, None)


def _check_eval_spec(eval_spec):
  if not isinstance(eval_spec, training_specs.EvalSpec):
    raise TypeError("`eval_spec` must have type `tf.estimator.EvalSpec`. "
                    "Got: {}".format(type(eval_spec)))


def _check_arguments(estimator, train_spec):
  if not isinstance(estimator, estimator_lib.Estimator):
    raise TypeError("`estimator` must have type `tf.estimator.Estimator`. "
                    "Got: {}".format(type(estimator)))
  if not isinstance(train_spec, training_specs.TrainSpec):
    raise TypeError("`train_spec` must have type `tf.estimator.TrainSpec`. "
                    "Got: {}".format(type(train_spec)))


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
      _logging.warning("Estimator is not trained yet. Will start an "
                       "evaluation when a checkpoint is ready.")
      return EvalResult(EvalStatus.MISSING_CHECKPOINT), []
    if checkpoint == self._previous_checkpoint:
      _logging.warning(
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
    self._previous_checkpoint = checkpoint
    return result, exports


class _EvaluateOnNewCheckpoint(hooks_lib.CheckpointSaverListener):
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


def run_local(estimator, train_spec, eval_spec):
  """Trains with evaluation and export on new checkpoints, in this process.

  Returns:
    (the last evaluation's metrics, the exporters' results of it); both
    None when nothing was evaluated (training had already reached
    `max_steps`).
  """
  config = estimator.config
  _logging.info(
      "Start train and evaluate loop. The evaluate will happen after every "
      "checkpoint. Checkpoint frequency is determined based on RunConfig "
      "arguments: save_checkpoints_steps {} or save_checkpoints_secs "
      "{}.".format(config.save_checkpoints_steps,
                   config.save_checkpoints_secs))
  evaluator = Evaluator(estimator, eval_spec, train_spec.max_steps)
  listener = _EvaluateOnNewCheckpoint(evaluator, eval_spec.throttle_secs)
  estimator.train(input_fn=train_spec.input_fn,
                  max_steps=train_spec.max_steps,
                  hooks=list(train_spec.hooks),
                  saving_listeners=train_spec.saving_listeners + (listener,))
  metrics = listener.eval_result.metrics if listener.eval_result else None
  return metrics, listener.export_results


def _check_local(config):
  """Raises unless the `RunConfig` and `TF_CONFIG` describe one process.

  Distributed roles are not run here; a task of a `TF_CONFIG` cluster that
  trained locally would silently duplicate the chief's work.
  """
  task = cluster_config.cluster_config(cluster_config.load_tf_config())
  for described in (config, task):
    if described.task_type == _EVALUATOR and described.task_id > 0:
      raise ValueError(
          "For distributed training, there can only be one `evaluator` task "
          "(with task id 0).  Given task id {}".format(described.task_id))
    if described.cluster_spec or described.task_type == _EVALUATOR:
      raise NotImplementedError(
          "train_and_evaluate runs locally only: the {} task of a cluster "
          "(TF_CONFIG) needs TensorFlow's own Estimator.".format(
              described.task_type))


def train_and_evaluate(estimator, train_spec, eval_spec):
  """Trains `estimator`, evaluating and exporting as training goes.

  The only stop condition is `train_spec.max_steps` (None trains
  forever). An evaluation follows each new checkpoint (see `RunConfig`'s
  `save_checkpoints_steps`/`_secs`) unless the previous one started less
  than `eval_spec.throttle_secs` ago; the last checkpoint is always
  evaluated. Each evaluation runs `eval_spec.exporters`, which write to
  `model_dir/export/<exporter name>/<timestamp>/`.

  Args:
    estimator: An `Estimator`.
    train_spec: A `TrainSpec`.
    eval_spec: An `EvalSpec`.

  Returns:
    (dict of the last evaluation's metrics, list of what each exporter
    returned for it); (None, None) if training had already reached
    `max_steps`. None on a worker of a multi-worker `train_distribute`
    (it trains only).

  Raises:
    TypeError: If an argument has the wrong type.
    ValueError: If `TF_CONFIG` is invalid or names an evaluator other than
      task 0.
    NotImplementedError: If the `RunConfig` or `TF_CONFIG` describe a
      cluster.
  """
  _check_eval_spec(eval_spec)
  _check_arguments(estimator, train_spec)
  if multi_worker.is_multi_worker(estimator.config.train_distribute):
    _logging.info("Running `train_and_evaluate` on a worker of a "
                  "multi-worker strategy.")
    multi_worker.train_worker(estimator, train_spec)
    return None
  _check_local(estimator.config)
  _logging.info("Running training and evaluation locally (non-distributed).")
  return run_local(estimator, train_spec, eval_spec)
