"""Python wrappers and gradients of the package's own compiled ops.

The layers no longer build these ops (they build TensorFlow's, run by our
kernels); they stay registered so that graphs built by earlier versions
load, train and export here.

`TfBnCompat>FusedBatchNorm` has the semantics of `FusedBatchNormV3`;
its gradient is `TfBnCompat>FusedBatchNormGrad` (as `FusedBatchNormGradV3`),
whose own gradient (second order, e.g. for gradient penalties) is written with
composite TensorFlow ops.
"""

import tensorflow as tf

from tf_bn_compat.ops import _library

_CHANNELS_FIRST = ("NCHW", "NCDHW")


def _ops():
  module = _library.load_library()
  if module is None:
    raise RuntimeError("tf_bn_compat: the compiled op library is unavailable: "
                       "%s" % _library.load_error())
  return module


def custom_fused_batch_norm(x,
                            scale,
                            offset,
                            mean=None,
                            variance=None,
                            epsilon=0.001,
                            data_format="NHWC",
                            is_training=True,
                            exponential_avg_factor=1.0,
                            name=None):
  """`tf.compat.v1.nn.fused_batch_norm` on the compiled op.

  Args:
    x: 4-D (5-D for "NDHWC"/"NCDHW") float16, bfloat16 or float32 tensor.
    scale: 1-D float32 tensor of size C.
    offset: 1-D float32 tensor of size C.
    mean: 1-D float32 tensor of size C, or None (training with factor 1).
    variance: As `mean`.
    epsilon: Added to the variance (passed through unchanged, as TF 2.21's
      `tf.compat.v1.nn.fused_batch_norm` does); a negative or non-finite one
      is an error.
    data_format: "NHWC", "NCHW", "NDHWC" or "NCDHW".
    is_training: Python bool.
    exponential_avg_factor: Python float; see the op's documentation.
    name: Op name.

  Returns:
    (y, batch_mean, batch_variance).
  """
  with tf.name_scope(name or "FusedBatchNorm"):
    # As TensorFlow's wrapper: no dtype is imposed (a float64 scale is the
    # op's TypeError, as TF's), missing statistics are empty float32.
    x = tf.convert_to_tensor(x, name="input")
    scale = tf.convert_to_tensor(scale, name="scale")
    offset = tf.convert_to_tensor(offset, name="offset")
    if mean is None:
      mean = tf.constant([])
    if variance is None:
      variance = tf.constant([])
    y, batch_mean, batch_var, _, _ = _ops().tf_bn_compat_fused_batch_norm(
        x, scale, offset, mean, variance, epsilon=epsilon,
        exponential_avg_factor=float(exponential_avg_factor),
        data_format=data_format, is_training=bool(is_training))
    return y, batch_mean, batch_var


@tf.RegisterGradient("TfBnCompat>FusedBatchNorm")
def _fused_batch_norm_grad(op, dy, *unused_output_grads):
  """Gradient wrt x, scale, offset (None for mean / variance, as TF)."""
  is_training = op.get_attr("is_training")
  if is_training:
    mean, inv_std_or_var = op.outputs[3], op.outputs[4]
  else:
    mean, inv_std_or_var = op.inputs[3], op.inputs[4]
  dx, dscale, doffset = _ops().tf_bn_compat_fused_batch_norm_grad(
      dy, op.inputs[0], op.inputs[1], mean, inv_std_or_var,
      epsilon=op.get_attr("epsilon"),
      data_format=op.get_attr("data_format").decode(),
      is_training=is_training)
  return dx, dscale, doffset, None, None


def _layout(data_format, rank):
  """(reduction axes, broadcast shape of a [C] vector) for a data_format."""
  if data_format in _CHANNELS_FIRST:
    return [0] + list(range(2, rank)), [1, -1] + [1] * (rank - 2)
  return list(range(rank - 1)), [-1]


def _composite_batch_norm_grad(dy, x, scale, mean, inv_std_or_var, epsilon,
                               data_format, is_training):
  """FusedBatchNormGrad with differentiable ops, in float32.

  In training the statistics are recomputed from x (so their dependence on x
  is differentiated); in inference mean / variance are constants.
  """
  axes, vec_shape = _layout(data_format, x.shape.rank)
  dy = tf.cast(dy, tf.float32)
  x = tf.cast(x, tf.float32)
  scale_b = tf.reshape(scale, vec_shape)
  if is_training:
    mean_b = tf.reduce_mean(x, axes, keepdims=True)
    xc = x - mean_b
    inv_std = tf.math.rsqrt(tf.reduce_mean(tf.square(xc), axes, keepdims=True)
                            + epsilon)
    xhat = xc * inv_std
    dy_mean = tf.reduce_mean(dy, axes, keepdims=True)
    dy_xhat_mean = tf.reduce_mean(dy * xhat, axes, keepdims=True)
    dx = scale_b * inv_std * (dy - dy_mean - xhat * dy_xhat_mean)
  else:
    inv_std = tf.reshape(tf.math.rsqrt(inv_std_or_var + epsilon), vec_shape)
    xhat = (x - tf.reshape(mean, vec_shape)) * inv_std
    dx = dy * scale_b * inv_std
  dscale = tf.reduce_sum(dy * xhat, axes)
  doffset = tf.reduce_sum(dy, axes)
  return dx, dscale, doffset


@tf.RegisterGradient("TfBnCompat>FusedBatchNormGrad")
def _fused_batch_norm_grad_grad(op, ddx, ddscale, ddoffset):
  """Second order: differentiates the composite form of the gradient."""
  dy, x, scale, mean, inv_std_or_var = op.inputs
  args = dict(epsilon=op.get_attr("epsilon"),
              data_format=op.get_attr("data_format").decode(),
              is_training=op.get_attr("is_training"))
  with tf.GradientTape() as tape:
    tape.watch([dy, x, scale])
    outputs = _composite_batch_norm_grad(dy, x, scale, mean, inv_std_or_var,
                                         **args)
  upstream = [tf.cast(ddx, tf.float32) if ddx is not None else None,
              ddscale, ddoffset]
  grads = tape.gradient(list(outputs), [dy, x, scale],
                        output_gradients=upstream)
  # Missing paths mean zero gradients.
  grads = [tf.zeros_like(t) if g is None else g
           for g, t in zip(grads, [dy, x, scale])]
  ddy, dx2, dscale2 = grads
  return (tf.cast(ddy, dy.dtype), tf.cast(dx2, x.dtype), dscale2, None, None)
