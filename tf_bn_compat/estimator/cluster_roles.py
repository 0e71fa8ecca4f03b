"""`train_and_evaluate` on a task of a `TF_CONFIG` cluster.

Between-graph replicated training with parameter servers, as TensorFlow's
Estimator ran it: every task starts its `tf.distribute.Server`; the "ps"
tasks serve the variables (placed there by the default
`replica_device_setter`) until they are stopped; the "chief" and the
"worker"s train the same model into one `model_dir`, where only the chief
initializes the variables and writes checkpoints and summaries (worker `i`
starts `5 * (i + 1)` seconds late, at most 60 or
`RunConfig.experimental_max_worker_delay_secs`); the "evaluator", outside
the training cluster, evaluates and exports each new checkpoint until one
reaches `max_steps`. In the older layout the "master" trains as the chief
does and evaluates on its own checkpoints, as the local loop does.
"""

import time

import tensorflow as tf

from tf_bn_compat.estimator import checkpoint_evaluator
from tf_bn_compat.estimator import cluster_config
from tf_bn_compat.estimator import continuous_evaluation
from tf_bn_compat.estimator import std_server

_logging = tf.compat.v1.logging
TaskType = cluster_config.TaskType
_MAX_DELAY_SECS = 60
_DELAY_SECS_PER_WORKER = 5


def _in_google_environment():
  tf_config = cluster_config.load_tf_config()
  if not tf_config:
    _logging.warning(
        "TF_CONFIG should not be empty in distributed environment.")
  return tf_config.get("environment") == "google"


def worker_start_delay_secs(config):
  """Seconds a worker waits before training (0 for other tasks)."""
  if config.task_type != TaskType.WORKER:
    return 0
  max_delay_secs = _MAX_DELAY_SECS
  if config.experimental_max_worker_delay_secs is not None:
    max_delay_secs = int(config.experimental_max_worker_delay_secs)
  return min(max_delay_secs, (config.task_id + 1) * _DELAY_SECS_PER_WORKER)


def _train(estimator, train_spec, saving_listeners=None):
  """Starts the task's server, waits its delay, then trains."""
  config = estimator.config
  # The server starts before the delay, so that the other tasks can reach
  # this one meanwhile.
  if not _in_google_environment():
    std_server.start_std_server(config)
  delay = worker_start_delay_secs(config)
  if delay > 0:
    _logging.info("Waiting %d secs before starting training.", delay)
    time.sleep(delay)
  estimator.train(input_fn=train_spec.input_fn,
                  max_steps=train_spec.max_steps,
                  hooks=list(train_spec.hooks),
                  saving_listeners=saving_listeners)


def run_chief(estimator, train_spec, eval_spec):
  del eval_spec
  _train(estimator, train_spec, train_spec.saving_listeners)


def run_worker(estimator, train_spec, eval_spec):
  del eval_spec
  _train(estimator, train_spec)


def run_master(estimator, train_spec, eval_spec):
  """Trains as the chief, evaluating and exporting each new checkpoint."""
  evaluator = checkpoint_evaluator.Evaluator(estimator, eval_spec,
                                             train_spec.max_steps)
  listener = checkpoint_evaluator.EvaluateOnNewCheckpoint(
      evaluator, eval_spec.throttle_secs)
  _train(estimator, train_spec, train_spec.saving_listeners + (listener,))


def run_ps(estimator, train_spec, eval_spec):
  """Serves the variables; returns only if the server stops."""
  del train_spec, eval_spec
  std_server.start_std_server(estimator.config).join()


def run_evaluator(estimator, train_spec, eval_spec):
  continuous_evaluation.run_evaluator(estimator, train_spec, eval_spec)


_ROLES = {
    TaskType.CHIEF: run_chief,
    TaskType.EVALUATOR: run_evaluator,
    TaskType.MASTER: run_master,
    TaskType.PS: run_ps,
    TaskType.WORKER: run_worker,
}


def run_task(estimator, train_spec, eval_spec):
  """Runs the role of the Estimator's task (`RunConfig.task_type`).

  Args:
    estimator: The `Estimator`.
    train_spec: The `TrainSpec`.
    eval_spec: The `EvalSpec`.

  Raises:
    ValueError: If the task type is missing, "local", or not a role
      (TensorFlow's messages).
  """
  task_type = estimator.config.task_type
  if not task_type:
    raise ValueError(
        "`estimator.config` must have task_type set. This usually means "
        "TF_CONFIG environment is not set correctly.")
  if task_type == "local":
    raise ValueError(
        "`task.type` in TF_CONFIG cannot be `local`. Leaving `cluster` and "
        "`task` properties in TF_CONFIG absent triggers train and evaluate "
        "`Estimator` locally (non-distributed).")
  if task_type not in _ROLES:
    raise ValueError(
        "Task type {} is not supported. Supported task types are {}".format(
            task_type, sorted(_ROLES)))
  _ROLES[task_type](estimator, train_spec, eval_spec)
