"""The modes an Estimator calls its `model_fn` in."""


class ModeKeys(object):
  """Standard names for model modes, as `tf.estimator.ModeKeys`.

  * `TRAIN`: training/fitting mode.
  * `EVAL`: testing/evaluation mode.
  * `PREDICT`: prediction/inference mode (also the serving export).
  """

  TRAIN = "train"
  EVAL = "eval"
  PREDICT = "infer"


ALL = (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT)
