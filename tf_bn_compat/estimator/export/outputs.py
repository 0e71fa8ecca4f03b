"""`ExportOutput`s: what one SignatureDef of an exported model returns.

Each class checks its tensors when built and turns itself into a
SignatureDef over the receiver tensors (`as_signature_def`), with the
method names, keys and messages of `tf.estimator.export`.
"""

import abc

import tensorflow as tf

_SEPARATOR = "/"
_signature_utils = tf.compat.v1.saved_model.signature_def_utils
SUPERVISED_TRAIN_METHOD_NAME = "tensorflow/supervised/training"
SUPERVISED_EVAL_METHOD_NAME = "tensorflow/supervised/eval"


def _is_tensor(value):
  return isinstance(value, tf.Tensor)


def _output_key(key, error_label):
  if isinstance(key, tuple):  # Multi-head models key by tuples.
    key = _SEPARATOR.join(key)
  if not isinstance(key, str):
    raise ValueError(
        "{} output key must be a string; got {}.".format(error_label, key))
  return key


def _tensor_dict(outputs, default_name, error_label=None):
  """`outputs` (a Tensor or dict of them) as a new dict with string keys."""
  if not isinstance(outputs, dict):
    outputs = {default_name: outputs}
  label = error_label or default_name
  checked = {}
  for key, value in outputs.items():
    key = _output_key(key, label)
    if not _is_tensor(value):
      raise ValueError(
          "{} output value must be a Tensor; got {}.".format(label, value))
    checked[key] = value
  return checked


def _single_string_input(receiver_tensors, kind):
  """The one string tensor a Classify/Regress signature reads."""
  message = (
      "{} signatures can only accept a single tensor input of type tf.string. "
      "Please check to make sure that you have structured the "
      "serving_input_receiver_fn so that it creates a single string "
      "placeholder. If your model function expects multiple inputs, then use "
      "`tf.io.parse_example()` to parse the string into multiple tensors.\n "
      "Received: {}".format(kind, receiver_tensors))
  if len(receiver_tensors) != 1:
    raise ValueError(message)
  (examples,) = receiver_tensors.values()
  if examples.dtype != tf.string:
    raise ValueError(message)
  return examples


class ExportOutput(metaclass=abc.ABCMeta):
  """An output of a model that can be served (one SignatureDef)."""

  @abc.abstractmethod
  def as_signature_def(self, receiver_tensors):
    """A SignatureDef with these outputs over `receiver_tensors`.

    Args:
      receiver_tensors: Dict of string to `Tensor`: the signature's inputs.

    Returns:
      A `SignatureDef` proto.
    """


class ClassificationOutput(ExportOutput):
  """A classification head: float scores and/or string classes.

  Args:
    scores: Float `Tensor` [batch, num_classes] or None.
    classes: String `Tensor` [batch, num_classes] or None.

  Raises:
    ValueError: If a tensor has the wrong type, or both are None.
  """

  def __init__(self, scores=None, classes=None):
    if scores is not None and not (_is_tensor(scores) and
                                   scores.dtype.is_floating):
      raise ValueError("Classification scores must be a float32 Tensor; "
                       "got {}".format(scores))
    if classes is not None and not (_is_tensor(classes) and
                                    classes.dtype == tf.string):
      raise ValueError("Classification classes must be a string Tensor; "
                       "got {}".format(classes))
    if scores is None and classes is None:
      raise ValueError("Cannot create a ClassificationOutput with empty "
                       "arguments. At least one of `scores` and `classes` "
                       "must be defined.")
    self._scores = scores
    self._classes = classes

  @property
  def scores(self):
    return self._scores

  @property
  def classes(self):
    return self._classes

  def as_signature_def(self, receiver_tensors):
    examples = _single_string_input(receiver_tensors, "Classification")
    return _signature_utils.classification_signature_def(
        examples, self._classes, self._scores)


