"""The normalization pipeline that both batch normalization classes share.

`BatchNormalizationMixin` holds the constructor arguments, `build` (the
layout of the statistics, the path, the variables) and `call`, a pipeline of
three stages: the batch statistics (`batch_statistics`), the normalization
(`normalize`, with renorm's correction from `renorm`) and the updates of the
moving statistics (`moving_statistics`). It uses only what a layer base
provides: `add_weight`, `add_update`, `_without_partitioner`,
`_compute_dtype`, `name`. TF1's `tf.compat.v1.layers.BatchNormalization`
(variable scopes, `UPDATE_OPS`) and the Keras-v1 class
`tf.compat.v1.keras.layers.BatchNormalization` (name scopes, `layer.updates`
only) put it on their own layer bases; the normalization is the same.
"""

import logging

import tensorflow as tf

from tf_bn_compat.layers import arguments
from tf_bn_compat.layers import batch_layout
from tf_bn_compat.layers import batch_statistics
from tf_bn_compat.layers import fused_decision
from tf_bn_compat.layers import input_spec
from tf_bn_compat.layers import moving_statistics
from tf_bn_compat.layers import normalize
from tf_bn_compat.layers import renorm as renorm_lib
from tf_bn_compat.layers import training_flag


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
    self._axis_argument = axis
    self._layout = None
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
    self._fused_argument = fused
    self._path = None
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

  @property
  def axis(self):
    """The normalized axes, as TF1's layer reports them.

    The `axis` argument until the layer is built; then the list of
    non-negative axes of the tensor the layer normalizes, which with
    `virtual_batch_size` is the input reshaped into ghost batches (each
    input axis plus one).
    """
    if self._layout is None:
      return self._axis_argument
    return self._layout.axes

  @axis.setter
  def axis(self, value):
    self._axis_argument = value

  @property
  def fused(self):
    """Whether the layer takes the fused path, as TF1's layer reports it.

    Until the layer is built, the `fused` argument, None reading True; then
    the decision.
    """
    if self._path is None:
      return True if self._fused_argument is None else self._fused_argument
    return self._path.fused

  @fused.setter
  def fused(self, value):
    if self._path is None:
      self._fused_argument = value
    else:
      self._path = self._path._replace(fused=value)

  def build(self, input_shape):
    """Validates the input shape, picks the path and creates the variables.

    Args:
      input_shape: `TensorShape` of the first input.

    Raises:
      TypeError: for a compute dtype that is not floating-point.
      ValueError: for an unknown rank, an axis out of range or repeated, an
        unknown size on a normalized axis, or a bad `virtual_batch_size`.
    """
    input_shape = tf.TensorShape(input_shape)
    rank = input_shape.rank
    axes = batch_layout.validate_axis(self._axis_argument, rank)
    if not tf.as_dtype(self._compute_dtype).is_floating:
      raise TypeError("BatchNormalization needs a floating-point input, got "
                      "%s." % self._compute_dtype)
    if self.virtual_batch_size is not None:
      batch_layout.validate_virtual_batch_size(
          self.virtual_batch_size, axes, self.adjustment)
    path = self._choose_path(rank, axes)
    sizes = batch_layout.normalized_sizes(axes, input_shape)
    self.input_spec = input_spec.InputSpec(ndim=rank, axes=sizes)
    layout = batch_layout.BatchLayout(axes, sizes, rank,
                                      self.virtual_batch_size)
    self._create_variables(layout.param_shape)
    self._moments = batch_statistics.moments_function(
        layout.reduction_axes, layout.keepdims, self.synchronized)
    self._path, self._layout = path, layout

  def _choose_path(self, rank, axes):
    path = fused_decision.decide(
        self._fused_argument, rank, axes, self.renorm, self.virtual_batch_size,
        self.adjustment, self._compute_dtype, synchronized=self.synchronized)
    if path.reason is not None and self._fused_argument:
      logging.getLogger("tf_bn_compat").warning(
          "Layer %s: fused=True cannot be used (%s); using the composite "
          "implementation, as TF1 does.", self.name, path.reason)
    return path

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

  def _moving_statistics(self):
    """The `MovingStatistics` of the layer's variables and arguments."""
    renorm = None
    if self.renorm:
      renorm = moving_statistics.RenormAverages(
          self.moving_stddev, self.renorm_mean, self.renorm_stddev,
          self.renorm_momentum)
    return moving_statistics.MovingStatistics(
        self.moving_mean, self.moving_variance, self.momentum, self.epsilon,
        self.add_update, renorm=renorm)

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
      mask = self._layout.expand_mask(mask, inputs)
    inputs, mask, restore_shape = self._layout.split(inputs, mask, training)
    if self._path.fused and mask is None:
      outputs = self._fused_call(inputs, training, call_inputs)
    else:
      outputs = self._composite_call(inputs, training, call_inputs, mask)
    return self._layout.merge(outputs, restore_shape)

  def _fused_call(self, inputs, training, call_inputs):
    outputs, mean, variance = normalize.fused(
        inputs, self.gamma, self.beta, self.moving_mean, self.moving_variance,
        self.epsilon, self._path.data_format, training)
    self._moving_statistics().add_fused_updates(mean, variance, training,
                                                call_inputs)
    return outputs

  def _composite_call(self, inputs, training, call_inputs, mask=None):
    x = normalize.computation_input(inputs)
    broadcast = self._layout.broadcast
    scale, offset = broadcast(self.gamma), broadcast(self.beta)
    if training_flag.static_value(training) is False:
      mean, variance = self.moving_mean, self.moving_variance
    else:
      moving = self._moving_statistics()
      if self.adjustment is not None:
        scale, offset = self._apply_adjustment(x, training, scale, offset)
      mean, variance, targets = self._statistics(x, training, mask, moving)
      if self.renorm:
        correction, targets = self._renorm_correction(targets, training,
                                                      moving)
        scale, offset = normalize.compose(*correction, scale, offset)
      moving.add_updates(*targets, training, call_inputs)
    return normalize.composite(x, mean, variance, offset, scale, self.epsilon,
                               broadcast, inputs.dtype)

  def _statistics(self, inputs, training, mask, moving):
    """The statistics to normalize with and to move the moving ones towards.

    Returns:
      Tuple (mean, variance, targets): the batch's statistics (the moving
      ones when `training` is a False tensor), and the (mean, variance) for
      the moving statistics' updates.
    """
    batch = self._moments(tf.cast(inputs, self._param_dtype), mask)
    mean = training_flag.smart_cond(
        training, lambda: batch.mean,
        lambda: tf.convert_to_tensor(self.moving_mean))
    variance = training_flag.smart_cond(
        training, lambda: batch.variance,
        lambda: tf.convert_to_tensor(self.moving_variance))
    targets = (self._layout.ghost_average(mean),
               self._layout.ghost_average(variance))
    if mask is not None:
      targets = moving.observed(*targets, batch.count)
    return mean, variance, targets

  def _renorm_correction(self, targets, training, moving):
    """Renorm's (r, d), shaped to broadcast; moves the renorm averages.

    Returns:
      Tuple (correction, targets), the targets now following the renorm
      averages' updates.
    """
    mean, variance = targets
    renorm = renorm_lib.correction(
        mean, variance, self.renorm_mean, self.renorm_stddev, self.epsilon,
        self.renorm_clipping, training)
    targets = moving.move_renorm_averages(renorm.mean, renorm.stddev,
                                          variance, training)
    broadcast = self._layout.broadcast
    correction = (broadcast(tf.stop_gradient(renorm.r, name="renorm_r")),
                  broadcast(tf.stop_gradient(renorm.d, name="renorm_d")))
    return correction, targets

  def _apply_adjustment(self, inputs, training, scale, offset):
    adj_scale, adj_bias = self.adjustment(tf.shape(inputs))
    adj_scale = training_flag.smart_cond(
        training, lambda: adj_scale, lambda: tf.ones_like(adj_scale))
    adj_bias = training_flag.smart_cond(
        training, lambda: adj_bias, lambda: tf.zeros_like(adj_bias))
    return normalize.compose(adj_scale, adj_bias, scale, offset)

  def compute_output_shape(self, input_shape):
    return tf.TensorShape(input_shape)

  def get_config(self):
    """Returns the constructor arguments as a dict (see `from_config`)."""
    config = super().get_config()
    config.update({
        "axis": (self._axis_argument if self._layout is None else
                 self._layout.input_axes),
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

