"""A TF1 graph-mode layer: variable scopes, weights, updates and losses.

This is the part of `tf.compat.v1.layers.Layer` that batch normalization
relies on, written for graph mode only:

* naming: an unnamed layer is called `batch_normalization`,
  `batch_normalization_1`, ... per graph; its variable scope is opened with
  that base name as `default_name`, so TF's variable-scope store numbers the
  scopes exactly as TF1 did (this is what old checkpoints contain);
* variables come from `tf.compat.v1.get_variable` inside the layer's scope,
  so `reuse`, `AUTO_REUSE`, custom getters and the GLOBAL/TRAINABLE
  collections behave as with any TF1 variable;
* updates and regularization losses are recorded per layer with whether they
  depend on the call's inputs (`get_updates_for` / `get_losses_for`) and are
  added to `UPDATE_OPS` / `REGULARIZATION_LOSSES`.
"""

import re
import weakref

import tensorflow as tf

_LAYER_NAME_UIDS = weakref.WeakKeyDictionary()


def _snake_case(name):
  name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
  return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _unique_layer_name(base_name):
  graph = tf.compat.v1.get_default_graph()
  uids = _LAYER_NAME_UIDS.setdefault(graph, {})
  count = uids.get(base_name, 0)
  uids[base_name] = count + 1
  return base_name if count == 0 else "%s_%d" % (base_name, count)


def _add_to_collection(elements, key):
  collection = tf.compat.v1.get_collection_ref(key)
  present = {id(e) for e in collection}
  for element in elements:
    if id(element) not in present:
      collection.append(element)
      present.add(id(element))


def _depends_on(tensor_or_op, inputs):
  """Returns True if `tensor_or_op` is reachable from any of `inputs`."""
  op = getattr(tensor_or_op, "op", tensor_or_op)
  sources = {t.op for t in inputs if isinstance(t, tf.Tensor)}
  seen = set()
  stack = [op]
  while stack:
    current = stack.pop()
    if current in sources:
      return True
    if current in seen:
      continue
    seen.add(current)
    stack.extend(t.op for t in current.inputs)
    # A resource variable's read after an assignment is tied by a control edge.
    stack.extend(current.control_inputs)
  return False


