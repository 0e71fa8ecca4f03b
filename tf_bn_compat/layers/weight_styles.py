"""Where a TF1 layer's variables live: TF1's variable scopes, or Keras style.

A layer picks its style once, when it is constructed: `VariableScopeStyle`
for TF1's layers, `KerasStyle` inside `keras_style_scope()` and for the
Keras-v1 layers. The layer asks its style for each variable, for the name of
a weight's regularization loss and for the scopes of each call, and whether
its updates go to `UPDATE_OPS`.
"""

import contextlib
import functools
import inspect

import tensorflow as tf

from tf_bn_compat.layers import graph_utils
from tf_bn_compat.layers import variable_owner


class VariableScopeStyle(object):
  """TF1's layers: `get_variable` in the layer's own variable scope.

  The scope is opened on the layer's first call (or first variable) with
  the layer's base name as `default_name`, so TF's variable-scope store
  numbers it as TF1 did (`dense`, `dense_1`, ...); `reuse`, `AUTO_REUSE`,
  custom getters, the scope's initializer and partitioner apply.

  Args:
    base_name: The name the scope is opened with.
    scope: A scope (name or `VariableScope`) given at construction, or None.
    reuse: The functional interface's `reuse`, or None.
  """

  publishes_updates = True

  def __init__(self, base_name, scope=None, reuse=None):
    self._base_name = base_name
    self._reuse = reuse
    self.scope = None
    if scope:
      with tf.compat.v1.variable_scope(scope) as captured:
        self.scope = captured

  def open_scope(self, scope=None):
    """Chooses the layer's variable scope, once (`scope` names it)."""
    if self.scope is not None:
      return
    if self._reuse:
      with tf.compat.v1.variable_scope(
          scope if scope is not None else self._base_name) as captured:
        self.scope = captured
    else:
      with tf.compat.v1.variable_scope(
          scope, default_name=self._base_name) as captured:
        self.scope = captured

  @contextlib.contextmanager
  def call_scopes(self, scope, built):
    """The variable scope (reused once built) and its name scope.

    Yields:
      The layer's `VariableScope`.
    """
    self.open_scope(scope)
    with tf.compat.v1.variable_scope(
        self.scope, reuse=True if built else self._reuse,
        auxiliary_name_scope=False) as var_scope:
      with tf.compat.v1.name_scope(var_scope.original_name_scope):
        yield var_scope

  def make_variable(self, layer, name, shape, dtype, initializer,
                    use_resource, partitioner, **options):
    """`get_variable` in the layer's scope; returns (variable, is_new)."""
    existing = tf.compat.v1.global_variables()
    self.open_scope(None)
    with tf.compat.v1.variable_scope(
        self.scope, reuse=layer.built or self._reuse,
        auxiliary_name_scope=False) as scope:
      with tf.compat.v1.name_scope(scope.original_name_scope):
        variable = tf.compat.v1.get_variable(
            name, shape=shape, dtype=dtype, initializer=initializer,
            use_resource=use_resource, partitioner=partitioner, **options)
    return variable, not graph_utils.contains(existing, variable)

  def loss_name(self, name, variable):
    """The name scope of a weight's regularization loss: the weight's."""
    del variable
    return name

  @contextlib.contextmanager
  def without_partitioner(self):
    """Variables added inside are not partitioned by the layer's scope."""
    saved = self.scope.partitioner if self.scope is not None else None
    if saved is not None:
      self.scope.set_partitioner(None)
    try:
      yield
    finally:
      if saved is not None:
        self.scope.set_partitioner(saved)


class KerasStyle(object):
  """Keras' way: each layer owns variables named in its name scope.

  There are no variable scopes (`scope` and `reuse` are refused) and the
  layer's updates stay out of `UPDATE_OPS`.

  Args:
    name: The layer's name, its name scope in each call.
    scope: Must be None.
    reuse: Must be None.

  Raises:
    ValueError: for a `scope` or a `reuse`.
  """

  publishes_updates = False
  scope = None

  def __init__(self, name, scope=None, reuse=None):
    refuse_scope(scope)
    if reuse is not None:
      raise ValueError("reuse argument not allowed when keras style layers "
                       "are enabled, but saw: {}".format(reuse))
    self._name = name

  @contextlib.contextmanager
  def call_scopes(self, scope, built):
    """The layer's name scope; yields None (there is no variable scope)."""
    del built
    refuse_scope(scope)
    with tf.compat.v1.name_scope(self._name):
      yield None

  def make_variable(self, layer, name, shape, dtype, initializer,
                    use_resource, partitioner, **options):
    """A variable of the layer alone; returns (variable, True).

    While a variable owner is current (`variable_owner`; inside a method
    decorated with `track_tf1_style_variables`, the decorated object's
    store), the owner makes it, named `<variable scope>/<layer name>/<name>`
    (name scopes are uniquified inside a `tf.function`'s graph; the variable
    scope and the layer's name are the same in every call).
    """
    del partitioner
    owner = variable_owner.current()
    if owner is not None:
      parts = (tf.compat.v1.get_variable_scope().name, layer.name, name)
      return owner.get_variable("/".join(p for p in parts if p), shape, dtype,
                                initializer, **options), True
    if initializer is None:
      initializer = (tf.compat.v1.glorot_uniform_initializer()
                     if dtype.is_floating else tf.compat.v1.zeros_initializer())
    if inspect.isclass(initializer):
      initializer = initializer()
    return tf.compat.v1.Variable(
        functools.partial(initializer, shape, dtype=dtype), name=name,
        dtype=dtype, shape=tf.TensorShape(shape),
        use_resource=True if use_resource is None else use_resource,
        **options), True

  def loss_name(self, name, variable):
    """The name scope of a weight's regularization loss: its full name."""
    del name
    return variable.name.rsplit(":", 1)[0]

  @contextlib.contextmanager
  def without_partitioner(self):
    """Nothing to do: there is no variable scope to partition with."""
    yield


def refuse_scope(scope):
  """Keras-style layers take no variable scope.

  Raises:
    ValueError: if `scope` is not None.
  """
  if scope is not None:
    raise ValueError("scope argument not allowed when keras style layers "
                     "are enabled, but saw: {}".format(scope))
