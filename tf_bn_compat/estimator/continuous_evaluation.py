"""The evaluator task: evaluate each new checkpoint until training ends.

After `EvalSpec.start_delay_secs`, the latest checkpoint is evaluated and
exported (see `checkpoint_evaluator.Evaluator`), at most once per
`EvalSpec.throttle_secs`; the loop ends once a checkpoint at or past
`TrainSpec.max_steps` was evaluated (never when it is None).
"""

import time

import tensorflow as tf

from tf_bn_compat.estimator import checkpoint_evaluator

_logging = tf.compat.v1.logging
_GLOBAL_STEP = tf.compat.v1.GraphKeys.GLOBAL_STEP
EvalStatus = checkpoint_evaluator.EvalStatus


def _training_ended(result, max_steps):
  if result is None or result.status != EvalStatus.EVALUATED:
    return False
  global_step = result.metrics.get(_GLOBAL_STEP)
  if global_step and max_steps and global_step >= max_steps:
    _logging.info("Exiting evaluation, global_step=%s >= train max_steps=%s",
                  global_step, max_steps)
    return True
  return False


def _throttle(started, throttle_secs, result):
  """Sleeps out what is left of `throttle_secs` since `started`."""
  remaining = throttle_secs - (time.time() - started)
  if remaining > 0:
    _logging.info("Waiting %f secs before starting next eval run.", remaining)
    time.sleep(remaining)
  elif throttle_secs == 0 and result.status != EvalStatus.EVALUATED:
    _logging.warning(
        "EvalSpec.throttle_secs is set as 0. This might overload the job "
        "before finding (next) new checkpoint. Please consider to increase "
        "it.")


def run_evaluator(estimator, train_spec, eval_spec):
  """Evaluates and exports new checkpoints of `estimator.model_dir`.

  Args:
    estimator: The `Estimator`.
    train_spec: The `TrainSpec` (its `max_steps` ends the loop).
    eval_spec: The `EvalSpec`.
  """
  if eval_spec.start_delay_secs:
    _logging.info("Waiting %f secs before starting eval.",
                  eval_spec.start_delay_secs)
    time.sleep(eval_spec.start_delay_secs)
  evaluator = checkpoint_evaluator.Evaluator(estimator, eval_spec,
                                             train_spec.max_steps)
  result = None
  while not _training_ended(result, train_spec.max_steps):
    started = time.time()
    result, _ = evaluator.evaluate_and_export()
    _throttle(started, eval_spec.throttle_secs, result)
