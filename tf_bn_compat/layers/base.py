"""TF1's layer: variable scopes, weights, updates and losses.

`Layer` is `tf.compat.v1.layers.Layer`, the base of every layer of this
package, in TF1 graphs, executing eagerly and inside `tf.function`:

* naming (`naming.py`): an unnamed layer is named `dense_1`, `dense_2`, ...
  per graph; its variable scope is opened with the base name `dense` as
  `default_name`, so TF's variable-scope store numbers the scopes exactly as
  TF1 did (`dense`, `dense_1`, ...: what old checkpoints contain);
* variables come from `tf.compat.v1.get_variable` inside the layer's scope,
  so `reuse`, `AUTO_REUSE`, custom getters, the scope's initializer and
  partitioner and the GLOBAL/TRAINABLE collections behave as with any TF1
  variable;
* updates and losses are recorded per layer with whether they depend on the
  call's inputs (`get_updates_for` / `get_losses_for`) and are added to
  `UPDATE_OPS` / `REGULARIZATION_LOSSES` (`graph_utils.py`); an
  `activity_regularizer` adds `regularizer(output) / batch_size` at each
  call;
* the compute and variable dtypes come from `dtype_policy.py`.

Where the variables live is the layer's weight style (`weight_styles.py`),
chosen once at construction. Inside `keras_style_scope()` (or after
`set_keras_style()`) layers manage their variables as Keras does instead: no variable scopes, each layer owns
its variables (named after the layer's unique name scope), `scope` and
`reuse` are refused, and updates stay out of `UPDATE_OPS`.

Executing eagerly, and inside a `tf.function` traced from eager code, a
layer object works as TF1's layers (tf_keras' legacy layers) do there (see
`execution_mode`):

* the first call creates the variables, still through
  `tf.compat.v1.get_variable` in the layer's variable scope (`dense/kernel`,
  `dense_1/kernel`, ...: scopes and layer names continue across the
  process); the layer owns them (`variables`, `trainable_variables`, ...)
  and later calls (a `tf.function`'s retraces too) reuse them;
* updates run in place as the call runs (a `tf.function` runs its stateful
  ops) and are not recorded: `updates` and `get_updates_for` are empty, and
  a layer whose `trainable` is False runs none, as Keras' frozen layers;
* `losses` are the losses added by the last call (the activity
  regularizer's), then the weight regularizers, recomputed from the
  variables' current values at each read;
* nothing is added to the global graph's collections (inside a
  `tf.function`, regularization losses go to the function graph's own
  `REGULARIZATION_LOSSES`, as TF1's layers do there).
"""

import functools
import inspect

import numpy as np
import tensorflow as tf

from tf_bn_compat.layers import arguments
from tf_bn_compat.layers import dtype_policy
from tf_bn_compat.layers import execution_mode
from tf_bn_compat.layers import graph_utils
from tf_bn_compat.layers import input_spec as input_spec_lib
from tf_bn_compat.layers import naming
from tf_bn_compat.layers import variable_owner
from tf_bn_compat.layers import weight_styles


def _evaluate(loss):
  """A loss tensor; a callable loss (eager regularizer) is computed now."""
  return loss() if callable(loss) else loss


def regularization_loss(name, variable, regularizer):
  """`regularizer(variable)`, built in the name scope `<name>/Regularizer`."""
  with tf.compat.v1.name_scope(name + "/Regularizer"):
    return regularizer(variable)


