"""The normalization pipeline that both batch normalization classes share.

`BatchNormalizationMixin` holds the constructor arguments, `build` (axis
checks, the fused-path decision, the variables) and `call` (ghost batches,
the fused and composite paths, renorm, adjustment, the moving-statistics
updates). It uses only what a layer base provides: `add_weight`,
`add_update`, `_without_partitioner`, `_compute_dtype`, `name`. TF1's
`tf.compat.v1.layers.BatchNormalization` (variable scopes, `UPDATE_OPS`)
and the Keras-v1 class `tf.compat.v1.keras.layers.BatchNormalization` (name
scopes, `layer.updates` only) put it on their own layer bases; the
normalization is the same.
"""

import logging

import tensorflow as tf

from tf_bn_compat.layers import arguments
from tf_bn_compat.layers import batch_statistics
from tf_bn_compat.layers import fused_decision
from tf_bn_compat.layers import input_spec
from tf_bn_compat.layers import moving_averages
from tf_bn_compat.layers import renorm as renorm_lib
from tf_bn_compat.layers import training_flag
from tf_bn_compat.ops import fused as fused_ops

_HALF_DTYPES = (tf.float16, tf.bfloat16)

def _validate_axis(axis, rank):
  if rank is None:
    raise ValueError("BatchNormalization needs an input of known rank.")
  if rank == 0:
    raise ValueError("BatchNormalization needs an input of rank 1 or more; "
                     "got a scalar.")
  axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
  result = []
  for a in axes:
    if not -rank <= a < rank:
      raise ValueError("axis %s is out of range for an input of rank %d: each "
                       "axis must be in [-%d, %d)." % (axis, rank, rank, rank))
    result.append(a % rank)
  if len(set(result)) != len(result):
    raise ValueError("axis %s names the same dimension twice." % (axis,))
  return result


