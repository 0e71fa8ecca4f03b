"""Resolves initializer, regularizer and constraint arguments and configs.

Arguments are the objects TF1 code passes (initializer objects, callables);
strings name the common initializers. `serialize`/`deserialize` round-trip
them through `get_config`/`from_config`: TF1 initializers by class name and
config, anything else (a lambda, a user object) as itself.
"""

import tensorflow as tf

_INITIALIZER_CLASSES = {
    cls.__name__: cls for cls in (
        tf.compat.v1.zeros_initializer,
        tf.compat.v1.ones_initializer,
        tf.compat.v1.constant_initializer,
        tf.compat.v1.random_normal_initializer,
        tf.compat.v1.random_uniform_initializer,
        tf.compat.v1.truncated_normal_initializer,
        tf.compat.v1.variance_scaling_initializer,
        tf.compat.v1.glorot_uniform_initializer,
        tf.compat.v1.glorot_normal_initializer,
        tf.compat.v1.orthogonal_initializer,
    )
}

_INITIALIZER_ALIASES = {
    "zeros": "Zeros",
    "ones": "Ones",
    "constant": "Constant",
    "random_normal": "RandomNormal",
    "random_uniform": "RandomUniform",
    "truncated_normal": "TruncatedNormal",
    "variance_scaling": "VarianceScaling",
    "glorot_uniform": "GlorotUniform",
    "glorot_normal": "GlorotNormal",
    "orthogonal": "Orthogonal",
}


def get_initializer(identifier, argument):
  """Returns a callable initializer for `identifier`.

  Args:
    identifier: None, an initializer object or callable, a name such as
      "zeros", or a config dict produced by `serialize`.
    argument: Name of the constructor argument, for error messages.

  Returns:
    A callable `(shape, dtype=..., partition_info=...) -> Tensor`, or None.

  Raises:
    ValueError: if a name or config names no known initializer.
    TypeError: if `identifier` is of another kind.
  """
  if identifier is None or callable(identifier):
    return identifier
  if isinstance(identifier, str):
    class_name = _INITIALIZER_ALIASES.get(identifier.lower(), identifier)
    if class_name not in _INITIALIZER_CLASSES:
      raise ValueError("Unknown initializer %r for `%s`. Known names: %s." % (
          identifier, argument, sorted(_INITIALIZER_ALIASES)))
    return _INITIALIZER_CLASSES[class_name]()
  if isinstance(identifier, dict):
    class_name = identifier.get("class_name")
    if class_name not in _INITIALIZER_CLASSES:
      raise ValueError("Unknown initializer config %r for `%s`." % (
          identifier, argument))
    return _INITIALIZER_CLASSES[class_name].from_config(
        identifier.get("config", {}))
  raise TypeError("`%s` must be an initializer, a callable or a name, got "
                  "%r." % (argument, identifier))


def get_callable(identifier, argument):
  """Returns a regularizer or constraint argument after checking it.

  Args:
    identifier: None or a callable taking a variable.
    argument: Name of the constructor argument, for error messages.

  Returns:
    `identifier`.

  Raises:
    TypeError: if `identifier` is neither None nor callable.
  """
  if identifier is None or callable(identifier):
    return identifier
  raise TypeError("`%s` must be None or a callable taking a variable, got "
                  "%r." % (argument, identifier))


def set_weight_arguments(layer, **weight_arguments):
  """Checks and sets a layer's `*_initializer/_regularizer/_constraint`s.

  Args:
    layer: The layer; `layer.<argument>` is set for each argument.
    **weight_arguments: Initializers (resolved by `get_initializer`), and
      regularizers and constraints (checked by `get_callable`), by name.
  """
  for argument, value in weight_arguments.items():
    if argument.endswith("_initializer"):
      value = get_initializer(value, argument)
    else:
      value = get_callable(value, argument)
    setattr(layer, argument, value)


def serialize(obj):
  """Returns a config entry for an initializer, regularizer or constraint."""
  if obj is None:
    return None
  if type(obj).__name__ in _INITIALIZER_CLASSES and hasattr(obj, "get_config"):
    return {"class_name": type(obj).__name__, "config": obj.get_config()}
  return obj


def _hard_sigmoid(x):
  return tf.clip_by_value(x * 0.2 + 0.5, 0.0, 1.0)


def _linear(x):
  return x


_ACTIVATIONS = {
    "linear": _linear,
    "relu": tf.nn.relu,
    "relu6": tf.nn.relu6,
    "elu": tf.nn.elu,
    "selu": tf.nn.selu,
    "sigmoid": tf.sigmoid,
    "hard_sigmoid": _hard_sigmoid,
    "tanh": tf.tanh,
    "softmax": tf.nn.softmax,
    "softplus": tf.math.softplus,
    "softsign": tf.nn.softsign,
    "swish": tf.nn.silu,
    "exponential": tf.exp,
}


def get_activation(identifier):
  """Returns the activation callable for `identifier`.

  Args:
    identifier: None (no activation), a callable, or the name of a common
      activation ("relu", "tanh", "sigmoid", "softmax", ...), as TF1's layers
      accept through Keras.

  Returns:
    A callable, or None.

  Raises:
    ValueError: for an unknown name.
    TypeError: for anything else.
  """
  if identifier is None or callable(identifier):
    return identifier
  if isinstance(identifier, str):
    if identifier not in _ACTIVATIONS:
      raise ValueError("Unknown activation function: '%s'. Known names: %s." %
                       (identifier, sorted(_ACTIVATIONS)))
    return _ACTIVATIONS[identifier]
  raise TypeError("Could not interpret activation function identifier: %r" %
                  (identifier,))


def serialize_activation(activation):
  """Returns an activation's name for a config (the callable if unnamed)."""
  for name, function in _ACTIVATIONS.items():
    if activation is function:
      return name
  return activation
