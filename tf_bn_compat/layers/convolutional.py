"""TF1's convolution layers, one base parameterized by the spatial rank.

`Conv1D`/`Conv2D`/`Conv3D` run `tf.nn.convolution`; `SeparableConv1D`/`2D`
run `tf.compat.v1.nn.separable_conv2d` (1-D as 2-D with a height of 1);
`Conv2DTranspose`/`Conv3DTranspose` run `tf.nn.conv_transpose`. Variables
are `kernel` (or `depthwise_kernel` and `pointwise_kernel`) and `bias`, as
in TF1, in the layer's variable scope.
"""

import numbers

import tensorflow as tf

from tf_bn_compat.layers import arguments
from tf_bn_compat.layers import base
from tf_bn_compat.layers import conv_utils
from tf_bn_compat.layers import functional
from tf_bn_compat.layers.input_spec import InputSpec


class _Conv(base.Layer):
  """Base of the N-D convolution layers, N = the class's `rank`.

  `outputs = activation(conv(inputs, kernel) + bias)`.

  Args:
    filters: Integer, the dimensionality of the output space (i.e. the number
      of filters in the convolution).
    kernel_size: An integer or tuple/list of N integers, the size of the
      convolution window.
    strides: An integer or tuple/list of N integers, the strides of the
      convolution. Strides above 1 cannot be combined with a `dilation_rate`
      above 1.
    padding: One of `"valid"` or `"same"` (case-insensitive); `"causal"` for
      the 1-D layers (left padding, output[t] sees inputs up to t).
    data_format: A string, one of `channels_last` (default) or
      `channels_first`, the ordering of the dimensions in the inputs
      (`(batch, ..., channels)` or `(batch, channels, ...)`).
    dilation_rate: An integer or tuple/list of N integers, the dilation rate
      of the convolution.
    activation: Activation function (callable or name). None keeps the
      output linear.
    use_bias: Boolean, whether the layer uses a bias.
    kernel_initializer: Initializer for the kernel. If None (default), the
      variable scope's initializer, else `tf.compat.v1.get_variable`'s
      default (glorot_uniform).
    bias_initializer: Initializer for the bias vector.
    kernel_regularizer: Optional regularizer for the convolution kernel.
    bias_regularizer: Optional regularizer for the bias vector.
    activity_regularizer: Optional regularizer function for the output; its
      value divided by the batch size is added to the losses.
    kernel_constraint: Optional projection function to be applied to the
      kernel after being updated by an `Optimizer`.
    bias_constraint: Optional projection function to be applied to the bias
      after being updated by an `Optimizer`.
    trainable: Boolean, if `True` also add variables to the graph collection
      `GraphKeys.TRAINABLE_VARIABLES`.
    name: A string, the name of the layer (and of its variable scope).
    **kwargs: `dtype`, and `_scope`/`_reuse` used by the functional forms.

  Raises:
    ValueError: for a non-positive `filters`, a malformed `kernel_size`,
      `strides` or `dilation_rate`, an unknown `padding` or `data_format`,
      or strides and dilation both above 1.
  """

  rank = None
  _causal_allowed = False

  def __init__(self,
               filters,
               kernel_size,
               strides=1,
               padding="valid",
               data_format="channels_last",
               dilation_rate=1,
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
    rank = self.rank
    if isinstance(filters, float):
      filters = int(filters)
    if filters is not None and filters <= 0:
      raise ValueError("Invalid value for argument `filters`. Expected a "
                       "strictly positive value. Received filters=%s." %
                       (filters,))
    self.filters = filters
    self.kernel_size = conv_utils.normalize_tuple(kernel_size, rank,
                                                  "kernel_size")
    self.strides = conv_utils.normalize_tuple(strides, rank, "strides",
                                              allow_zero=True)
    if not all(self.strides):
      raise ValueError("The argument `strides` cannot contains 0(s). "
                       "Received: %s" % (self.strides,))
    self.padding = conv_utils.normalize_padding(padding)
    if self.padding == "causal" and not self._causal_allowed:
      raise ValueError("Causal padding is only supported for `Conv1D`and "
                       "`SeparableConv1D`.")
    self.data_format = conv_utils.normalize_data_format(data_format)
    self.dilation_rate = conv_utils.normalize_tuple(dilation_rate, rank,
                                                    "dilation_rate")
    if max(self.strides) > 1 and max(self.dilation_rate) > 1:
      raise ValueError(
          "`strides > 1` not supported in conjunction with `dilation_rate > "
          "1`. Received: strides=%s and dilation_rate=%s" % (
              self.strides, self.dilation_rate))
    self.activation = arguments.get_activation(activation)
    self.use_bias = use_bias
    arguments.set_weight_arguments(
        self, kernel_initializer=kernel_initializer,
        bias_initializer=bias_initializer,
        kernel_regularizer=kernel_regularizer,
        bias_regularizer=bias_regularizer,
        kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
    self.input_spec = InputSpec(ndim=rank + 2)
    self.bias = None

  @property
  def _tf_data_format(self):
    return conv_utils.tf_data_format(self.data_format, self.rank)

  def build(self, input_shape):
    """Creates the kernel(s) and the bias for inputs of `input_shape`.

    Raises:
      ValueError: if the channel dimension of the input is unknown.
    """
    input_dim = conv_utils.channel_dim(input_shape, self.data_format,
                                       self.rank, type(self).__name__)
    self._create_kernels(input_dim)
    if self.use_bias:
      self.bias = self.add_weight(
          "bias", shape=(self.filters,), initializer=self.bias_initializer,
          regularizer=self.bias_regularizer, constraint=self.bias_constraint,
          trainable=True, dtype=self.dtype)
    axis = conv_utils.channel_axis(self.data_format, self.rank)
    self.input_spec = InputSpec(ndim=self.rank + 2, axes={axis: input_dim})
    self.built = True

  def _create_kernels(self, input_dim):
    self.kernel = self.add_weight(
        "kernel", shape=self.kernel_size + (input_dim, self.filters),
        initializer=self.kernel_initializer,
        regularizer=self.kernel_regularizer,
        constraint=self.kernel_constraint, trainable=True, dtype=self.dtype)

  def _causal_padding(self, inputs):
    """Pads the time axis on the left so that outputs see no future input."""
    left = self.dilation_rate[0] * (self.kernel_size[0] - 1)
    paddings = [[0, 0], [0, 0], [0, 0]]
    paddings[conv_utils.spatial_axes(self.data_format, 1)[0]] = [left, 0]
    return tf.pad(inputs, paddings)

  def _op_padding(self):
    return "VALID" if self.padding == "causal" else self.padding.upper()

  def _convolve(self, inputs):
    return tf.nn.convolution(
        inputs, self._read(self.kernel), strides=list(self.strides),
        padding=self._op_padding(), dilations=list(self.dilation_rate),
        data_format=self._tf_data_format, name=type(self).__name__)

  def call(self, inputs):
    input_shape = inputs.shape
    if self.padding == "causal":
      inputs = self._causal_padding(inputs)
    outputs = self._convolve(inputs)
    if self.use_bias:
      bias = self._read(self.bias)
      if self.rank == 1 and self.data_format == "channels_first":
        outputs += tf.reshape(bias, (1, self.filters, 1))
      else:
        outputs = tf.nn.bias_add(outputs, bias,
                                 data_format=self._tf_data_format)
    if input_shape.rank is not None:
      outputs.set_shape(self.compute_output_shape(input_shape))
    if self.activation is not None:
      return self.activation(outputs)
    return outputs

  def _output_length(self, length, axis):
    return conv_utils.conv_output_length(
        length, self.kernel_size[axis], self.padding, self.strides[axis],
        self.dilation_rate[axis])

  def compute_output_shape(self, input_shape):
    shape = conv_utils.input_dims(input_shape, self.rank)
    for i, axis in enumerate(conv_utils.spatial_axes(self.data_format,
                                                     self.rank)):
      shape[axis] = self._output_length(shape[axis], i)
    shape[conv_utils.channel_axis(self.data_format, self.rank)] = self.filters
    return tf.TensorShape(shape)

  def get_config(self):
    config = super().get_config()
    config.update(
        filters=self.filters, kernel_size=self.kernel_size,
        strides=self.strides, padding=self.padding,
        data_format=self.data_format,
        activation=arguments.serialize_activation(self.activation),
        use_bias=self.use_bias,
        bias_initializer=arguments.serialize(self.bias_initializer),
        bias_regularizer=self.bias_regularizer,
        activity_regularizer=self.activity_regularizer,
        bias_constraint=self.bias_constraint)
    config.update(self._kernel_config())
    return config

  def _kernel_config(self):
    return dict(
        dilation_rate=self.dilation_rate,
        kernel_initializer=arguments.serialize(self.kernel_initializer),
        kernel_regularizer=self.kernel_regularizer,
        kernel_constraint=self.kernel_constraint)


class _SeparableConv(_Conv):
  """Base of the depthwise-separable convolutions (N = 1 or 2).

  A depthwise convolution (`depth_multiplier` filters per input channel)
  followed by a 1x1 pointwise convolution to `filters` channels.

  Args:
    depth_multiplier: The number of depthwise convolution output channels for
      each input channel. The total number of depthwise convolution output
      channels will be equal to `num_filters_in * depth_multiplier`.
    depthwise_initializer: An initializer for the depthwise convolution
      kernel (None: as `kernel_initializer` of the other convolutions).
    pointwise_initializer: An initializer for the pointwise convolution
      kernel (None: as `kernel_initializer` of the other convolutions).
    depthwise_regularizer: Optional regularizer for the depthwise convolution
      kernel.
    pointwise_regularizer: Optional regularizer for the pointwise convolution
      kernel.
    depthwise_constraint: Optional projection function to be applied to the
      depthwise kernel after being updated by an `Optimizer`.
    pointwise_constraint: Optional projection function to be applied to the
      pointwise kernel after being updated by an `Optimizer`.
  """

  def __init__(self,
               filters,
               kernel_size,
               strides=1,
               padding="valid",
               data_format="channels_last",
               dilation_rate=1,
               depth_multiplier=1,
               activation=None,
               use_bias=True,
               depthwise_initializer=None,
               pointwise_initializer=None,
               bias_initializer=tf.compat.v1.zeros_initializer(),
               depthwise_regularizer=None,
               pointwise_regularizer=None,
               bias_regularizer=None,
               activity_regularizer=None,
               depthwise_constraint=None,
               pointwise_constraint=None,
               bias_constraint=None,
               trainable=True,
               name=None,
               **kwargs):
    super().__init__(
        filters, kernel_size, strides=strides, padding=padding,
        data_format=data_format, dilation_rate=dilation_rate,
        activation=activation, use_bias=use_bias,
        bias_initializer=bias_initializer, bias_regularizer=bias_regularizer,
        activity_regularizer=activity_regularizer,
        bias_constraint=bias_constraint, trainable=trainable, name=name,
        **kwargs)
    if not isinstance(depth_multiplier, numbers.Integral):
      raise TypeError("`depth_multiplier` must be an integer. Received: %r" %
                      (depth_multiplier,))
    self.depth_multiplier = depth_multiplier
    arguments.set_weight_arguments(
        self, depthwise_initializer=depthwise_initializer,
        pointwise_initializer=pointwise_initializer,
        depthwise_regularizer=depthwise_regularizer,
        pointwise_regularizer=pointwise_regularizer,
        depthwise_constraint=depthwise_constraint,
        pointwise_constraint=pointwise_constraint)

  def _create_kernels(self, input_dim):
    self.depthwise_kernel = self.add_weight(
        "depthwise_kernel",
        shape=self.kernel_size + (input_dim, self.depth_multiplier),
        initializer=self.depthwise_initializer,
        regularizer=self.depthwise_regularizer,
        constraint=self.depthwise_constraint, trainable=True,
        dtype=self.dtype)
    self.pointwise_kernel = self.add_weight(
        "pointwise_kernel",
        shape=(1,) * self.rank + (self.depth_multiplier * input_dim,
                                  self.filters),
        initializer=self.pointwise_initializer,
        regularizer=self.pointwise_regularizer,
        constraint=self.pointwise_constraint, trainable=True,
        dtype=self.dtype)

  def _convolve(self, inputs):
    depthwise = self._read(self.depthwise_kernel)
    pointwise = self._read(self.pointwise_kernel)
    strides, dilation = self.strides, self.dilation_rate
    squeeze_axis = None
    if self.rank == 1:  # As 2-D, with a spatial dimension of size 1 first.
      squeeze_axis = conv_utils.spatial_axes(self.data_format, 1)[0]
      inputs = tf.expand_dims(inputs, squeeze_axis)
      depthwise = tf.expand_dims(depthwise, 0)
      pointwise = tf.expand_dims(pointwise, 0)
      # TF's CPU depthwise kernel wants equal strides on both axes; on the
      # axis of size 1 the stride changes nothing.
      strides, dilation = strides * 2, (1,) + dilation
    if self.data_format == "channels_last":
      op_strides = (1,) + strides + (1,)
    else:
      op_strides = (1, 1) + strides
    outputs = tf.compat.v1.nn.separable_conv2d(
        inputs, depthwise, pointwise, strides=op_strides,
        padding=self._op_padding(), rate=dilation,
        data_format=conv_utils.tf_data_format(self.data_format, 2))
    if squeeze_axis is not None:
      outputs = tf.squeeze(outputs, [squeeze_axis])
    return outputs

  def _kernel_config(self):
    return dict(
        dilation_rate=self.dilation_rate,
        depth_multiplier=self.depth_multiplier,
        depthwise_initializer=arguments.serialize(self.depthwise_initializer),
        pointwise_initializer=arguments.serialize(self.pointwise_initializer),
        depthwise_regularizer=self.depthwise_regularizer,
        pointwise_regularizer=self.pointwise_regularizer,
        depthwise_constraint=self.depthwise_constraint,
        pointwise_constraint=self.pointwise_constraint)


class _ConvTranspose(_Conv):
  """Base of the transposed convolutions ("deconvolutions"), N = 2 or 3.

  The gradient of a convolution with respect to its input: each spatial
  dimension of size `n` becomes `n * stride` ("same") or
  `n * stride + max(kernel - stride, 0)` ("valid"). The kernel has shape
  `kernel_size + (filters, input_channels)`.
  """

  def __init__(self,
               filters,
               kernel_size,
               strides=1,
               padding="valid",
               data_format="channels_last",
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
    super().__init__(
        filters, kernel_size, strides=strides, padding=padding,
        data_format=data_format, activation=activation, use_bias=use_bias,
        kernel_initializer=kernel_initializer,
        bias_initializer=bias_initializer,
        kernel_regularizer=kernel_regularizer,
        bias_regularizer=bias_regularizer,
        activity_regularizer=activity_regularizer,
        kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
        trainable=trainable, name=name, **kwargs)

  def _create_kernels(self, input_dim):
    self.kernel = self.add_weight(
        "kernel", shape=self.kernel_size + (self.filters, input_dim),
        initializer=self.kernel_initializer,
        regularizer=self.kernel_regularizer,
        constraint=self.kernel_constraint, trainable=True, dtype=self.dtype)

  def _output_length(self, length, axis):
    return conv_utils.deconv_output_length(
        length, self.kernel_size[axis], self.padding, self.strides[axis])

  def _convolve(self, inputs):
    # TF's CPU kernels take channels-last only: transpose around them when
    # no GPU is present, as TF1's layers do.
    data_format = self.data_format
    if data_format == "channels_first" and not (
        conv_utils.gpu_layout_available()):
      inputs = conv_utils.to_channels_last(inputs, self.rank)
      data_format = "channels_last"
    static = inputs.shape.as_list()
    dynamic = tf.shape(inputs)
    axes = conv_utils.spatial_axes(data_format, self.rank)
    lengths = [self._output_length(
        static[axis] if static[axis] is not None else dynamic[axis], i)
               for i, axis in enumerate(axes)]
    if data_format == "channels_first":
      output_shape = [dynamic[0], self.filters] + lengths
    else:
      output_shape = [dynamic[0]] + lengths + [self.filters]
    outputs = tf.nn.conv_transpose(
        inputs, self._read(self.kernel), tf.stack(output_shape),
        strides=list(self.strides), padding=self.padding.upper(),
        data_format=conv_utils.tf_data_format(data_format, self.rank))
    if data_format != self.data_format:
      outputs = conv_utils.to_channels_first(outputs, self.rank)
    return outputs

  def _kernel_config(self):
    return dict(
        kernel_initializer=arguments.serialize(self.kernel_initializer),
        kernel_regularizer=self.kernel_regularizer,
        kernel_constraint=self.kernel_constraint)


class Conv1D(_Conv):
  """1D convolution layer (e.g. temporal convolution).

  Inputs `(batch, length, channels)` (or `(batch, channels, length)`);
  kernel `(kernel_size, channels, filters)`. Takes `padding="causal"`.
  """
  rank = 1
  _causal_allowed = True


class Conv2D(_Conv):
  """2D convolution layer (e.g. spatial convolution over images).

  Inputs `(batch, height, width, channels)` (or channels first); kernel
  `kernel_size + (channels, filters)`.
  """
  rank = 2


class Conv3D(_Conv):
  """3D convolution layer (e.g. spatial convolution over volumes).

  Inputs `(batch, depth, height, width, channels)` (or channels first);
  kernel `kernel_size + (channels, filters)`.
  """
  rank = 3


class SeparableConv1D(_SeparableConv):
  """Depthwise separable 1D convolution.

  `depthwise_kernel` `(kernel_size, channels, depth_multiplier)`,
  `pointwise_kernel` `(1, channels * depth_multiplier, filters)`. Takes
  `padding="causal"`.
  """
  rank = 1
  _causal_allowed = True


class SeparableConv2D(_SeparableConv):
  """Depthwise separable 2D convolution.

  `depthwise_kernel` `kernel_size + (channels, depth_multiplier)`,
  `pointwise_kernel` `(1, 1, channels * depth_multiplier, filters)`.
  """
  rank = 2


class Conv2DTranspose(_ConvTranspose):
  """Transposed 2D convolution layer (sometimes called 2D Deconvolution)."""
  rank = 2


class Conv3DTranspose(_ConvTranspose):
  """Transposed 3D convolution layer (sometimes called 3D Deconvolution)."""
  rank = 3


def _functional(layer_class, name, summary):
  return functional.make_functional(
      layer_class, name,
      functional.constructor_parameters(layer_class) + ["reuse"], summary)


conv1d = _functional(Conv1D, "conv1d",
                     "Functional interface for 1D convolution layer (e.g. "
                     "temporal convolution).")
conv2d = _functional(Conv2D, "conv2d",
                     "Functional interface for the 2D convolution layer.")
conv3d = _functional(Conv3D, "conv3d",
                     "Functional interface for the 3D convolution layer.")
separable_conv1d = _functional(
    SeparableConv1D, "separable_conv1d",
    "Functional interface for the depthwise separable 1D convolution layer.")
separable_conv2d = _functional(
    SeparableConv2D, "separable_conv2d",
    "Functional interface for the depthwise separable 2D convolution layer.")
conv2d_transpose = _functional(
    Conv2DTranspose, "conv2d_transpose",
    "Functional interface for transposed 2D convolution layer.")
conv3d_transpose = _functional(
    Conv3DTranspose, "conv3d_transpose",
    "Functional interface for transposed 3D convolution layer.")

# Aliases, as in TF1.
Convolution1D = Conv1D
Convolution2D = Conv2D
Convolution3D = Conv3D
SeparableConvolution2D = SeparableConv2D
Convolution2DTranspose = Deconvolution2D = Deconv2D = Conv2DTranspose
Convolution3DTranspose = Deconvolution3D = Deconv3D = Conv3DTranspose
convolution1d = conv1d
convolution2d = conv2d
convolution3d = conv3d
separable_convolution2d = separable_conv2d
convolution2d_transpose = deconvolution2d = deconv2d = conv2d_transpose
convolution3d_transpose = deconvolution3d = deconv3d = conv3d_transpose
