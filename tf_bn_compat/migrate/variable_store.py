"""TF1 variables by name for TF2 code: `get_variable` served from a store.

A `VariableStore` belongs to one object (a `tf.Module` or a Keras 3 layer)
and holds the variables TF1 code creates in that object's decorated methods,
by their TF1 names (`block/dense/kernel`). During a decorated call the store
answers `tf.compat.v1.get_variable` through a custom getter on the root
variable scope: a name seen for the first time creates a variable (through
the owner's `creator`, so that the owner tracks it); a known name returns
the same variable on every later call. The store is then also the layers'
current variable owner (`tf_bn_compat.layers.variable_owner`): Keras-style
layers get their variables from it and report their losses to it.

TF2 runs variable scopes as `AUTO_REUSE` (a name is reused or created), and
so does the store. Under `tf.function`, where TensorFlow reports an explicit
`reuse=True`, a name not created yet is TF1's ValueError; eagerly TF reports
no reuse at all.
"""

import inspect

import tensorflow as tf

from tf_bn_compat.layers import variable_owner


def _trainable_value(trainable, synchronization):
  """`get_variable`'s `trainable`: None is True unless ON_READ."""
  if trainable is None:
    return synchronization != tf.VariableSynchronization.ON_READ
  return bool(trainable)


def initial_value_fn(name, shape, dtype, initializer):
  """Returns `(shape, fn)`: the variable's shape and `fn() -> initial value`.

  `initializer` is a callable (or initializer class), a tensor or a Python
  or numpy value, or None for TF1's default (Glorot uniform for floating
  point, zeros for integers and bools).

  Raises:
    ValueError: for a constant initializer with a shape, no shape with a
      callable one, or no default initializer for `dtype`.
  """
  if initializer is None:
    if dtype.is_floating:
      initializer = tf.compat.v1.glorot_uniform_initializer()
    elif dtype.is_integer or dtype.is_unsigned or dtype.is_bool or (
        dtype == tf.string):
      initializer = tf.compat.v1.zeros_initializer()
    else:
      raise ValueError("An initializer for variable %s of %s is required" %
                       (name, dtype.base_dtype))
  if inspect.isclass(initializer):
    initializer = initializer()
  if callable(initializer):
    if shape is None or not tf.TensorShape(shape).is_fully_defined():
      raise ValueError("Shape of a new variable (%s) must be fully defined, "
                       "but instead was %s." % (name, shape))
    shape = tf.TensorShape(shape)
    return shape, lambda: initializer(shape.as_list(), dtype=dtype)
  if shape is not None:
    raise ValueError("If initializer is a constant, do not specify shape.")
  value = tf.convert_to_tensor(initializer, dtype=dtype)
  return value.shape, lambda: value