class Layer(object):
  """Base class of TF1 graph-mode layers.

  Subclasses implement `build(input_shape)` and `call(inputs, **kwargs)` and
  create their variables with `add_weight`.

  Args:
    trainable: Whether the layer's trainable weights go to the
      `TRAINABLE_VARIABLES` collection.
    name: The layer's name; also the base name of its variable scope.
    dtype: The compute dtype, or None to take the dtype of the first input.
      "mixed_float16"/"mixed_bfloat16" compute in half precision.
    **kwargs: `_scope` and `_reuse`, used by the functional interfaces.
  """

  def __init__(self, trainable=True, name=None, dtype=None, **kwargs):
    scope = kwargs.pop("_scope", None)
    self._reuse = kwargs.pop("_reuse", None)
    kwargs.pop("autocast", None)
    if kwargs:
      raise TypeError("Keyword argument(s) not understood: %s" %
                      ", ".join(sorted(kwargs)))
    if tf.executing_eagerly():
      raise RuntimeError(
          "tf_bn_compat layers build TF1 graphs: create and call them inside "
          "`tf.Graph().as_default()` or after "
          "`tf.compat.v1.disable_eager_execution()`.")
    self._trainable = trainable
    self._compute_dtype = self._resolve_dtype(dtype)
    self._dtype_arg = dtype
    self.built = False
    self.input_spec = None
    self._trainable_weights = []
    self._non_trainable_weights = []
    self._updates = []
    self._losses = []
    self._scope = None
    self._current_scope = None
    if isinstance(name, tf.compat.v1.VariableScope):
      self._base_name = name.name
      self._name = _unique_layer_name(_snake_case(type(self).__name__))
    elif name:
      self._base_name = self._name = name
    else:
      self._base_name = _snake_case(type(self).__name__)
      self._name = _unique_layer_name(self._base_name)
    if scope:
      with tf.compat.v1.variable_scope(scope) as captured:
        self._scope = captured

  @staticmethod
  def _resolve_dtype(dtype):
    if dtype is None:
      return None
    if dtype in ("mixed_float16", "mixed_bfloat16"):
      return dtype[len("mixed_"):]
    return tf.as_dtype(dtype).name

  # Properties users read on TF1 layers.

  @property
  def name(self):
    return self._name

  @property
  def dtype(self):
    """The compute dtype name (set from the first input when not given)."""
    return self._compute_dtype

  @property
  def trainable(self):
    return self._trainable

  @trainable.setter
  def trainable(self, value):
    self._trainable = value

  @property
  def scope_name(self):
    if not self._scope:
      raise ValueError(
          "Layer %r has no scope name yet: its variable scope is chosen on "
          "its first call. Call the layer before reading `scope_name`." %
          self._name)
    return self._scope.name

  @property
  def graph(self):
    """Deprecated in TF1 and always None, as in TF1's layers."""
    return None

  @property
  def trainable_weights(self):
    return list(self._trainable_weights) if self._trainable else []

  @property
  def non_trainable_weights(self):
    if self._trainable:
      return list(self._non_trainable_weights)
    return self._trainable_weights + self._non_trainable_weights

  @property
  def weights(self):
    return self.trainable_weights + self.non_trainable_weights

  trainable_variables = trainable_weights
  non_trainable_variables = non_trainable_weights
  variables = weights

  @property
  def updates(self):
    """The layer's update ops; empty for a non-trainable layer, as in TF1."""
    if not self._trainable:
      return []
    return [op for op, _ in self._updates]

  @property
  def losses(self):
    return [loss for loss, _ in self._losses]

  def get_updates_for(self, inputs):
    """Returns the updates that depend on `inputs` (None: on no input).

    Args:
      inputs: A tensor, a list of tensors, or None.

    Returns:
      List of update ops.
    """
    if not self._trainable:
      return []
    return self._select(self._updates, inputs)

  def get_losses_for(self, inputs):
    """Returns the losses that depend on `inputs` (None: on no input).

    Args:
      inputs: A tensor, a list of tensors, or None.

    Returns:
      List of loss tensors.
    """
    return self._select(self._losses, inputs)

  @staticmethod
  def _select(entries, inputs):
    if inputs is None:
      return [item for item, conditional in entries if not conditional]
    inputs = tf.nest.flatten(inputs)
    return [item for item, conditional in entries
            if conditional and _depends_on(item, inputs)]

  def add_update(self, update, inputs):
    """Records an update op computed from the tensors `inputs`."""
    op = getattr(update, "op", update)
    self._updates.append((op, _depends_on(op, inputs)))

  # Variable scopes and weights.

  def _set_scope(self, scope=None):
    if self._scope is not None:
      return
    if self._reuse:
      with tf.compat.v1.variable_scope(
          scope if scope is not None else self._base_name) as captured:
        self._scope = captured
    else:
      with tf.compat.v1.variable_scope(
          scope, default_name=self._base_name) as captured:
        self._scope = captured

  def add_weight(self, name, shape, dtype, initializer, trainable,
                 regularizer=None, constraint=None,
                 synchronization=tf.VariableSynchronization.AUTO,
                 aggregation=tf.VariableAggregation.NONE,
                 use_partitioner=True):
    """Creates or reuses a variable in the layer's variable scope.

    Args:
      name: Variable name inside the layer's scope.
      shape: Variable shape.
      dtype: Variable dtype.
      initializer: Initializer callable.
      trainable: Whether the variable is trainable (ANDed with the layer's
        `trainable`).
      regularizer: Optional callable giving a scalar loss for the variable.
      constraint: Optional projection applied by optimizers after updates.
      synchronization: Variable synchronization mode.
      aggregation: Variable aggregation mode.
      use_partitioner: If False, the scope's partitioner is not applied.

    Returns:
      The variable.
    """
    existing = set(tf.compat.v1.global_variables())
    self._set_scope(None)
    reuse = self.built or self._reuse
    with tf.compat.v1.variable_scope(
        self._scope, reuse=reuse, auxiliary_name_scope=False) as scope:
      self._current_scope = scope
      saved_partitioner = scope.partitioner
      if not use_partitioner:
        scope.set_partitioner(None)
      try:
        with tf.compat.v1.name_scope(scope.original_name_scope):
          is_trainable = bool(trainable and self._trainable)
          variable = tf.compat.v1.get_variable(
              name, shape=shape, dtype=dtype, initializer=initializer,
              trainable=is_trainable, constraint=constraint,
              synchronization=synchronization, aggregation=aggregation)
          if regularizer is not None and variable not in existing:
            with tf.compat.v1.name_scope(name + "/Regularizer"):
              loss = regularizer(variable)
            if loss is not None:
              self._losses.append((loss, False))
              _add_to_collection(
                  [loss], tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES)
      finally:
        scope.set_partitioner(saved_partitioner)
    # A reused variable created as non-trainable stays non-trainable.
    if is_trainable and variable not in tf.compat.v1.trainable_variables():
      is_trainable = False
    if is_trainable:
      self._trainable_weights.append(variable)
    else:
      self._non_trainable_weights.append(variable)
    return variable

  # Calling.

  def build(self, input_shape):
    self.built = True

  def call(self, inputs, **kwargs):
    raise NotImplementedError

  def _check_input(self, inputs):
    spec = self.input_spec
    if spec is None:
      return
    rank, axes = spec
    shape = inputs.shape
    if shape.rank is None:
      raise ValueError("Input of layer %r has unknown rank; it was built for "
                       "rank %d." % (self._name, rank))
    if shape.rank != rank:
      raise ValueError(
          "Input of layer %r has rank %d (shape %s), but the layer was built "
          "for rank %d." % (self._name, shape.rank, shape, rank))
    for axis, size in axes.items():
      if shape[axis] is not None and shape[axis] != size:
        raise ValueError(
            "Input of layer %r has size %d on axis %d (shape %s), but the "
            "layer was built for size %d." %
            (self._name, shape[axis], axis, shape, size))

  def __call__(self, inputs, *args, **kwargs):
    """Builds the layer's ops on `inputs` in the current graph.

    Args:
      inputs: Input tensor (numpy arrays and Python numbers are converted).
      *args: Passed to `call`.
      **kwargs: Passed to `call`; `scope` names the variable scope on the
        first call.

    Returns:
      The output tensor.
    """
    scope = kwargs.pop("scope", None)
    if tf.executing_eagerly():
      raise RuntimeError(
          "tf_bn_compat layers build TF1 graphs and cannot run eagerly; call "
          "the layer inside `tf.Graph().as_default()`.")
    self._set_scope(scope)
    reuse = True if self.built else self._reuse
    with tf.compat.v1.variable_scope(
        self._scope, reuse=reuse, auxiliary_name_scope=False) as var_scope:
      self._current_scope = var_scope
      inputs = tf.convert_to_tensor(inputs)
      self._check_input(inputs)
      with tf.compat.v1.name_scope(var_scope.original_name_scope):
        if not self.built:
          if self._compute_dtype is None:
            self._compute_dtype = inputs.dtype.base_dtype.name
          self.build(inputs.shape)
          self.built = True
        outputs = self.call(inputs, *args, **kwargs)
    _add_to_collection(self.updates, tf.compat.v1.GraphKeys.UPDATE_OPS)
    return outputs

  def apply(self, inputs, *args, **kwargs):
    """Alias of `__call__`, as in TF1."""
    return self.__call__(inputs, *args, **kwargs)
