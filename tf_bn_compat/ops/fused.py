"""`fused_batch_norm`: the contract of `tf.compat.v1.nn.fused_batch_norm`.

The graph always holds TensorFlow's `FusedBatchNormV3` (its gradient
`FusedBatchNormGradV3`), so it serves, is optimized by grappler and compiles
with XLA anywhere. On the compiled backend this package's kernels are
registered for those ops first (see `tf_bn_compat.ops._library`), and run
them in this process.
"""

import math

import tensorflow as tf

from tf_bn_compat.ops import _library

# The default of FusedBatchNormV3's `epsilon` attribute.
_OP_DEFAULT_EPSILON = 1e-4


def fused_batch_norm(x,
                     scale,
                     offset,
                     mean=None,
                     variance=None,
                     epsilon=0.001,
                     data_format="NHWC",
                     is_training=True,
                     name=None,
                     exponential_avg_factor=1.0):
  r"""Batch normalization of a 4-D or 5-D tensor over its channel axis.

  In training, `y = scale * (x - m) / sqrt(v + epsilon) + offset` with the
  batch mean `m` and biased batch variance `v`; the returned variance is the
  unbiased `v * n / max(n - 1, 1)` (n elements per channel). With
  `exponential_avg_factor` f != 1 the returned statistics are
  `(1 - f) * mean + f * m` and `(1 - f) * variance + f * v_unbiased`.
  In inference, `mean` and `variance` normalize and are returned unchanged.

  Args:
    x: Input tensor of rank 4 (rank 5 for "NDHWC"/"NCDHW"), float16,
      bfloat16 or float32.
    scale: 1-D float32 tensor of size C.
    offset: 1-D float32 tensor of size C.
    mean: 1-D float32 tensor of size C: population mean for inference, the
      running mean when `exponential_avg_factor` != 1.
    variance: 1-D float32 tensor of size C, as `mean`.
    epsilon: Small float added to the variance (None: 1e-4, the op's
      default).
    data_format: "NHWC", "NCHW", "NDHWC" or "NCDHW".
    is_training: Python bool: use batch statistics.
    name: Name of the op.
    exponential_avg_factor: Python float, the weight of the batch statistics
      in the returned running statistics.

  Returns:
    y: Normalized tensor, same dtype and shape as `x`.
    batch_mean: 1-D float32 tensor.
    batch_var: 1-D float32 tensor.

  Raises:
    ValueError: if `mean` or `variance` is missing when `is_training` is
      False or `exponential_avg_factor` != 1, if `epsilon` is negative or
      not finite or `exponential_avg_factor` not finite, or shapes disagree.
  """
  if exponential_avg_factor is None:
    exponential_avg_factor = 1.0
  if (not is_training or exponential_avg_factor != 1.0) and (
      mean is None or variance is None):
    # TensorFlow's words, so that code matching on them keeps working.
    raise ValueError("Both `mean` and `variance` must be a 1D tensor when "
                     "`is_training` is False or `exponential_avg_factor` != "
                     f"1.0. Received: `mean` {mean!r} and `variance` "
                     f"{variance!r}")
  if epsilon is None:
    # TF1's fused layer passed None on to the op, which took its attribute's
    # default.
    epsilon = _OP_DEFAULT_EPSILON
  # TensorFlow's op turns these into NaN outputs; our kernels refuse them.
  if not (math.isfinite(epsilon) and epsilon >= 0):
    raise ValueError("epsilon must be finite and >= 0, got %r" % (epsilon,))
  if not math.isfinite(exponential_avg_factor):
    raise ValueError("exponential_avg_factor must be finite, got %r" %
                     (exponential_avg_factor,))
  if _library.backend() == "custom":
    _library.enable_stock_kernels()
  return tf.compat.v1.nn.fused_batch_norm(
      x, scale, offset, mean=mean, variance=variance, epsilon=epsilon,
      data_format=data_format, is_training=is_training, name=name,
      exponential_avg_factor=exponential_avg_factor)
