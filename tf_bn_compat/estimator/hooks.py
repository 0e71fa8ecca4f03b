"""The session hooks and listener classes `tf.estimator` re-exports.

They are TensorFlow's own (`tf.compat.v1.train`): the Estimator builds on
`MonitoredTrainingSession`, which runs them.
"""

import tensorflow as tf

_train = tf.compat.v1.train

CheckpointSaverHook = _train.CheckpointSaverHook
CheckpointSaverListener = _train.CheckpointSaverListener
FeedFnHook = _train.FeedFnHook
FinalOpsHook = _train.FinalOpsHook
GlobalStepWaiterHook = _train.GlobalStepWaiterHook
LoggingTensorHook = _train.LoggingTensorHook
NanLossDuringTrainingError = _train.NanLossDuringTrainingError
NanTensorHook = _train.NanTensorHook
ProfilerHook = _train.ProfilerHook
SecondOrStepTimer = _train.SecondOrStepTimer
SessionRunArgs = _train.SessionRunArgs
SessionRunContext = _train.SessionRunContext
SessionRunHook = _train.SessionRunHook
SessionRunValues = _train.SessionRunValues
StepCounterHook = _train.StepCounterHook
StopAtStepHook = _train.StopAtStepHook
SummarySaverHook = _train.SummarySaverHook

NAMES = (
    "CheckpointSaverHook", "CheckpointSaverListener", "FeedFnHook",
    "FinalOpsHook", "GlobalStepWaiterHook", "LoggingTensorHook",
    "NanLossDuringTrainingError", "NanTensorHook", "ProfilerHook",
    "SecondOrStepTimer", "SessionRunArgs", "SessionRunContext",
    "SessionRunHook", "SessionRunValues", "StepCounterHook",
    "StopAtStepHook", "SummarySaverHook")


def check_hooks(hooks):
  """`hooks` as a list, each a `SessionRunHook`.

  Raises:
    TypeError: If one is not a `SessionRunHook`.
  """
  hooks = list(hooks or [])
  for hook in hooks:
    if not isinstance(hook, SessionRunHook):
      raise TypeError("Hooks must be a SessionRunHook, given: {}".format(hook))
  return hooks


def check_listeners(listeners):
  """`listeners` as a list, each a `CheckpointSaverListener`.

  Raises:
    TypeError: If one is not a `CheckpointSaverListener`.
  """
  listeners = list(listeners or [])
  for listener in listeners:
    if not isinstance(listener, CheckpointSaverListener):
      raise TypeError("saving_listeners must be a list of "
                      "CheckpointSaverListener, given: {}".format(listener))
  return listeners