class BatchNormalizationMixin(object):
  """Batch normalization's arguments, variables and math, for a layer base.

  Mixed in before a layer base class (see the module docstring); the
  constructor takes the arguments of TF1's layer and passes `trainable`,
  `name` and `**kwargs` on to the base.
  """

  def __init__(self,
               axis=-1,
               momentum=0.99,
               epsilon=1e-3,
               center=True,
               scale=True,
               beta_initializer=tf.compat.v1.zeros_initializer(),
               gamma_initializer=tf.compat.v1.ones_initializer(),
               moving_mean_initializer=tf.compat.v1.zeros_initializer(),
               moving_variance_initializer=tf.compat.v1.ones_initializer(),
               beta_regularizer=None,
               gamma_regularizer=None,
               beta_constraint=None,
               gamma_constraint=None,
               renorm=False,
               renorm_clipping=None,
               renorm_momentum=0.99,
               fused=None,
               trainable=True,
               virtual_batch_size=None,
               adjustment=None,
               name=None,
               synchronized=False,
               **kwargs):
    if isinstance(axis, (list, tuple)):
      if not all(isinstance(a, int) for a in axis):
        raise TypeError("`axis` must be an int or a list of ints, got %r." %
                        (axis,))
      axis = list(axis)
    elif not isinstance(axis, int) or isinstance(axis, bool):
      raise TypeError("`axis` must be an int or a list of ints, got %r." %
                      (axis,))
    if virtual_batch_size is not None and not isinstance(
        virtual_batch_size, int):
      raise TypeError("`virtual_batch_size` must be an int or None, got %r." %
                      (virtual_batch_size,))
    if adjustment is not None and not callable(adjustment):
      raise TypeError("`adjustment` must be a callable, got %r." %
                      (adjustment,))
    if fused not in (None, True, False):
      raise TypeError("`fused` must be None, True or False, got %r." %
                      (fused,))
    if not isinstance(synchronized, bool):
      raise TypeError("`synchronized` must be True or False, got %r." %
                      (synchronized,))
    super().__init__(trainable=trainable, name=name, **kwargs)
    self.axis = axis
    self.momentum = momentum
    self.epsilon = epsilon
    self.center = center
    self.scale = scale
    self.beta_initializer = arguments.get_initializer(
        beta_initializer, "beta_initializer")
    self.gamma_initializer = arguments.get_initializer(
        gamma_initializer, "gamma_initializer")
    self.moving_mean_initializer = arguments.get_initializer(
        moving_mean_initializer, "moving_mean_initializer")
    self.moving_variance_initializer = arguments.get_initializer(
        moving_variance_initializer, "moving_variance_initializer")
    self.beta_regularizer = arguments.get_callable(
        beta_regularizer, "beta_regularizer")
    self.gamma_regularizer = arguments.get_callable(
        gamma_regularizer, "gamma_regularizer")
    self.beta_constraint = arguments.get_callable(
        beta_constraint, "beta_constraint")
    self.gamma_constraint = arguments.get_callable(
        gamma_constraint, "gamma_constraint")
    self.renorm = renorm
    self.virtual_batch_size = virtual_batch_size
    self.adjustment = adjustment
    self.fused = fused
    self._fused_requested = fused
    self.synchronized = synchronized
    if renorm:
      renorm_clipping = dict(renorm_clipping or {})
      unknown = set(renorm_clipping) - set(renorm_lib.CLIPPING_KEYS)
      if unknown:
        raise ValueError(
            "renorm_clipping has unknown key(s) %s; the known keys are %s." %
            (sorted(unknown), list(renorm_lib.CLIPPING_KEYS)))
      self.renorm_clipping = renorm_clipping
      self.renorm_momentum = renorm_momentum
    self.gamma = None
    self.beta = None
    self.moving_mean = None
    self.moving_variance = None

  @property
  def _param_dtype(self):
    if self._compute_dtype in ("float16", "bfloat16"):
      return tf.float32
    return tf.as_dtype(self._compute_dtype or "float32")

  def build(self, input_shape):
    """Validates the input shape, picks the path and creates the variables.

    Args:
      input_shape: `TensorShape` of the first input.

    Raises:
      ValueError: for an unknown rank, an axis out of range or repeated, an
        unknown size on a normalized axis, or a bad `virtual_batch_size`.
    """
    input_shape = tf.TensorShape(input_shape)
    rank = input_shape.rank
    self.axis = _validate_axis(self.axis, rank)
    if not tf.as_dtype(self._compute_dtype).is_floating:
      raise TypeError("BatchNormalization needs a floating-point input, got "
                      "%s." % self._compute_dtype)
    if self.virtual_batch_size is not None:
      if self.virtual_batch_size <= 0:
        raise ValueError("virtual_batch_size must be a positive integer that "
                         "divides the batch size, got %d." %
                         self.virtual_batch_size)
      if 0 in self.axis:
        raise ValueError("With virtual_batch_size the batch axis 0 cannot be "
                         "normalized; got axis %s." % self.axis)
      if self.adjustment is not None:
        raise ValueError("virtual_batch_size and adjustment cannot be used "
                         "together.")
    self._choose_path(rank)
    sizes = {a: input_shape[a] for a in self.axis}
    for a, size in sizes.items():
      if size is None:
        raise ValueError("Input dimension %d (a normalized axis) must be known "
                         "when the layer is built; input shape is %s." %
                         (a, input_shape))
    self.input_spec = input_spec.InputSpec(ndim=rank, axes=sizes)
    if len(self.axis) == 1 and self.virtual_batch_size is None:
      param_shape = [sizes[self.axis[0]]]
    else:
      param_shape = [sizes.get(i, 1) for i in range(rank)]
      if self.virtual_batch_size is not None:
        param_shape.insert(1, 1)
        self.axis = [a + 1 for a in self.axis]
    self._param_shape = param_shape
    self._create_variables(param_shape)

  def _choose_path(self, rank):
    if self.fused is False:
      return
    reason = fused_decision.fused_unavailable_reason(
        rank, self.axis, self.renorm, self.virtual_batch_size,
        self.adjustment, self._compute_dtype, synchronized=self.synchronized)
    if reason is None:
      self.fused = True
      self._data_format = fused_decision.fused_data_format(rank, self.axis)
      return
    if self._fused_requested:
      logging.getLogger("tf_bn_compat").warning(
          "Layer %s: fused=True cannot be used (%s); using the composite "
          "implementation, as TF1 does.", self.name, reason)
    self.fused = False

  def _create_variables(self, shape):
    param_dtype = self._param_dtype
    if self.scale:
      self.gamma = self.add_weight(
          "gamma", shape, param_dtype, self.gamma_initializer,
          regularizer=self.gamma_regularizer, constraint=self.gamma_constraint)
    if self.center:
      self.beta = self.add_weight(
          "beta", shape, param_dtype, self.beta_initializer,
          regularizer=self.beta_regularizer, constraint=self.beta_constraint)

    def statistic(name, initializer):
      return self.add_weight(
          name, shape, param_dtype, initializer, trainable=False,
          synchronization=tf.VariableSynchronization.ON_READ,
          aggregation=batch_statistics.moving_statistics_aggregation(
              self.synchronized))

    # TF1 never partitions the moving statistics.
    with self._without_partitioner():
      self.moving_mean = statistic("moving_mean", self.moving_mean_initializer)
      self.moving_variance = statistic("moving_variance",
                                       self.moving_variance_initializer)
      if self.renorm:
        variance_init = self.moving_variance_initializer

        def stddev_initializer(*args, **kwargs):
          return tf.sqrt(variance_init(*args, **kwargs))

        self.moving_stddev = statistic("moving_stddev", stddev_initializer)
        self.renorm_mean = statistic("renorm_mean",
                                     self.moving_mean_initializer)
        self.renorm_stddev = statistic("renorm_stddev", stddev_initializer)

  def call(self, inputs, training=False, mask=None):
    """Normalizes `inputs`.

    Args:
      inputs: Input tensor.
      training: Python bool (or 0/1), or a scalar bool tensor: whether to
        normalize with batch statistics and update the moving ones. None
        selects the graph's `keras_learning_phase` placeholder (default
        False) in a TF1 graph, and is False executing eagerly or inside
        `tf.function`.
      mask: None, or a bool tensor shaped as `inputs` without the normalized
        axes (e.g. [batch, time] for [batch, time, features]), or
        broadcastable to that: in training the batch statistics are those of
        the True elements only, and the moving statistics move towards them
        (not at all when no element is True). In inference it changes
        nothing. A masked training call takes the composite path.

    Returns:
      The normalized tensor, same shape and dtype as `inputs`.

    Raises:
      ValueError: if `mask` has the wrong rank or shape.
    """
    inputs = tf.cast(inputs, self._compute_dtype)
    call_inputs = [inputs]
    training = training_flag.normalize(training)
    if mask is not None and training_flag.static_value(training) is False:
      mask = None  # Moving statistics only: the mask changes nothing.
    if mask is not None:
      mask = _expand_mask(mask, inputs, self._input_axes())
    if self.virtual_batch_size is not None:
      inputs, restore_shape = self._split_virtual_batches(inputs, training)
      if mask is not None:
        mask = tf.reshape(mask, tf.shape(inputs))
    if self.fused and mask is None:
      outputs = self._fused_call(inputs, training, call_inputs)
    else:
      outputs = self._composite_call(inputs, training, call_inputs, mask)
    if self.virtual_batch_size is not None:
      outputs = tf.reshape(outputs, restore_shape)
    return outputs

  def _input_axes(self):
    """The normalized axes of the input (before any ghost-batch reshape)."""
    if self.virtual_batch_size is not None:
      return [a - 1 for a in self.axis]
    return list(self.axis)

  def _split_virtual_batches(self, inputs, training):
    """Reshapes [N, ...] to [virtual_batch_size, N / virtual_batch_size, ...].

    Under TF2 behaviour, when `training` is not statically True, TF1's layer
    reshapes to [N, 1, ...] instead (one ghost batch); kept for parity.
    """
    shape = tf.shape(inputs)
    restore_shape = tf.concat([[-1], shape[1:]], axis=0)
    if tf.__internal__.tf2.enabled() and not training_flag.static_value(
        training):
      lead = [-1, 1]
    else:
      lead = [self.virtual_batch_size, -1]
    return tf.reshape(inputs, tf.concat([lead, shape[1:]], axis=0)), (
        restore_shape)

  def _add_moving_updates(self, make_updates, call_inputs):
    """Adds the moving-statistics updates that `make_updates()` builds.

    A callable, so that executing eagerly a frozen (non-trainable) layer
    does not run them; in a TF1 graph they are built either way.
    """
    self.add_update(make_updates, call_inputs)

  def _fused_call(self, inputs, training, call_inputs):
    gamma = self.gamma if self.scale else tf.constant(
        1.0, self._param_dtype, self._param_shape)
    beta = self.beta if self.center else tf.constant(
        0.0, self._param_dtype, self._param_shape)

    def run(is_training):
      return fused_ops.fused_batch_norm(
          inputs, gamma, beta, mean=self.moving_mean,
          variance=self.moving_variance, epsilon=self.epsilon,
          data_format=self._data_format, is_training=is_training)

    outputs, mean, variance = training_flag.smart_cond(
        training, lambda: run(True), lambda: run(False))
    static = training_flag.static_value(training)
    if static is not False:

      def make_updates():
        if static is None:
          momentum = training_flag.smart_cond(
              training, lambda: tf.constant(self.momentum),
              lambda: tf.constant(1.0))
        else:
          momentum = tf.convert_to_tensor(self.momentum)
        return [
            moving_averages.assign_moving_average(
                self.moving_mean, mean, momentum),
            moving_averages.assign_moving_average(
                self.moving_variance, variance, momentum)]

      self._add_moving_updates(make_updates, call_inputs)
    return outputs

  def _broadcast(self, value, ndims, reduction_axes, broadcast_shape):
    if (value is not None and value.shape.rank != ndims and
        reduction_axes != list(range(ndims - 1))):
      return tf.reshape(value, broadcast_shape)
    return value

  def _composite_call(self, inputs, training, call_inputs, mask=None):
    input_dtype = inputs.dtype.base_dtype
    if input_dtype in _HALF_DTYPES:
      inputs = tf.cast(inputs, tf.float32)
    ndims = inputs.shape.rank
    reduction_axes = [i for i in range(ndims) if i not in self.axis]
    if self.virtual_batch_size is not None:
      del reduction_axes[1]  # Each ghost batch keeps its own statistics.
    broadcast_shape = [1] * ndims
    broadcast_shape[self.axis[0]] = inputs.shape[self.axis[0]]

    def broadcast(value):
      return self._broadcast(value, ndims, reduction_axes, broadcast_shape)

    scale, offset = broadcast(self.gamma), broadcast(self.beta)
    if training_flag.static_value(training) is False:
      mean, variance = self.moving_mean, self.moving_variance
    else:
      if self.adjustment is not None:
        scale, offset = self._apply_adjustment(inputs, training, scale, offset)
      keep_dims = self.virtual_batch_size is not None or len(self.axis) > 1
      # The element count matters only with a mask (see below).
      statistics = batch_statistics.moments(
          tf.cast(inputs, self._param_dtype), reduction_axes,
          keepdims=keep_dims, synchronized=self.synchronized, mask=mask,
          with_count=mask is not None)
      batch_mean, batch_variance = statistics[:2]
      mean = training_flag.smart_cond(
          training, lambda: batch_mean,
          lambda: tf.convert_to_tensor(self.moving_mean))
      variance = training_flag.smart_cond(
          training, lambda: batch_variance,
          lambda: tf.convert_to_tensor(self.moving_variance))
      if self.virtual_batch_size is not None:
        new_mean = tf.reduce_mean(mean, axis=1, keepdims=True)
        new_variance = tf.reduce_mean(variance, axis=1, keepdims=True)
      else:
        new_mean, new_variance = mean, variance
      if mask is not None:
        # A batch without unmasked elements (on any replica, when
        # synchronized) leaves the moving statistics.
        has_elements = tf.reduce_any(statistics[2] > 0)
        new_mean = tf.where(has_elements, new_mean,
                            tf.convert_to_tensor(self.moving_mean))
        new_variance = tf.where(has_elements, new_variance,
                                tf.convert_to_tensor(self.moving_variance))
      if self.renorm:
        r, d, new_mean, new_variance = renorm_lib.correction_and_moments(
            self, new_mean, new_variance, training)
        r = broadcast(tf.stop_gradient(r, name="renorm_r"))
        d = broadcast(tf.stop_gradient(d, name="renorm_d"))
        scale, offset = _compose(r, d, scale, offset)
      self._add_moving_updates(
          lambda: [self._mean_update(training, new_mean),
                   self._variance_update(training, new_variance)],
          call_inputs)
    mean = broadcast(tf.cast(mean, inputs.dtype))
    variance = broadcast(tf.cast(variance, inputs.dtype))
    if offset is not None:
      offset = tf.cast(offset, inputs.dtype)
    if scale is not None:
      scale = tf.cast(scale, inputs.dtype)
    outputs = tf.nn.batch_normalization(inputs, mean, variance, offset, scale,
                                        self.epsilon)
    if input_dtype in _HALF_DTYPES:
      outputs = tf.cast(outputs, input_dtype)
    outputs.set_shape(inputs.shape)
    return outputs

  def _apply_adjustment(self, inputs, training, scale, offset):
    adj_scale, adj_bias = self.adjustment(tf.shape(inputs))
    adj_scale = training_flag.smart_cond(
        training, lambda: adj_scale, lambda: tf.ones_like(adj_scale))
    adj_bias = training_flag.smart_cond(
        training, lambda: adj_bias, lambda: tf.zeros_like(adj_bias))
    return _compose(adj_scale, adj_bias, scale, offset)

  def _mean_update(self, training, new_mean):
    return training_flag.smart_cond(
        training,
        lambda: moving_averages.assign_moving_average(
            self.moving_mean, new_mean, self.momentum),
        lambda: self.moving_mean)

  def _variance_update(self, training, new_variance):
    def renorm_update():
      # Renorm tracks the stddev and derives the variance from it.
      stddev = moving_averages.assign_moving_average(
          self.moving_stddev, tf.sqrt(new_variance + self.epsilon),
          self.momentum)
      return moving_averages.assign_new_value(
          self.moving_variance, tf.nn.relu(stddev * stddev - self.epsilon))

    def plain_update():
      return moving_averages.assign_moving_average(
          self.moving_variance, new_variance, self.momentum)

    return training_flag.smart_cond(
        training, renorm_update if self.renorm else plain_update,
        lambda: self.moving_variance)

  def compute_output_shape(self, input_shape):
    return tf.TensorShape(input_shape)

  def get_config(self):
    """Returns the constructor arguments as a dict (see `from_config`)."""
    config = super().get_config()
    config.update({
        "axis": self.axis,
        "momentum": self.momentum,
        "epsilon": self.epsilon,
        "center": self.center,
        "scale": self.scale,
        "beta_initializer": arguments.serialize(self.beta_initializer),
        "gamma_initializer": arguments.serialize(self.gamma_initializer),
        "moving_mean_initializer": arguments.serialize(
            self.moving_mean_initializer),
        "moving_variance_initializer": arguments.serialize(
            self.moving_variance_initializer),
        "beta_regularizer": arguments.serialize(self.beta_regularizer),
        "gamma_regularizer": arguments.serialize(self.gamma_regularizer),
        "beta_constraint": arguments.serialize(self.beta_constraint),
        "gamma_constraint": arguments.serialize(self.gamma_constraint),
    })
    if self.renorm:
      config.update(renorm=True, renorm_clipping=self.renorm_clipping,
                    renorm_momentum=self.renorm_momentum)
    if self.virtual_batch_size is not None:
      config["virtual_batch_size"] = self.virtual_batch_size
      config["axis"] = [a - 1 for a in self.axis] if self.built else self.axis
    if self.synchronized:
      config["synchronized"] = True
    if self.adjustment is not None:
      logging.getLogger("tf_bn_compat").warning(
          "Layer %s: `adjustment` is a function and is left out of the "
          "config.", self.name)
    return config

  @classmethod
  def from_config(cls, config):
    """Creates a layer from the dict returned by `get_config`."""
    return cls(**config)


