"""TF1's pooling layers: one base, parameterized by rank and pool function.

The windows run on TF's own ops (`tf.nn.max_pool` / `tf.nn.avg_pool`, N-D),
in the layout TF1's layers use: channels-first 2-D inputs are pooled as
NCHW; channels-first 1-D inputs are transposed to channels-last when no GPU
is present, 3-D ones always (TF's CPU kernels take channels-last only).
"""

import tensorflow as tf

from tf_bn_compat.layers import base
from tf_bn_compat.layers import conv_utils
from tf_bn_compat.layers import functional
from tf_bn_compat.layers.input_spec import InputSpec


class _Pooling(base.Layer):
  """Base of the N-D pooling layers, N = the class's `rank`.

  Args:
    pool_size: An integer or tuple/list of N integers, the size of the
      pooling window.
    strides: An integer or tuple/list of N integers, the strides of the
      pooling operation.
    padding: A string, the padding method, either 'valid' or 'same'.
      Case-insensitive.
    data_format: A string, one of `channels_last` (default) or
      `channels_first`, the ordering of the dimensions in the inputs.
    name: A string, the name of the layer.
    **kwargs: `dtype`.

  Raises:
    ValueError: for a malformed or missing `pool_size` or `strides`, or an
      unknown `padding` or `data_format`.
  """

  rank = None
  pool_function = None

  def __init__(self, pool_size, strides, padding="valid",
               data_format="channels_last", name=None, **kwargs):
    super().__init__(name=name, **kwargs)
    if strides is None:
      raise ValueError("Argument `strides` must not be None.")
    self.pool_size = conv_utils.normalize_tuple(pool_size, self.rank,
                                                "pool_size")
    self.strides = conv_utils.normalize_tuple(strides, self.rank, "strides",
                                              allow_zero=True)
    self.padding = conv_utils.normalize_padding(padding, ("valid", "same"))
    self.data_format = conv_utils.normalize_data_format(data_format)
    self.input_spec = InputSpec(ndim=self.rank + 2)

  def call(self, inputs):
    data_format = self.data_format
    if data_format == "channels_first" and (
        self.rank == 3 or
        self.rank == 1 and not conv_utils.gpu_layout_available()):
      inputs = conv_utils.to_channels_last(inputs, self.rank)
      data_format = "channels_last"
    outputs = type(self).pool_function(
        inputs, ksize=list(self.pool_size), strides=list(self.strides),
        padding=self.padding.upper(),
        data_format=conv_utils.tf_data_format(data_format, self.rank))
    if data_format != self.data_format:
      outputs = conv_utils.to_channels_first(outputs, self.rank)
    return outputs

  def compute_output_shape(self, input_shape):
    shape = conv_utils.input_dims(input_shape, self.rank)
    for i, axis in enumerate(conv_utils.spatial_axes(self.data_format,
                                                     self.rank)):
      shape[axis] = conv_utils.conv_output_length(
          shape[axis], self.pool_size[i], self.padding, self.strides[i])
    return tf.TensorShape(shape)

  def get_config(self):
    config = super().get_config()
    config.update(pool_size=self.pool_size, strides=self.strides,
                  padding=self.padding, data_format=self.data_format)
    return config


def _max_pool(inputs, **kwargs):
  return tf.nn.max_pool(inputs, **kwargs)


def _avg_pool(inputs, **kwargs):
  return tf.nn.avg_pool(inputs, **kwargs)


class AveragePooling1D(_Pooling):
  """Average Pooling layer for 1D inputs `(batch, length, channels)`."""
  rank = 1
  pool_function = _avg_pool


class MaxPooling1D(_Pooling):
  """Max Pooling layer for 1D inputs `(batch, length, channels)`."""
  rank = 1
  pool_function = _max_pool


class AveragePooling2D(_Pooling):
  """Average pooling layer for 2D inputs (e.g. images)."""
  rank = 2
  pool_function = _avg_pool


class MaxPooling2D(_Pooling):
  """Max pooling layer for 2D inputs (e.g. images)."""
  rank = 2
  pool_function = _max_pool


class AveragePooling3D(_Pooling):
  """Average pooling layer for 3D inputs (e.g. volumes)."""
  rank = 3
  pool_function = _avg_pool


class MaxPooling3D(_Pooling):
  """Max pooling layer for 3D inputs (e.g. volumes)."""
  rank = 3
  pool_function = _max_pool


def _functional(layer_class, name, summary):
  return functional.make_functional(
      layer_class, name, functional.constructor_parameters(layer_class),
      summary, scoped=False)


average_pooling1d = _functional(AveragePooling1D, "average_pooling1d",
                                "Average Pooling layer for 1D inputs.")
max_pooling1d = _functional(MaxPooling1D, "max_pooling1d",
                            "Max Pooling layer for 1D inputs.")
average_pooling2d = _functional(AveragePooling2D, "average_pooling2d",
                                "Average pooling layer for 2D inputs.")
max_pooling2d = _functional(MaxPooling2D, "max_pooling2d",
                            "Max pooling layer for 2D inputs.")
average_pooling3d = _functional(AveragePooling3D, "average_pooling3d",
                                "Average pooling layer for 3D inputs.")
max_pooling3d = _functional(MaxPooling3D, "max_pooling3d",
                            "Max pooling layer for 3D inputs.")

# Aliases, as in TF1.
AvgPool2D = AveragePooling2D
MaxPool2D = MaxPooling2D
max_pool2d = max_pooling2d
avg_pool2d = average_pooling2d
