"""Outputs of 8 MiB and more: the transform writes them with streaming stores.

The gradient's dx is streamed the same way. Covers rows that are 32-byte
aligned (C = 64) and rows that are not (C = 3,
which falls back to ordinary stores) and channels first with long runs.
Values are checked against float64 (1e-5: our statistics are exact to
float32 rounding here) and repeated runs must be bit-identical. TF's own
op is not the yardstick at this size: with C = 3 it accumulates a million
elements per channel in float32 and is off by ~6e-4.
"""

import numpy as np
import pytest
import tensorflow as tf

from tf_bn_compat.ops import _custom_op

CASES = [
    ("NHWC", (8, 64, 64, 64)),
    ("NHWC", (16, 256, 256, 3)),
    ("NCHW", (8, 64, 64, 64)),
]


def _reference(x, params, epsilon, data_format, is_training):
  """Float64 batch normalization of x over all but the channel axis."""
  scale, offset, mean, variance = [p.astype(np.float64) for p in params]
  axes = (0, 2, 3) if data_format == "NCHW" else (0, 1, 2)
  shape = (1, -1, 1, 1) if data_format == "NCHW" else (-1,)
  x = x.astype(np.float64)
  if is_training:
    mean, variance = x.mean(axis=axes), x.var(axis=axes)
  inv_std = 1.0 / np.sqrt(variance + epsilon)
  return ((x - mean.reshape(shape)) * (scale * inv_std).reshape(shape) +
          offset.reshape(shape))


@pytest.mark.parametrize("is_training", [True, False])
@pytest.mark.parametrize("data_format,shape", CASES)
def test_large_outputs_match_tf(data_format, shape, is_training):
  channels = shape[1] if data_format == "NCHW" else shape[-1]
  rng = np.random.RandomState(0)
  x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
  assert x.nbytes >= 8 << 20
  params = [rng.uniform(0.5, 1.5, channels).astype(np.float32)
            for _ in range(4)]
  kwargs = dict(epsilon=1e-3, data_format=data_format,
                is_training=is_training)
  with tf.Graph().as_default():
    ours = _custom_op.custom_fused_batch_norm(tf.constant(x), *params,
                                              **kwargs)[0]
    with tf.compat.v1.Session() as sess:
      first, again = sess.run([ours, ours])
      second = sess.run(ours)
  np.testing.assert_allclose(first, _reference(x, params, **kwargs),
                             rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(first, again)
  np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("data_format,shape", CASES)
def test_large_gradients_match_float64(data_format, shape):
  channels = shape[1] if data_format == "NCHW" else shape[-1]
  axes = (0, 2, 3) if data_format == "NCHW" else (0, 1, 2)
  vec = (1, -1, 1, 1) if data_format == "NCHW" else (-1,)
  rng = np.random.RandomState(1)
  x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
  dy = rng.standard_normal(shape).astype(np.float32)
  scale = rng.uniform(0.5, 1.5, channels).astype(np.float32)
  with tf.Graph().as_default():
    xt = tf.constant(x)
    y = _custom_op.custom_fused_batch_norm(
        xt, scale, np.zeros(channels, np.float32), epsilon=1e-3,
        data_format=data_format)[0]
    dx = tf.gradients(y, xt, grad_ys=tf.constant(dy))[0]
    with tf.compat.v1.Session() as sess:
      dx_value = sess.run(dx)
  x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
  m = x64.size // channels
  mean = x64.mean(axis=axes)
  inv_std = 1.0 / np.sqrt(x64.var(axis=axes) + 1e-3)
  xhat = (x64 - mean.reshape(vec)) * inv_std.reshape(vec)
  want = (scale * inv_std).reshape(vec) * (
      dy64 - dy64.sum(axis=axes).reshape(vec) / m -
      xhat * (dy64 * xhat).sum(axis=axes).reshape(vec) / m)
  np.testing.assert_allclose(dx_value, want, rtol=1e-4, atol=1e-4)