def _expand_mask(mask, inputs, axes):
  """`mask` as a bool tensor of `inputs`' shape (normalized axes inserted).

  Raises:
    ValueError: if `mask`'s rank is not the input's rank minus the number of
      normalized axes, or its shape does not broadcast.
  """
  mask = tf.convert_to_tensor(mask)
  if mask.dtype != tf.bool:
    mask = tf.cast(mask, tf.bool)
  rank = inputs.shape.rank
  if mask.shape.rank != rank - len(axes):
    raise ValueError(
        "`mask` must have the rank of the input without its normalized axes "
        "%s (%d), got shape %s for an input of shape %s." %
        (axes, rank - len(axes), mask.shape, inputs.shape))
  for axis in sorted(axes):
    mask = tf.expand_dims(mask, axis)
  try:
    tf.broadcast_static_shape(mask.shape, inputs.shape)
  except ValueError:
    raise ValueError("`mask` of shape %s does not broadcast to the input's "
                     "shape %s without its normalized axes %s." %
                     (mask.shape, inputs.shape, axes)) from None
  return tf.broadcast_to(mask, tf.shape(inputs))


def _compose(scale, offset, then_scale, then_offset):
  """Returns the affine map `then(x * scale + offset)` as (scale, offset)."""
  if then_scale is not None:
    scale *= then_scale
    offset *= then_scale
  if then_offset is not None:
    offset += then_offset
  return scale, offset