class RegressionOutput(ExportOutput):
  """A regression head: one float value per example.

  Args:
    value: Float `Tensor`.

  Raises:
    ValueError: If `value` is not a float Tensor.
  """

  def __init__(self, value):
    if not (_is_tensor(value) and value.dtype.is_floating):
      raise ValueError("Regression output value must be a float32 Tensor; "
                       "got {}".format(value))
    self._value = value

  @property
  def value(self):
    return self._value

  def as_signature_def(self, receiver_tensors):
    examples = _single_string_input(receiver_tensors, "Regression")
    return _signature_utils.regression_signature_def(examples, self._value)


class PredictOutput(ExportOutput):
  """Arbitrary named output tensors (a Predict signature).

  Args:
    outputs: A `Tensor` (named "output") or a dict of string to `Tensor`.

  Raises:
    ValueError: If a key is not a string or a value not a Tensor.
  """

  def __init__(self, outputs):
    self._outputs = _tensor_dict(outputs, "output", "Prediction")

  @property
  def outputs(self):
    return self._outputs

  def as_signature_def(self, receiver_tensors):
    return _signature_utils.predict_signature_def(receiver_tensors,
                                                  self._outputs)


class _SupervisedOutput(ExportOutput):
  """Loss, predictions and metrics of a training or evaluation graph.

  Output keys are prefixed "loss/", "predictions/" and "metrics/" (unless
  they start so already); a metric gives "metrics/<name>/value" and
  "metrics/<name>/update_op" (an op is wrapped as an empty constant that
  depends on it, since signatures hold tensors only).

  Args:
    loss: A `Tensor` or dict of them.
    predictions: A `Tensor` or dict of them.
    metrics: A (value, update_op) tuple or a dict of them.

  Raises:
    ValueError: If a key is not a string or a value of the wrong type.
  """

  _method_name = None

  def __init__(self, loss=None, predictions=None, metrics=None):
    self._loss = None if loss is None else _prefixed(
        _tensor_dict(loss, "loss"), "loss")
    self._predictions = None if predictions is None else _prefixed(
        _tensor_dict(predictions, "predictions"), "predictions")
    self._metrics = None if metrics is None else _metric_tensors(metrics)

  @property
  def loss(self):
    return self._loss

  @property
  def predictions(self):
    return self._predictions

  @property
  def metrics(self):
    return self._metrics

  def as_signature_def(self, receiver_tensors):
    if not receiver_tensors:
      raise ValueError(
          "{} `inputs` cannot be None or empty.".format(self._method_name))
    build = tf.compat.v1.saved_model.build_tensor_info
    outputs = {}
    for group in (self._loss, self._predictions, self._metrics):
      outputs.update({k: build(v) for k, v in (group or {}).items()})
    inputs = {k: build(v) for k, v in receiver_tensors.items()}
    return _signature_utils.build_signature_def(inputs, outputs,
                                                self._method_name)


def _prefix(key, prefix):
  return key if key.startswith(prefix) else prefix + _SEPARATOR + key


def _prefixed(tensors, prefix):
  return {_prefix(key, prefix): value for key, value in tensors.items()}


def _metric_tensors(metrics):
  """{"metrics/<name>/value": value, "metrics/<name>/update_op": update}."""
  if not isinstance(metrics, dict):
    metrics = {"metrics": metrics}
  tensors = {}
  for key, (value, update) in metrics.items():
    key = _prefix(_output_key(key, "metrics"), "metrics")
    if not _is_tensor(value):
      raise ValueError(
          "{} output value must be a Tensor; got {}.".format(key, value))
    if not isinstance(update, (tf.Tensor, tf.Operation)):
      raise ValueError("{} update_op must be a Tensor or Operation; "
                       "got {}.".format(key, update))
    if not _is_tensor(update):
      with tf.control_dependencies([update]):
        update = tf.constant([], name="metric_op_wrapper")
    tensors[key + _SEPARATOR + "value"] = value
    tensors[key + _SEPARATOR + "update_op"] = update
  return tensors


class TrainOutput(_SupervisedOutput):
  """The outputs of a training graph (a supervised training signature)."""

  _method_name = SUPERVISED_TRAIN_METHOD_NAME


class EvalOutput(_SupervisedOutput):
  """The outputs of an evaluation graph (a supervised eval signature)."""

  _method_name = SUPERVISED_EVAL_METHOD_NAME
