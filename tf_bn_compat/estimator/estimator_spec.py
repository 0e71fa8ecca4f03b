"""`EstimatorSpec`: what a `model_fn` returns, checked as TensorFlow did."""

import collections

import tensorflow as tf

from tf_bn_compat.estimator import mode_keys
from tf_bn_compat.estimator.export import signatures

ModeKeys = mode_keys.ModeKeys

_GRAPH_ERROR = (
    '{0} with "{1}" must be from the default graph. Possible causes of this '
    "error include: \n\n1) {0} was created outside the context of the "
    "default graph.\n\n2) The object passed through to EstimatorSpec was not "
    'created in the most recent call to "model_fn".')


def _check_tensor(value, name):
  if not isinstance(value, tf.Tensor):
    raise TypeError("{} must be Tensor, given: {}".format(name, value))
  return value


def _check_same_graph(value, what, label):
  if value.graph is not tf.compat.v1.get_default_graph():
    raise ValueError(_GRAPH_ERROR.format(what, label))


def _train_op(train_op, mode):
  if train_op is None:
    if mode == ModeKeys.TRAIN:
      raise ValueError("Missing train_op.")
    return None
  if not isinstance(train_op, (tf.Operation, tf.Tensor, tf.Variable)):
    raise TypeError(
        "train_op must be Operation or Tensor, given: {}".format(train_op))
  if isinstance(train_op, tf.Variable):
    # As a distributed v1 optimizer's step may be (its global step's update).
    train_op = train_op.op
  _check_same_graph(train_op, "train_op", train_op.name)
  return train_op


def _loss(loss, mode):
  if loss is None:
    if mode in (ModeKeys.TRAIN, ModeKeys.EVAL):
      raise ValueError("Missing loss.")
    return None
  _check_tensor(loss, "loss")
  if loss.shape.num_elements() not in (None, 1):
    raise ValueError("Loss must be scalar, given: {}".format(loss))
  _check_same_graph(loss, "loss", loss.name)
  if not loss.shape.is_compatible_with(tf.TensorShape([])):
    loss = tf.reshape(loss, [])
  return loss


def _predictions(predictions, mode):
  if predictions is None:
    if mode == ModeKeys.PREDICT:
      raise ValueError("Missing predictions.")
    return {}
  if isinstance(predictions, dict):
    for key, value in predictions.items():
      _check_tensor(value, "predictions[{}]".format(key))
      _check_same_graph(value, "prediction values",
                        "{0}: {1}".format(key, value.name))
    return predictions
  _check_tensor(predictions, "predictions")
  _check_same_graph(predictions, "prediction values", predictions.name)
  return predictions


def _eval_metric_ops(eval_metric_ops):
  if eval_metric_ops is None:
    return {}
  if not isinstance(eval_metric_ops, dict):
    raise TypeError(
        "eval_metric_ops must be a dict, given: {}".format(eval_metric_ops))
  for key, value in eval_metric_ops.items():
    if not isinstance(value, tuple) or len(value) != 2:
      raise TypeError("Values of eval_metric_ops must be (metric_value, "
                      "update_op) tuples, given: {} for key: {}".format(
                          value, key))
    for part in tf.nest.flatten(value):
      _check_same_graph(part, "eval_metric_ops",
                        "{0}: {1}".format(key, part.name))
  return dict(eval_metric_ops)


def _hooks(hooks):
  hooks = tuple(hooks or [])
  for hook in hooks:
    if not isinstance(hook, tf.compat.v1.train.SessionRunHook):
      raise TypeError(
          "All hooks must be SessionRunHook instances, given: {}".format(hook))
  return hooks


def _scaffold(scaffold):
  if scaffold is None:
    return tf.compat.v1.train.Scaffold()
  if not isinstance(scaffold, tf.compat.v1.train.Scaffold):
    raise TypeError(
        "scaffold must be tf.train.Scaffold. Given: {}".format(scaffold))
  return scaffold


class EstimatorSpec(
    collections.namedtuple("EstimatorSpec", [
        "mode", "predictions", "loss", "train_op", "eval_metric_ops",
        "export_outputs", "training_chief_hooks", "training_hooks",
        "scaffold", "evaluation_hooks", "prediction_hooks"
    ])):
  """Ops and objects a `model_fn` returns, as `tf.estimator.EstimatorSpec`.

  What each mode needs:

  * TRAIN: `loss` and `train_op`.
  * EVAL: `loss`; `eval_metric_ops` optional.
  * PREDICT: `predictions`; `export_outputs` optional (by default one
    `PredictOutput` of the predictions, under the default serving key).

  Every tensor and op must be from the graph the Estimator calls the
  `model_fn` in.

  Args:
    mode: A `ModeKeys` value.
    predictions: A `Tensor` or dict of `Tensor`s.
    loss: A scalar `Tensor` (a one-element tensor is reshaped to a scalar).
    train_op: An `Operation` or `Tensor`: one training step.
    eval_metric_ops: Dict of name to (metric value, update op) tuples, as
      `tf.compat.v1.metrics.*` return.
    export_outputs: Dict of signature name to `ExportOutput`.
    training_chief_hooks: `SessionRunHook`s run on the chief in training.
    training_hooks: `SessionRunHook`s run in training.
    scaffold: A `tf.compat.v1.train.Scaffold` (saver, init ops, ...).
    evaluation_hooks: `SessionRunHook`s run in evaluation.
    prediction_hooks: `SessionRunHook`s run in prediction.

  Raises:
    ValueError: If something the mode needs is missing, the loss is not
      scalar, or a tensor is from another graph.
    TypeError: If an argument has the wrong type.
  """

  def __new__(cls,
              mode,
              predictions=None,
              loss=None,
              train_op=None,
              eval_metric_ops=None,
              export_outputs=None,
              training_chief_hooks=None,
              training_hooks=None,
              scaffold=None,
              evaluation_hooks=None,
              prediction_hooks=None):
    train_op = _train_op(train_op, mode)
    loss = _loss(loss, mode)
    predictions = _predictions(predictions, mode)
    if mode == ModeKeys.PREDICT:
      export_outputs = signatures.serving_export_outputs(export_outputs,
                                                         predictions)
    return super(EstimatorSpec, cls).__new__(
        cls,
        mode=mode,
        predictions=predictions,
        loss=loss,
        train_op=train_op,
        eval_metric_ops=_eval_metric_ops(eval_metric_ops),
        export_outputs=export_outputs,
        training_chief_hooks=_hooks(training_chief_hooks),
        training_hooks=_hooks(training_hooks),
        scaffold=_scaffold(scaffold),
        evaluation_hooks=_hooks(evaluation_hooks),
        prediction_hooks=_hooks(prediction_hooks))

  def _replace(self, **kwargs):
    """A new spec with the given fields replaced (the mode cannot change)."""
    if "mode" in kwargs and kwargs["mode"] != self.mode:
      raise ValueError("mode of EstimatorSpec cannot be changed.")
    fields = self._asdict()
    fields.update(kwargs)
    return EstimatorSpec(**fields)
