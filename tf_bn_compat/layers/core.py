"""TF1's core layers: `Dense`, `Dropout`, `Flatten` and their functions."""

import numbers

import numpy as np
import tensorflow as tf

from tf_bn_compat.layers import arguments
from tf_bn_compat.layers import base
from tf_bn_compat.layers import conv_utils
from tf_bn_compat.layers import execution_mode
from tf_bn_compat.layers import functional
from tf_bn_compat.layers import training_flag
from tf_bn_compat.layers.input_spec import InputSpec


def _last_dimension(input_shape):
  """The last dimension of a Dense layer's input, which must be known."""
  last_dim = input_shape[-1] if input_shape.rank else None
  if last_dim is None:
    raise ValueError("The last dimension of the inputs to a Dense layer "
                     "should be defined. Found None. Full input shape "
                     "received: %s" % (input_shape,))
  return last_dim


class Dense(base.Layer):
  """Densely-connected layer: `outputs = activation(inputs @ kernel + bias)`.

  Inputs of rank above 2 are contracted on their last axis
  (`tensordot(inputs, kernel, [[rank - 1], [0]])`).

  Args:
    units: Integer or Long, dimensionality of the output space.
    activation: Activation function (callable or name such as "relu"). None
      keeps the output linear.
    use_bias: Boolean, whether the layer uses a bias.
    kernel_initializer: Initializer for the weight matrix. If None (default),
      the variable scope's initializer, else `tf.compat.v1.get_variable`'s
      default (glorot_uniform).
    bias_initializer: Initializer for the bias.
    kernel_regularizer: Regularizer function for the weight matrix.
    bias_regularizer: Regularizer function for the bias.
    activity_regularizer: Regularizer function for the output; its value
      divided by the batch size is added to the losses.
    kernel_constraint: Optional projection applied to the kernel by
      optimizers after each update.
    bias_constraint: Optional projection applied to the bias by optimizers.
    trainable: Boolean, if True also add the variables to the graph
      collection `GraphKeys.TRAINABLE_VARIABLES`.
    name: String, the name of the layer (and of its variable scope).
    **kwargs: `dtype`, and `_scope`/`_reuse` used by `dense`.

  Raises:
    ValueError: if `units` is negative.
  """

  def __init__(self,
               units,
               activation=None,
               use_bias=True,
               kernel_initializer=None,
               bias_initializer=tf.compat.v1.zeros_initializer(),
               kernel_regularizer=None,
               bias_regularizer=None,
               activity_regularizer=None,
               kernel_constraint=None,
               bias_constraint=None,
               trainable=True,
               name=None,
               **kwargs):
    super().__init__(trainable=trainable, name=name,
                     activity_regularizer=activity_regularizer, **kwargs)
    self.units = units if isinstance(units, int) else int(units)
    if self.units < 0:
      raise ValueError("Received an invalid value for `units`, expected a "
                       "positive integer. Received: units=%s" % (units,))
    self.activation = arguments.get_activation(activation)
    self.use_bias = use_bias
    arguments.set_weight_arguments(
        self, kernel_initializer=kernel_initializer,
        bias_initializer=bias_initializer,
        kernel_regularizer=kernel_regularizer,
        bias_regularizer=bias_regularizer,
        kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
    self.input_spec = InputSpec(min_ndim=2)
    self.kernel = None
    self.bias = None

  def build(self, input_shape):
    """Creates `kernel` [input_dim, units] and `bias` [units].

    Raises:
      TypeError: if the layer's dtype is not floating-point or complex.
      ValueError: if the last dimension of the input is unknown.
    """
    input_shape = tf.TensorShape(input_shape)
    dtype = tf.as_dtype(self.dtype or tf.float32)
    if not (dtype.is_floating or dtype.is_complex):
      raise TypeError("A Dense layer can only be built with a floating-point "
                      "dtype. Received: dtype=%s" % (dtype,))
    last_dim = _last_dimension(input_shape)
    self.input_spec = InputSpec(min_ndim=2, axes={-1: last_dim})
    self.kernel = self.add_weight(
        "kernel", shape=[last_dim, self.units],
        initializer=self.kernel_initializer,
        regularizer=self.kernel_regularizer,
        constraint=self.kernel_constraint, dtype=self.dtype, trainable=True)
    if self.use_bias:
      self.bias = self.add_weight(
          "bias", shape=[self.units], initializer=self.bias_initializer,
          regularizer=self.bias_regularizer, constraint=self.bias_constraint,
          dtype=self.dtype, trainable=True)
    self.built = True

  def call(self, inputs):
    if inputs.dtype.base_dtype != self._compute_dtype:
      inputs = tf.cast(inputs, self._compute_dtype)
    kernel = self._read(self.kernel)
    rank = inputs.shape.rank
    if rank is None or rank == 2:
      outputs = tf.matmul(inputs, kernel)
    else:
      outputs = tf.tensordot(inputs, kernel, [[rank - 1], [0]])
      outputs.set_shape(inputs.shape[:-1].concatenate([self.units]))
    if self.use_bias:
      outputs = tf.nn.bias_add(outputs, self._read(self.bias))
    if self.activation is not None:
      return self.activation(outputs)
    return outputs

  def compute_output_shape(self, input_shape):
    """[..., units] for an input [..., input_dim].

    Raises:
      ValueError: if the input has rank < 2 or an unknown last dimension.
    """
    input_shape = tf.TensorShape(input_shape).with_rank_at_least(2)
    _last_dimension(input_shape)
    return input_shape[:-1].concatenate([self.units])

  def get_config(self):
    config = super().get_config()
    config.update(
        units=self.units,
        activation=arguments.serialize_activation(self.activation),
        use_bias=self.use_bias,
        kernel_initializer=arguments.serialize(self.kernel_initializer),
        bias_initializer=arguments.serialize(self.bias_initializer),
        kernel_regularizer=self.kernel_regularizer,
        bias_regularizer=self.bias_regularizer,
        activity_regularizer=self.activity_regularizer,
        kernel_constraint=self.kernel_constraint,
        bias_constraint=self.bias_constraint)
    return config


class Dropout(base.Layer):
  """Randomly sets a fraction `rate` of the inputs to 0 in training.

  Kept units are scaled by `1 / (1 - rate)`, so that their expected sum is
  unchanged; in inference the input passes through untouched.

  Args:
    rate: The dropout rate, between 0 and 1. E.g. `rate=0.1` would drop out
      10% of input units.
    noise_shape: 1D tensor of type `int32` representing the shape of the
      binary dropout mask that will be multiplied with the input; None
      entries take the input's size (e.g. `[batch_size, 1, features]` to
      share the mask over time steps).
    seed: A Python integer, the op-level seed of the mask (see
      `tf.compat.v1.set_random_seed`). In a TF1 graph the same seed is used
      at every call. Executing eagerly or inside `tf.function`, as TF1's
      layers do there, the n-th call (trace) of the layer uses `seed + n`,
      so that after `tf.random.set_seed` the masks are reproducible and
      successive calls draw different ones.
    name: The name of the layer (string).
    **kwargs: `dtype`.

  Raises:
    ValueError: if `rate` is a number outside [0, 1].
  """

  def __init__(self, rate=0.5, noise_shape=None, seed=None, name=None,
               **kwargs):
    if isinstance(rate, (int, float)) and not 0 <= rate <= 1:
      raise ValueError("Invalid value %s received for `rate`, expected a "
                       "value between 0 and 1." % (rate,))
    super().__init__(name=name, **kwargs)
    self.rate = rate
    self.noise_shape = noise_shape
    self.seed = seed
    self._eager_calls = 0

  def _call_seed(self):
    """The op seed of a dropping call (see the `seed` argument)."""
    if self.seed is None or (
        execution_mode.current() == execution_mode.GRAPH):
      return self.seed
    self._eager_calls += 1
    return self.seed + self._eager_calls - 1

  def _noise_shape(self, inputs):
    if self.noise_shape is None or isinstance(self.noise_shape, tf.Tensor):
      return self.noise_shape
    dynamic = tf.shape(inputs)
    return [dynamic[axis] if size is None else size
            for axis, size in enumerate(self.noise_shape)]

  def call(self, inputs, training=False):
    """Applies dropout when training.

    Args:
      inputs: Input tensor.
      training: Either a Python boolean, or a TensorFlow boolean scalar tensor
        (e.g. a placeholder). Whether to return the output in training mode
        (apply dropout) or in inference mode (return the input untouched).

    Returns:
      A tensor of the input's shape and dtype.
    """
    training = training_flag.normalize(training)
    if isinstance(self.rate, numbers.Real) and self.rate == 0:
      return tf.identity(inputs)

    def dropped():
      return tf.nn.dropout(inputs, rate=self.rate,
                           noise_shape=self._noise_shape(inputs),
                           seed=self._call_seed())

    return training_flag.smart_cond(training, dropped,
                                    lambda: tf.identity(inputs))

  def compute_output_shape(self, input_shape):
    return tf.TensorShape(input_shape)

  def get_config(self):
    config = super().get_config()
    config.update(rate=self.rate, noise_shape=self.noise_shape,
                  seed=self.seed)
    return config


class Flatten(base.Layer):
  """Flattens an input to [batch, features] (rank 1 becomes [batch, 1]).

  Args:
    data_format: A string, one of `channels_last` (default) or
      `channels_first`. With `channels_first` the channels are moved last
      before flattening, so that the feature order is that of channels-last
      inputs.
    name: String, the name of the layer.
    **kwargs: `name` and `dtype`.
  """

  def __init__(self, data_format=None, **kwargs):
    super().__init__(**kwargs)
    self.data_format = conv_utils.normalize_data_format(data_format)
    self.input_spec = InputSpec(min_ndim=1)

  def call(self, inputs):
    rank = inputs.shape.rank
    if self.data_format == "channels_first" and rank is not None and rank > 1:
      inputs = tf.transpose(inputs, [0] + list(range(2, rank)) + [1])
    if rank == 1:
      return tf.expand_dims(inputs, 1)
    shape = inputs.shape
    batch = shape[0] if rank is not None else None
    if rank is not None and shape[1:].is_fully_defined():
      target = [-1, int(np.prod(shape[1:].as_list()))]
    elif batch is not None:
      target = [batch, -1]
    else:
      target = [tf.shape(inputs)[0], -1]
    outputs = tf.reshape(inputs, target)
    if rank is not None:
      outputs.set_shape(self.compute_output_shape(shape))
    return outputs

  def compute_output_shape(self, input_shape):
    """[batch, product of the other dimensions] (None if any is 0 or None).

    A scalar is one example of one feature, [1, 1], as in TF1.

    Raises:
      ValueError: if the rank of the input is unknown.
    """
    dims = tf.TensorShape(input_shape).as_list()
    batch, rest = (dims[0], dims[1:]) if dims else (1, [])
    features = int(np.prod(rest)) if all(rest) else None
    return tf.TensorShape([batch, features])

  def get_config(self):
    config = super().get_config()
    config.update(data_format=self.data_format)
    return config


_WEIGHT_PARAMETERS = functional.constructor_parameters(Dense)

dense = functional.make_functional(
    Dense, "dense", _WEIGHT_PARAMETERS + ["reuse"],
    "Functional interface for the densely-connected layer: "
    "`outputs = activation(inputs @ kernel + bias)`.")

dropout = functional.make_functional(
    Dropout, "dropout", ["rate", "noise_shape", "seed", "training", "name"],
    "Functional interface for the dropout layer (applied when `training`).",
    call_arguments=("training",), scoped=False)

flatten = functional.make_functional(
    Flatten, "flatten", ["name", "data_format"],
    "Flattens an input tensor while preserving the batch axis (axis 0).",
    defaults={"data_format": "channels_last"}, scoped=False)

FullyConnected = Dense
fully_connected = dense
