"""`train_and_evaluate`: train, evaluating and exporting on new checkpoints.

A task of a `TF_CONFIG` cluster runs its role (`cluster_roles.py`).
Locally (no cluster in the `RunConfig`), training runs once with a saving
listener; each checkpoint after the first one it sees is evaluated, unless
the last evaluation started less than `EvalSpec.throttle_secs` ago; every
evaluation runs the exporters on the evaluated checkpoint. When training
ends (at `TrainSpec.max_steps`), the last checkpoint is evaluated if it
was not yet, and the exporters hear it is the final export.
"""

import tensorflow as tf

from tf_bn_compat.estimator import checkpoint_evaluator
from tf_bn_compat.estimator import cluster_config
from tf_bn_compat.estimator import cluster_roles
from tf_bn_compat.estimator import estimator as estimator_lib
from tf_bn_compat.estimator import multi_worker
from tf_bn_compat.estimator import training_specs

_logging = tf.compat.v1.logging
TaskType = cluster_config.TaskType


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
  evaluator = checkpoint_evaluator.Evaluator(estimator, eval_spec,
                                             train_spec.max_steps)
  listener = checkpoint_evaluator.EvaluateOnNewCheckpoint(
      evaluator, eval_spec.throttle_secs)
  estimator.train(input_fn=train_spec.input_fn,
                  max_steps=train_spec.max_steps,
                  hooks=list(train_spec.hooks),
                  saving_listeners=train_spec.saving_listeners + (listener,))
  metrics = listener.eval_result.metrics if listener.eval_result else None
  return metrics, listener.export_results


def train_and_evaluate(estimator, train_spec, eval_spec):
  """Trains `estimator`, evaluating and exporting as training goes.

  The only stop condition is `train_spec.max_steps` (None trains
  forever). An evaluation follows each new checkpoint (see `RunConfig`'s
  `save_checkpoints_steps`/`_secs`) unless the previous one started less
  than `eval_spec.throttle_secs` ago; the last checkpoint is always
  evaluated. Each evaluation runs `eval_spec.exporters`, which write to
  `model_dir/export/<exporter name>/<timestamp>/`.

  On a task of a `TF_CONFIG` cluster (`RunConfig.cluster_spec`, or the
  evaluator), the task runs its role instead (see `cluster_roles.py`):
  chief and workers train with the parameter servers, the evaluator
  evaluates and exports each new checkpoint.

  Args:
    estimator: An `Estimator`.
    train_spec: A `TrainSpec`.
    eval_spec: An `EvalSpec`.

  Returns:
    Locally, (dict of the last evaluation's metrics, list of what each
    exporter returned for it), (None, None) if training had already
    reached `max_steps`; None on a cluster's task and on a worker of a
    multi-worker `train_distribute` (it trains only).

  Raises:
    TypeError: If an argument has the wrong type.
    ValueError: If the config names an evaluator other than task 0 or a
      task type that has no role.
  """
  _check_eval_spec(eval_spec)
  _check_arguments(estimator, train_spec)
  config = estimator.config
  if multi_worker.is_multi_worker(config.train_distribute):
    _logging.info("Running `train_and_evaluate` on a worker of a "
                  "multi-worker strategy.")
    multi_worker.train_worker(estimator, train_spec)
    return None
  if config.task_type == TaskType.EVALUATOR and config.task_id > 0:
    raise ValueError(
        "For distributed training, there can only be one `evaluator` task "
        "(with task id 0).  Given task id {}".format(config.task_id))
  if config.cluster_spec or config.task_type == TaskType.EVALUATOR:
    return cluster_roles.run_task(estimator, train_spec, eval_spec)
  _logging.info("Running training and evaluation locally (non-distributed).")
  return run_local(estimator, train_spec, eval_spec)
