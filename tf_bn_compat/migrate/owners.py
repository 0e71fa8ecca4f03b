"""Where TF1-style variables live: on a `tf.Module` or on a Keras 3 layer.

`store_of(obj)` returns the `VariableStore` of an object whose method is
decorated with `track_tf1_style_variables`, making it on first use. The
store keeps its variables by TF1 name in the dict of a `TrackedVariables`
module set on the object (attribute `_tf1_style_variables`), so that
`tf.train.Checkpoint` and `tf.Module.variables` see them.

* A `tf.Module` gets `tf.Variable`s.
* A Keras 3 layer or model gets Keras variables, tracked as its own weights
  (so `trainable_weights`, optimizers and `model.fit` see them); TF1 code
  computes with the `tf.Variable` inside each. While Keras builds a model
  symbolically (in its stateless scope, before a first real call), Keras
  defers their creation; TF1 code then runs against scratch variables of
  Keras' scratch graph, and each Keras variable is created at its first real
  use, under its TF1 name.

Either way the `tf.Variable` is named by its TF1 name (`block/dense/kernel:0`).
"""

import weakref

import tensorflow as tf

from tf_bn_compat.migrate import variable_store

STORE_ATTRIBUTE = "_tf1_style_variables"

_KERAS_AGGREGATION = {
    tf.VariableAggregation.NONE: "none",
    tf.VariableAggregation.SUM: "sum",
    tf.VariableAggregation.MEAN: "mean",
    tf.VariableAggregation.ONLY_FIRST_REPLICA: "only_first_replica",
}
_KERAS_SYNCHRONIZATION = {
    tf.VariableSynchronization.AUTO: "auto",
    tf.VariableSynchronization.NONE: "none",
    tf.VariableSynchronization.ON_WRITE: "on_write",
    tf.VariableSynchronization.ON_READ: "on_read",
}


class TrackedVariables(tf.Module):
  """The variables of an object's TF1-style code, by TF1 name.

  `by_name` is the store's own mapping (a dict tracked for checkpoints);
  `store` is the `VariableStore` that fills it.
  """

  def __init__(self):
    super().__init__(name="tf1_style_variables")
    self.by_name = {}
    self.store = variable_store.VariableStore(self.by_name)


def _keras_layer_class():
  """Keras 3's `Layer`, or None where Keras 3 is not what `keras` is."""
  try:
    import keras  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  if not keras.__version__.startswith("3."):
    return None
  return keras.layers.Layer


def _in_keras_stateless_scope():
  try:
    from keras.src.backend.common import stateless_scope  # pylint: disable=g-import-not-at-top
  except ImportError:
    return False
  return stateless_scope.in_stateless_scope()


def _parent_scope(name):
  """The absolute name scope in which a variable named by its last part
  (`kernel`) gets the full TF1 name `name` (`block/dense/kernel`)."""
  return tf.name_scope(name.rsplit("/", 1)[0] + "/" if "/" in name else "")


_KERAS_VARIABLE_CLASS = []


def _tf1_named_keras_variable_class():
  """A Keras variable whose `tf.Variable` gets a TF1 name (made once)."""
  if not _KERAS_VARIABLE_CLASS:
    import keras  # pylint: disable=g-import-not-at-top

    class TF1NamedVariable(keras.Variable):
      """A Keras variable whose `tf.Variable` is named `tf1_name`.

      Keras names variables by their last part and may create the
      `tf.Variable` late (after a symbolic build); whenever it does, it is
      created under the TF1 name.
      """

      def __init__(self, tf1_name, **kwargs):
        self.tf1_name = tf1_name
        super().__init__(**kwargs)

      def _initialize(self, value):
        with _parent_scope(self.tf1_name):
          super()._initialize(value)

    _KERAS_VARIABLE_CLASS.append(TF1NamedVariable)
  return _KERAS_VARIABLE_CLASS[0]


class _ModuleOwner(object):
  """Creates `tf.Variable`s for a `tf.Module`."""

  def create(self, name, shape, dtype, initial_value, trainable, constraint,
             synchronization, aggregation):
    with tf.init_scope(), _parent_scope(name):
      variable = tf.Variable(
          initial_value, name=name.rsplit("/", 1)[-1], dtype=dtype,
          shape=shape, trainable=trainable, constraint=constraint,
          synchronization=synchronization, aggregation=aggregation)
    return variable, variable

  def usable(self, name, variable):
    del name
    return variable

  def regularize(self, variable, regularizer):
    del variable, regularizer  # See `regularization_losses`.

  def add_losses(self, losses):
    del losses  # A tf.Module has no losses: see `regularization_losses`.


