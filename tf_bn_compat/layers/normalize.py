"""The normalization step of batch normalization: fused kernel or composite.

Both compute

    y = scale * (x - mean) / sqrt(variance + epsilon) + offset

per normalized index. The fused kernel also computes the batch statistics
in training (its variance unbiased, for the moving average); the composite
path takes them as values, with every correction of the affine map (renorm's
r and d, `adjustment`) folded into `scale` and `offset` by `compose`.
"""

import tensorflow as tf

from tf_bn_compat.layers import training_flag
from tf_bn_compat.ops import fused as fused_ops

_HALF_DTYPES = (tf.float16, tf.bfloat16)


def fused(inputs, scale, offset, mean, variance, epsilon, data_format,
          training):
  """Normalizes `inputs` with the fused kernel.

  Args:
    inputs: 4-D or 5-D input tensor.
    scale: The `gamma` variable, or None for ones.
    offset: The `beta` variable, or None for zeros.
    mean: The `moving_mean` variable (used out of training).
    variance: The `moving_variance` variable (used out of training).
    epsilon: Small float added to the variance.
    data_format: "NHWC", "NCHW", "NDHWC" or "NCDHW".
    training: Python bool or bool tensor.

  Returns:
    Tuple (outputs, batch_mean, batch_variance); in training the batch
    variance is the unbiased one the kernel reports.
  """
  param_dtype = mean.dtype.base_dtype
  if scale is None:
    scale = tf.constant(1.0, param_dtype, mean.shape.as_list())
  if offset is None:
    offset = tf.constant(0.0, param_dtype, mean.shape.as_list())

  def run(is_training):
    return fused_ops.fused_batch_norm(
        inputs, scale, offset, mean=mean, variance=variance, epsilon=epsilon,
        data_format=data_format, is_training=is_training)

  return training_flag.smart_cond(
      training, lambda: run(True), lambda: run(False))


def computation_input(inputs):
  """Returns `inputs` in the dtype the composite path computes in.

  Half-precision inputs are normalized in float32.
  """
  if inputs.dtype.base_dtype in _HALF_DTYPES:
    return tf.cast(inputs, tf.float32)
  return inputs


def composite(inputs, mean, variance, offset, scale, epsilon, broadcast,
              dtype):
  """Normalizes `inputs` with the given statistics and affine map.

  Args:
    inputs: The input, from `computation_input`.
    mean: The mean, per normalized index.
    variance: The variance, per normalized index.
    offset: The offset of the affine map, or None.
    scale: The scale of the affine map, or None.
    epsilon: Small float added to the variance.
    broadcast: Function reshaping a statistic to broadcast to `inputs`.
    dtype: The dtype of the outputs (the layer's input dtype).

  Returns:
    The normalized tensor, shaped as `inputs`.
  """
  mean = broadcast(tf.cast(mean, inputs.dtype))
  variance = broadcast(tf.cast(variance, inputs.dtype))
  if offset is not None:
    offset = tf.cast(offset, inputs.dtype)
  if scale is not None:
    scale = tf.cast(scale, inputs.dtype)
  outputs = tf.nn.batch_normalization(inputs, mean, variance, offset, scale,
                                      epsilon)
  if tf.as_dtype(dtype).base_dtype in _HALF_DTYPES:
    outputs = tf.cast(outputs, dtype)
  outputs.set_shape(inputs.shape)
  return outputs


def compose(scale, offset, then_scale, then_offset):
  """Returns the affine map `then(x * scale + offset)` as (scale, offset).

  Args:
    scale, offset: The inner map (tensors).
    then_scale, then_offset: The outer map; None for 1 and 0.
  """
  if then_scale is not None:
    scale *= then_scale
    offset *= then_scale
  if then_offset is not None:
    offset += then_offset
  return scale, offset