class Layer(object):
  """Base class of TF1 graph-mode layers (`tf.compat.v1.layers.Layer`).

  Subclasses implement `build(input_shape)` and `call(inputs, **kwargs)` and
  create their variables with `add_weight`.

  Args:
    trainable: Whether the layer's trainable weights go to the
      `TRAINABLE_VARIABLES` collection.
    name: The layer's name; also the base name of its variable scope.
    dtype: The dtype of the layer's variables and computation, or None to
      take the dtype of the first input. "mixed_float16"/"mixed_bfloat16"
      compute in half precision on float32 variables.
    **kwargs: `activity_regularizer`, and `_scope` and `_reuse`, used by the
      functional interfaces.

  A layer works in TF1 graphs, eagerly and inside `tf.function` (see the
  module docstring for what its bookkeeping does in each).

  Raises:
    TypeError: for an unknown keyword argument.
    ValueError: for `_scope` or `_reuse` under `keras_style_scope()`.
  """

  # Keras-v1 layers are Keras-style whether or not `keras_style_scope()`
  # is active.
  _always_keras_style = False

  def __init__(self, trainable=True, name=None, dtype=None, **kwargs):
    scope = kwargs.pop("_scope", None)
    reuse = kwargs.pop("_reuse", None)
    activity_regularizer = kwargs.pop("activity_regularizer", None)
    kwargs.pop("autocast", None)
    if kwargs:
      raise TypeError("Keyword argument(s) not understood: %s" %
                      ", ".join(sorted(kwargs)))
    self._trainable = trainable
    self._policy = dtype_policy.DtypePolicy(dtype)
    self.activity_regularizer = arguments.get_callable(
        activity_regularizer, "activity_regularizer")
    self.built = False
    self.input_spec = None
    self._trainable_weights = []
    self._non_trainable_weights = []
    self._updates = []
    self._losses = []
    self._weight_losses = []
    self._call_inputs = []
    if isinstance(name, tf.compat.v1.VariableScope):
      base_name = name.name
      self._name = naming.unique_layer_name(
          naming.snake_case(type(self).__name__))
    elif name:
      base_name = self._name = name
    else:
      base_name = naming.snake_case(type(self).__name__)
      self._name = naming.unique_layer_name(base_name)
    if self._always_keras_style or naming.keras_style_enabled():
      self._style = weight_styles.KerasStyle(self._name, scope, reuse)
    else:
      self._style = weight_styles.VariableScopeStyle(base_name, scope, reuse)

  # Properties users read on TF1 layers.

  @property
  def name(self):
    return self._name

  @property
  def dtype(self):
    """The dtype of the layer's variables (from the first input if unset)."""
    return self._policy.variable

  @property
  def _compute_dtype(self):
    """The dtype the layer computes in (from the first input if unset)."""
    return self._policy.compute

  @property
  def trainable(self):
    return self._trainable

  @trainable.setter
  def trainable(self, value):
    self._trainable = value

  @property
  def scope_name(self):
    if not self._style.scope:
      raise ValueError(
          "Layer %r has no scope name yet: its variable scope is chosen on "
          "its first call. Call the layer before reading `scope_name`." %
          self._name)
    return self._style.scope.name

  @property
  def graph(self):
    """Deprecated in TF1 and always None, as in TF1's layers.

    Raises:
      RuntimeError: when executing eagerly, as TF1's layers do.
    """
    if tf.executing_eagerly():
      raise RuntimeError("Layer.graph not supported when executing eagerly.")
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

  def count_params(self):
    """Returns the number of scalars in the layer's weights.

    Raises:
      ValueError: if the layer is not built yet.
    """
    if not self.built:
      raise ValueError("You tried to call `count_params` on layer %s, but the "
                       "layer isn't built. You can build it manually via: "
                       "`%s.build(batch_input_shape)`." % (self.name,
                                                            self.name))
    return int(sum(np.prod(w.shape.as_list()) for w in self.weights))

  @property
  def updates(self):
    """The layer's update ops; empty for a non-trainable layer, as in TF1.

    Executing eagerly or inside a `tf.function` updates run in place and are
    not recorded: the list is empty.
    """
    if not self._trainable:
      return []
    return [op for op, _ in self._updates]

  @property
  def losses(self):
    """Losses added with `add_loss`, then the weights' regularization.

    Executing eagerly, the losses added by the last call, then the weight
    regularizers computed now from the variables' current values.
    """
    losses = [_evaluate(loss) for loss, _ in self._losses] + [
        _evaluate(loss) for loss in self._weight_losses]
    return [loss for loss in losses if loss is not None]

  def get_updates_for(self, inputs):
    """Returns the updates that depend on `inputs` (None: on no input).

    Args:
      inputs: A tensor, a list of tensors, or None.

    Returns:
      List of update ops (empty eagerly and inside `tf.function`, where
      updates run in place).
    """
    if not self._trainable:
      return []
    return self._select(self._updates, inputs)

  def get_losses_for(self, inputs):
    """Returns the losses that depend on `inputs` (None: on no input).

    Args:
      inputs: A tensor, a list of tensors, or None.

    Returns:
      List of loss tensors. Eager losses have no graph to trace: for any
      `inputs` given, the conditional losses of the last eager call.
    """
    entries = self._losses + [(loss, False) for loss in self._weight_losses]
    losses = [_evaluate(loss) for loss in self._select(entries, inputs)]
    return [loss for loss in losses if loss is not None]

  @staticmethod
  def _select(entries, inputs):
    if inputs is None:
      return [item for item, conditional in entries if not conditional]
    inputs = tf.nest.flatten(inputs)
    return [item for item, conditional in entries
            if conditional and (not graph_utils.is_symbolic(item) or
                                graph_utils.depends_on(item, inputs))]

  def add_update(self, updates, inputs=None):
    """Records update ops (or tensors) of the layer, or runs them.

    In a TF1 graph the updates are recorded (`updates`, `get_updates_for`,
    `UPDATE_OPS`). Executing eagerly or inside a `tf.function` they run in
    place and are not recorded; callables are then called only while the
    layer is trainable (a frozen layer runs no updates, as in Keras).

    Args:
      updates: An update op or tensor, a zero-argument callable returning
        one or a list of them, or a list of these.
      inputs: The tensors the updates are computed from; by default the
        inputs of the current call. Updates that do not depend on them are
        unconditional (`get_updates_for(None)`).
    """
    records = execution_mode.records_updates(execution_mode.current())
    if inputs is None:
      inputs = self._call_inputs
    for update in tf.nest.flatten(updates):
      if callable(update):
        if not records and not self._trainable:
          continue
        update = update()
      if not records:
        continue  # It ran (eagerly) or runs with the function.
      for item in tf.nest.flatten(update):
        op = getattr(item, "op", item)
        self._updates.append(
            (op, graph_utils.depends_on(op, tf.nest.flatten(inputs))))

  def add_loss(self, losses, inputs=None):
    """Adds loss tensors to the layer and to `REGULARIZATION_LOSSES`.

    Executing eagerly, a callable is kept and called at each read of
    `losses`, and losses added during a call replace those of the previous
    call.

    Args:
      losses: A loss tensor (or a callable returning one), or a list.
      inputs: If given, the losses are conditional on these inputs
        (`get_losses_for(inputs)`); None makes them unconditional.
    """
    keep_callables = execution_mode.current() != execution_mode.GRAPH
    added = []
    for loss in tf.nest.flatten(losses):
      entry = None
      if callable(loss):
        entry = (loss, False) if keep_callables else None
        loss = loss()
      if loss is None:
        continue
      loss = tf.convert_to_tensor(loss)
      self._losses.append(entry or (loss, inputs is not None))
      added.append(loss)
    owner = variable_owner.current()
    if owner is not None:
      owner.add_call_losses(added)
    self._publish_losses(added)

  # Variable scopes and weights.

  def _without_partitioner(self):
    """Variables added inside are not partitioned by the layer's scope."""
    return self._style.without_partitioner()

  def add_weight(self, name, shape, dtype=None, initializer=None,
                 regularizer=None, trainable=None, constraint=None,
                 use_resource=None,
                 synchronization=tf.VariableSynchronization.AUTO,
                 aggregation=tf.VariableAggregation.NONE, partitioner=None,
                 **kwargs):
    """Creates or reuses a variable in the layer's variable scope.

    Args:
      name: Variable name inside the layer's scope.
      shape: Variable shape.
      dtype: Variable dtype; defaults to the layer's `dtype`, else float32.
      initializer: Initializer callable; None takes the variable scope's
        initializer, else `tf.compat.v1.get_variable`'s default
        (glorot_uniform for floating-point variables).
      regularizer: Optional callable giving a scalar loss for the variable,
        added to the layer's losses and `REGULARIZATION_LOSSES`.
      trainable: Whether the variable is trainable (ANDed with the layer's
        `trainable`); defaults to True.
      constraint: Optional projection applied by optimizers after updates.
      use_resource: Whether to make a resource variable (None: the scope's
        choice).
      synchronization: Variable synchronization mode.
      aggregation: Variable aggregation mode.
      partitioner: Optional partitioner; None takes the scope's.
      **kwargs: `experimental_autocast`, accepted and ignored.

    Returns:
      The variable (or what a custom getter returned).

    Raises:
      TypeError: for an unknown keyword argument.
      ValueError: if `trainable` is True with ON_READ synchronization.
    """
    for key in kwargs:
      if key != "experimental_autocast":
        raise TypeError("Unknown keyword argument:", key)
    if synchronization == tf.VariableSynchronization.ON_READ:
      if trainable:
        raise ValueError(
            "Synchronization value can be set to "
            "VariableSynchronization.ON_READ only for non-trainable "
            "variables. You have specified trainable=True and "
            "synchronization=VariableSynchronization.ON_READ.")
      trainable = False
    elif trainable is None:
      trainable = True
    dtype = tf.as_dtype(dtype or self.dtype or tf.float32)
    is_trainable = self._variable_trainable(trainable)
    options = dict(trainable=is_trainable, constraint=constraint,
                   synchronization=synchronization, aggregation=aggregation)
    variable, is_new = self._style.make_variable(
        self, name, shape, dtype, initializer, use_resource, partitioner,
        **options)
    if regularizer is not None and is_new:
      self._add_weight_regularization(self._style.loss_name(name, variable),
                                      variable, regularizer)
    # A custom getter or a reused variable may override `trainable` (seen in
    # TF1 graphs only: eager variables are in no collection).
    if is_trainable and execution_mode.current() == execution_mode.GRAPH and (
        not graph_utils.contains(tf.compat.v1.trainable_variables(), variable)):
      is_trainable = False
    weights = (self._trainable_weights if is_trainable
               else self._non_trainable_weights)
    # A partitioned variable by its parts.
    weights.extend(graph_utils.partitions(variable))
    return variable

  def _variable_trainable(self, trainable):
    """Whether a weight asked for as `trainable` becomes a trainable variable.

    TF1's layers AND it with the layer's `trainable`.
    """
    return bool(trainable and self._trainable)

  def _publish_losses(self, losses):
    """Adds losses of the layer to `REGULARIZATION_LOSSES`, as TF1 does."""
    graph_utils.add_to_collection(
        losses, tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES)

  def _add_weight_regularization(self, name, variable, regularizer):
    """Makes `regularizer(variable)` one of the layer's losses.

    A variable of the current variable owner (`variable_owner`) is
    regularized by that owner instead (a decorated object's losses compute
    the regularizer at each call).

    In a TF1 graph the loss is built once, in `REGULARIZATION_LOSSES` too.
    Executing eagerly or inside a `tf.function` the layer keeps a callable,
    so that `losses` reflects the variable's current value at each read
    (inside a `tf.function` the loss built now also goes to the function
    graph's `REGULARIZATION_LOSSES`).
    """
    owner = variable_owner.current()
    if owner is not None and owner.add_regularizer(variable, regularizer):
      return  # The owner's losses hold it, at current values.
    mode = execution_mode.current()
    added = []
    for part in graph_utils.partitions(variable):
      compute = functools.partial(regularization_loss, name, part,
                                  regularizer)
      loss = compute()
      if loss is None:
        continue
      added.append(loss)
      self._weight_losses.append(
          loss if mode == execution_mode.GRAPH else compute)
    self._publish_losses(added)

  def _read(self, variable):
    """`variable` as used in computation: cast to the compute dtype.

    Variables of a mixed-precision layer are float32 and are read in the
    compute dtype, as Keras' autocast variables are.
    """
    if variable is None:
      return None
    compute = self._compute_dtype
    if compute is not None and variable.dtype.base_dtype != compute and (
        variable.dtype.base_dtype.is_floating):
      return tf.cast(variable, compute)
    return variable

  # Calling.

  def build(self, input_shape):
    """Creates the layer's variables for inputs of `input_shape`."""
    del input_shape
    self.built = True

  def call(self, inputs, **kwargs):
    raise NotImplementedError

  def compute_output_shape(self, input_shape):
    raise NotImplementedError(
        "Layer %s does not implement `compute_output_shape`." %
        type(self).__name__)

  def _accepts_call_argument(self, name):
    try:
      return name in inspect.signature(self.call).parameters
    except (TypeError, ValueError):
      return False

  # The layer's Python is plain TF1 graph-building code (branches on tensors
  # are explicit `tf.cond`s): AutoGraph, inside a `tf.function`, must not
  # rewrite it.
  @tf.autograph.experimental.do_not_convert
  def __call__(self, inputs, *args, **kwargs):
    """Builds the layer's ops on `inputs` in the current graph, or runs them.

    The first call creates the layer's variables; later calls reuse them.
    Executing eagerly and inside `tf.function` the ops run (updates in
    place), and the losses of the previous call are dropped.

    Args:
      inputs: Input tensor or structure of tensors (numpy arrays and Python
        numbers are converted).
      *args: Passed to `call`.
      **kwargs: Passed to `call`; `scope` names the variable scope on the
        first call (and is passed on to `call` if it takes `scope`).

    Returns:
      The output tensor(s).

    Raises:
      ValueError: if the inputs do not match `input_spec`, or `scope` is
        given under `keras_style_scope()`.
    """
    scope = kwargs.pop("scope", None)
    mode = execution_mode.current()
    inputs = tf.nest.map_structure(graph_utils.convert_input, inputs)
    if mode != execution_mode.GRAPH:
      # As Keras: a call's losses replace those of the previous call.
      self._losses = [(loss, conditional) for loss, conditional in self._losses
                      if callable(loss)]
    with self._style.call_scopes(scope, self.built) as var_scope:
      input_spec_lib.assert_input_compatibility(self.input_spec, inputs,
                                                self._name)
      flat_inputs = tf.nest.flatten(inputs)
      self._call_inputs = flat_inputs
      if not self.built:
        if flat_inputs and hasattr(flat_inputs[0], "dtype"):
          self._policy.infer(flat_inputs[0].dtype)
        self.build(tf.nest.map_structure(lambda x: x.shape, inputs))
        self.built = True
      if var_scope is not None and self._accepts_call_argument("scope"):
        kwargs["scope"] = var_scope
      try:
        outputs = self.call(inputs, *args, **kwargs)
        self._regularize_activity(inputs, outputs)
      finally:
        self._call_inputs = []
    if self._style.publishes_updates and execution_mode.records_updates(mode):
      graph_utils.add_to_collection(self.updates,
                                    tf.compat.v1.GraphKeys.UPDATE_OPS)
    return outputs

  def _regularize_activity(self, inputs, outputs):
    if self.activity_regularizer is None:
      return
    with tf.compat.v1.name_scope("ActivityRegularizer"):
      for output in tf.nest.flatten(outputs):
        loss = self.activity_regularizer(output)
        batch_size = tf.cast(tf.shape(output)[0], loss.dtype)
        self.add_loss(loss / batch_size, inputs=inputs)

  def apply(self, inputs, *args, **kwargs):
    """Alias of `__call__`, as in TF1."""
    return self.__call__(inputs, *args, **kwargs)

  def get_config(self):
    """Returns the layer's constructor arguments (see `from_config`)."""
    config = {"name": self.name, "trainable": self.trainable}
    config["dtype"] = (self._policy.argument
                       if self._policy.argument is not None else self.dtype)
    return config

  @classmethod
  def from_config(cls, config):
    """Creates a layer from the dict returned by `get_config`."""
    return cls(**config)