class _KerasOwner(object):
  """Creates Keras variables tracked as a Keras 3 layer's own weights."""

  def __init__(self, layer):
    for attribute in ("_tracker", "_track_variable", "add_loss"):
      if not hasattr(layer, attribute):
        raise TypeError(
            "track_tf1_style_variables needs Keras 3's Layer API (`%s` is "
            "missing on %s): this Keras version is not supported." %
            (attribute, type(layer).__name__))
    self._layer = layer
    self._scratch = weakref.WeakKeyDictionary()

  def create(self, name, shape, dtype, initial_value, trainable, constraint,
             synchronization, aggregation):
    options = dict(
        initializer=lambda shape, dtype: initial_value(),
        shape=shape.as_list(), dtype=dtype.name, trainable=trainable,
        autocast=False, aggregation=_KERAS_AGGREGATION[aggregation],
        synchronization=_KERAS_SYNCHRONIZATION[synchronization],
        name=name.rsplit("/", 1)[-1])
    with tf.init_scope():  # In Keras' stateless scope Keras defers it.
      variable = _tf1_named_keras_variable_class()(name, **options)
    if constraint is not None:
      variable.constraint = constraint
    tracker = self._layer._tracker  # pylint: disable=protected-access
    locked = tracker.locked
    tracker.unlock()  # Keras locks a built layer's state; TF1 code adds to it.
    try:
      self._layer._track_variable(variable)  # pylint: disable=protected-access
    finally:
      if locked:
        tracker.lock()
    return variable, self.usable(name, variable, initial_value)

  def usable(self, name, variable, initial_value=None):
    """The `tf.Variable` inside `variable`, or a scratch one (see module)."""
    if variable._value is None:  # pylint: disable=protected-access
      if _in_keras_stateless_scope():
        return self._scratch_variable(name, variable, initial_value)
      with tf.init_scope():
        variable._deferred_initialize()  # pylint: disable=protected-access
    return variable._value  # pylint: disable=protected-access

  def _scratch_variable(self, name, variable, initial_value):
    graph = tf.compat.v1.get_default_graph()
    scratch = self._scratch.setdefault(graph, {})
    if name not in scratch:
      if initial_value is None:
        initial_value = lambda: tf.zeros(variable.shape, variable.dtype)
      scratch[name] = tf.Variable(initial_value, name=name.replace("/", "_"),
                                  trainable=variable.trainable)
    return scratch[name]

  def regularize(self, variable, regularizer):
    # Keras applies it to the current value at each read of `losses`.
    variable.regularizer = regularizer

  def add_losses(self, losses):
    for loss in losses:
      self._layer.add_loss(loss)


def store_of(obj):
  """Returns the `VariableStore` of `obj`, making it on first use.

  Args:
    obj: A `tf.Module` or a Keras 3 layer or model.

  Returns:
    A `VariableStore` with `owner` set to how `obj` keeps its variables.

  Raises:
    TypeError: for another kind of object.
  """
  holder = vars(obj).get(STORE_ATTRIBUTE) if hasattr(obj, "__dict__") else None
  if holder is not None:
    return holder.store
  keras_layer = _keras_layer_class()
  if keras_layer is not None and isinstance(obj, keras_layer):
    owner = _KerasOwner(obj)
  elif isinstance(obj, tf.Module):
    owner = _ModuleOwner()
  else:
    raise TypeError(
        "track_tf1_style_variables decorates methods of a tf.Module or of a "
        "Keras 3 Layer or Model; got a method of %s." % type(obj).__name__)
  holder = TrackedVariables()
  holder.store.owner = owner
  setattr(obj, STORE_ATTRIBUTE, holder)
  return holder.store


def holders_in(obj):
  """The `TrackedVariables` of `obj` and of every object it tracks.

  Args:
    obj: Any trackable object (a `tf.Module`, a Keras layer or model, a
      `tf.train.Checkpoint`).

  Returns:
    A list, each holder once, in the order TF's checkpoint walk meets them.
  """
  return [t for t in tf.train.TrackableView(obj).descendants()
          if isinstance(t, TrackedVariables)]