class VariableStore(variable_owner.VariableOwner):
  """The TF1-named variables of one object's decorated methods.

  Args:
    tracked: The (empty) mapping to keep `{TF1 name: tracked object}` in;
      the owner's checkpoint-tracked dict (see `owners.TrackedVariables`).

  Attributes:
    owner: How the owning object keeps variables (see `owners.store_of`):
      `owner.create(name, shape, dtype, initial_value, trainable,
      constraint, synchronization, aggregation)` returns `(tracked,
      variable)`, the object the owner tracks (a `tf.Variable` or a Keras
      variable) and the `tf.Variable` TF1 code computes with;
      `owner.usable(name, tracked)` returns that `tf.Variable` now;
      `owner.regularize(tracked, regularizer)` tells the owner of a weight
      regularizer; `owner.add_losses(losses)` hands it a call's losses.
  """

  def __init__(self, tracked):
    self.owner = None
    self._tracked = tracked
    # id of a variable handed to TF1 code -> (that variable, its name).
    self._handed = {}
    self._regularizers = {}
    self.call_losses = []

  @property
  def names(self):
    """The TF1 names of the store's variables, in creation order."""
    return list(self._tracked)

  def variable(self, name):
    """The `tf.Variable` TF1 code computes with for `name`."""
    return self.owner.usable(name, self._tracked[name])

  def begin_call(self):
    """Starts one decorated call: its layers' losses start empty."""
    self.call_losses = []

  def add_call_losses(self, losses):
    """Keeps losses a layer added during the current decorated call."""
    self.call_losses.extend(losses)

  def add_regularizer(self, variable, regularizer):
    """Registers `regularizer` (a callable) for one of the store's variables.

    Returns:
      True if `variable` belongs to the store (the regularizer is then
      recorded once per variable), else False.
    """
    variable_and_name = self._handed.get(id(variable))
    if variable_and_name is None or variable_and_name[0] is not variable:
      return False
    name = variable_and_name[1]
    if name not in self._regularizers:
      self._set_regularizer(name, regularizer)
    return True

  def _set_regularizer(self, name, regularizer):
    self._regularizers[name] = regularizer
    self.owner.regularize(self._tracked[name], regularizer)

  def regularizers(self):
    """The `(name, regularizer)` pairs of the store, in creation order."""
    return [(n, self._regularizers[n]) for n in self._tracked
            if n in self._regularizers]

  def get_variable(self, name, shape, dtype, initializer, **options):
    """The variable `name`, made on first use (for Keras-style layers).

    Args:
      name: The variable's full name.
      shape, dtype, initializer: As for `tf.compat.v1.get_variable`.
      **options: `trainable`, `constraint`, `synchronization`,
        `aggregation`.

    Returns:
      The `tf.Variable`.
    """
    return self.custom_getter(None, name, shape=shape, dtype=dtype,
                              initializer=initializer,
                              reuse=tf.compat.v1.AUTO_REUSE, **options)

  def custom_getter(self, getter, name, shape=None, dtype=tf.float32,
                    initializer=None, regularizer=None, reuse=None,
                    trainable=None, partitioner=None, constraint=None,
                    synchronization=tf.VariableSynchronization.AUTO,
                    aggregation=tf.VariableAggregation.NONE, **kwargs):
    """A variable-scope custom getter answering from the store.

    Args:
      getter: The next getter (not called: the store creates its own).
      name: The variable's full TF1 name.
      shape, dtype, initializer, regularizer, reuse, trainable, partitioner,
        constraint, synchronization, aggregation: As for
        `tf.compat.v1.get_variable`.
      **kwargs: The other arguments of `get_variable` (collections,
        caching_device, use_resource, validate_shape), which have no meaning
        for a TF2 object's variables.

    Returns:
      The `tf.Variable`.

    Raises:
      ValueError: as TF1's `get_variable` does for `reuse=True` on an
        unknown name and for shape and dtype conflicts; for a partitioner.
    """
    del getter, kwargs
    dtype = tf.as_dtype(dtype)
    if partitioner is not None:
      raise ValueError(
          "Variable %s: partitioned variables are not supported in a method "
          "decorated with track_tf1_style_variables; remove the partitioner "
          "from the variable scope." % name)
    if name in self._tracked:
      variable = self.variable(name)
      if shape is not None and not tf.TensorShape(shape).is_compatible_with(
          variable.shape):
        raise ValueError(
            "Trying to share variable %s, but specified shape %s and found "
            "shape %s." % (name, tf.TensorShape(shape), variable.shape))
      if not dtype.is_compatible_with(variable.dtype):
        raise ValueError(
            "Trying to share variable %s, but specified dtype %s and found "
            "dtype %s." % (name, dtype.name, variable.dtype.base_dtype.name))
      return self._handed_out(name, variable)
    if reuse is True:
      raise ValueError(
          "Variable %s does not exist, or was not created with "
          "tf.get_variable(). Did you mean to set reuse=tf.AUTO_REUSE in "
          "VarScope?" % name)
    trainable = _trainable_value(trainable, synchronization)
    shape, initial_value = initial_value_fn(name, shape, dtype, initializer)
    tracked, variable = self.owner.create(
        name, shape, dtype, initial_value, trainable, constraint,
        synchronization, aggregation)
    self._tracked[name] = tracked
    if regularizer is not None:
      self._set_regularizer(name, regularizer)
    return self._handed_out(name, variable)

  def _handed_out(self, name, variable):
    """Returns `variable`, remembered as `name`'s for `add_regularizer`."""
    self._handed[id(variable)] = (variable, name)
    return variable
