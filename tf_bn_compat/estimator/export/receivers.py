"""Serving input receivers: the inputs of an exported model and its features.

A `serving_input_receiver_fn` builds placeholders (the receiver tensors a
SignatureDef reads) and the features the `model_fn` gets from them.
"""

import collections

import tensorflow as tf

SINGLE_FEATURE_DEFAULT_NAME = "feature"
SINGLE_RECEIVER_DEFAULT_NAME = "input"
SINGLE_LABEL_DEFAULT_NAME = "label"
_DEFAULT_NAMES = {
    "feature": SINGLE_FEATURE_DEFAULT_NAME,
    "label": SINGLE_LABEL_DEFAULT_NAME,
    "receiver_tensor": SINGLE_RECEIVER_DEFAULT_NAME,
    "receiver_tensors_alternative": SINGLE_RECEIVER_DEFAULT_NAME,
}


def _is_input_tensor(value):
  return isinstance(value, (tf.Tensor, tf.sparse.SparseTensor,
                            tf.RaggedTensor))


def _check_tensor(tensor, name, field):
  if not _is_input_tensor(tensor):
    raise ValueError("{}{} must be a Tensor, SparseTensor, or "
                     "RaggedTensor.".format(field,
                                            " " + str(name) if name else ""))


def wrap_and_check_input_tensors(tensors, field, allow_int_keys=False):
  """`tensors` as a dict of name to tensor, checked.

  Args:
    tensors: A tensor or dict of string (or int, if allowed) to tensors.
    field: The receiver field this is ("feature", "receiver_tensor", ...).
    allow_int_keys: Whether int keys are accepted.

  Returns:
    The dict (a lone tensor keyed by the field's default name).

  Raises:
    ValueError: If `tensors` is None, a key is not a string or a value not a
      tensor.
  """
  if tensors is None:
    raise ValueError("{}s must be defined.".format(field))
  if not isinstance(tensors, dict):
    tensors = {_DEFAULT_NAMES[field]: tensors}
  for name, tensor in tensors.items():
    if not isinstance(name, str):
      if not allow_int_keys:
        raise ValueError("{} keys must be strings: {}.".format(field, name))
      if not isinstance(name, int):
        raise ValueError("{} keys must be strings or ints: {}.".format(
            field, name))
    _check_tensor(tensor, name, field)
  return tensors


def _checked_alternatives(alternatives):
  if alternatives is None:
    return None
  if not isinstance(alternatives, dict):
    raise ValueError(
        "receiver_tensors_alternatives must be a dict: {}.".format(
            alternatives))
  return {name: wrap_and_check_input_tensors(
      tensors, "receiver_tensors_alternative")
          for name, tensors in alternatives.items()}


class ServingInputReceiver(
    collections.namedtuple(
        "ServingInputReceiver",
        ["features", "receiver_tensors", "receiver_tensors_alternatives"])):
  """What a `serving_input_receiver_fn` returns, as in `tf.estimator.export`.

  Attributes:
    features: A tensor or dict of string to tensors, given to the model_fn
      (a lone tensor becomes `{"feature": tensor}`).
    receiver_tensors: A tensor or dict of string to tensors: the signature
      inputs (a lone tensor is named "input").
    receiver_tensors_alternatives: Optional dict of name to other receiver
      tensors; each gives further signatures "<name>:<output>".
  """

  def __new__(cls, features, receiver_tensors,
              receiver_tensors_alternatives=None):
    return super(ServingInputReceiver, cls).__new__(
        cls,
        features=wrap_and_check_input_tensors(features, "feature",
                                              allow_int_keys=True),
        receiver_tensors=wrap_and_check_input_tensors(receiver_tensors,
                                                      "receiver_tensor"),
        receiver_tensors_alternatives=_checked_alternatives(
            receiver_tensors_alternatives))


class TensorServingInputReceiver(
    collections.namedtuple(
        "TensorServingInputReceiver",
        ["features", "receiver_tensors", "receiver_tensors_alternatives"])):
  """A receiver whose model_fn takes one tensor, not a dict, as features."""

  def __new__(cls, features, receiver_tensors,
              receiver_tensors_alternatives=None):
    if features is None:
      raise ValueError("features must be defined.")
    _check_tensor(features, None, "feature")
    receiver = ServingInputReceiver(features, receiver_tensors,
                                    receiver_tensors_alternatives)
    return super(TensorServingInputReceiver, cls).__new__(
        cls,
        features=receiver.features[SINGLE_FEATURE_DEFAULT_NAME],
        receiver_tensors=receiver.receiver_tensors,
        receiver_tensors_alternatives=receiver.receiver_tensors_alternatives)


class SupervisedInputReceiver(
    collections.namedtuple("SupervisedInputReceiver",
                           ["features", "labels", "receiver_tensors"])):
  """Features, labels and their inputs, for exporting TRAIN/EVAL graphs."""

  def __new__(cls, features, labels, receiver_tensors):
    # Features and labels are checked, and kept as given (raw or dicts).
    wrap_and_check_input_tensors(features, "feature", allow_int_keys=True)
    wrap_and_check_input_tensors(labels, "label", allow_int_keys=True)
    return super(SupervisedInputReceiver, cls).__new__(
        cls, features=features, labels=labels,
        receiver_tensors=wrap_and_check_input_tensors(receiver_tensors,
                                                      "receiver_tensor"))


def build_parsing_serving_input_receiver_fn(feature_spec,
                                            default_batch_size=None):
  """A receiver fn that parses serialized `tf.Example`s.

  Args:
    feature_spec: Dict of feature name to `FixedLenFeature`/`VarLenFeature`.
    default_batch_size: Batch size of the input, None for any.

  Returns:
    A `serving_input_receiver_fn` with one string input "examples".
  """

  def serving_input_receiver_fn():
    serialized = tf.compat.v1.placeholder(
        dtype=tf.string, shape=[default_batch_size],
        name="input_example_tensor")
    features = tf.compat.v1.io.parse_example(serialized, feature_spec)
    return ServingInputReceiver(features, {"examples": serialized})

  return serving_input_receiver_fn


def _op_name(tensor):
  """The tensor's op name, reused for its placeholder (None if eager)."""
  try:
    return tensor.op.name
  except AttributeError:
    return None


def _placeholder_like(tensor, default_batch_size):
  """A placeholder (sparse if `tensor` is) of its type, any batch size."""
  shape = tf.TensorShape([default_batch_size]).concatenate(
      tensor.get_shape()[1:])
  if isinstance(tensor, tf.sparse.SparseTensor):
    return tf.compat.v1.sparse_placeholder(dtype=tensor.dtype, shape=shape,
                                           name=_op_name(tensor))
  return tf.compat.v1.placeholder(dtype=tensor.dtype, shape=shape,
                                  name=_op_name(tensor))


def _placeholders(tensors, default_batch_size):
  return {name: _placeholder_like(t, default_batch_size)
          for name, t in tensors.items()}


def build_raw_serving_input_receiver_fn(features, default_batch_size=None):
  """A receiver fn that feeds features directly, one placeholder each.

  Args:
    features: Dict of string to `Tensor` (or a lone `Tensor`) whose dtypes
      and shapes the placeholders copy (the batch dimension made
      `default_batch_size`).
    default_batch_size: Batch size of the inputs, None for any.

  Returns:
    A `serving_input_receiver_fn`.
  """

  def serving_input_receiver_fn():
    if isinstance(features, dict):
      receiver_tensors = _placeholders(features, default_batch_size)
      return ServingInputReceiver(receiver_tensors, dict(receiver_tensors))
    placeholder = _placeholder_like(features, default_batch_size)
    return TensorServingInputReceiver(placeholder, placeholder)

  return serving_input_receiver_fn


def build_raw_supervised_input_receiver_fn(features, labels,
                                           default_batch_size=None):
  """A receiver fn of feature and label placeholders (TRAIN/EVAL export).

  Args:
    features: Dict of string to `Tensor`, or a `Tensor`.
    labels: Dict of string to `Tensor`, or a `Tensor`.
    default_batch_size: Batch size of the inputs, None for any.

  Returns:
    A function returning a `SupervisedInputReceiver`.

  Raises:
    ValueError: If features and labels share a key.
  """
  features_dict = (features if isinstance(features, dict)
                   else {SINGLE_FEATURE_DEFAULT_NAME: features})
  labels_dict = (labels if isinstance(labels, dict)
                 else {SINGLE_LABEL_DEFAULT_NAME: labels})
  overlap = set(features_dict) & set(labels_dict)
  if overlap:
    raise ValueError("Features and labels must have distinct keys. "
                     "Found overlapping keys: {}".format(overlap))

  def supervised_input_receiver_fn():
    feature_placeholders = _placeholders(features_dict, default_batch_size)
    label_placeholders = _placeholders(labels_dict, default_batch_size)
    receiver_tensors = dict(feature_placeholders)
    receiver_tensors.update(label_placeholders)
    unwrap = lambda d, raw: d if isinstance(raw, dict) else next(
        iter(d.values()))
    return SupervisedInputReceiver(
        unwrap(feature_placeholders, features),
        unwrap(label_placeholders, labels), receiver_tensors)

  return supervised_input_receiver_fn
