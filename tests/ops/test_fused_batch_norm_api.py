"""`tf_bn_compat.ops.fused_batch_norm` keeps `tf.compat.v1.nn`'s contract.

Values are compared with TF's own function at float32 rounding of a
different summation order (1e-5); the argument rules and errors must be the
same.
"""

import numpy as np
import pytest
import tensorflow as tf

from tf_bn_compat import ops

LAYOUTS = {
    "NHWC": (4, 5, 6, 3),
    "NCHW": (4, 3, 5, 6),
    "NDHWC": (2, 3, 4, 5, 3),
    "NCDHW": (2, 3, 3, 4, 5),
}


def _inputs(shape, data_format, dtype):
  rng = np.random.RandomState(7)
  channels = shape[1] if data_format.startswith("NC") else shape[-1]
  x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
  params = [rng.uniform(0.5, 1.5, channels).astype(np.float32)
            for _ in range(4)]
  return x, params


def _run(fn, x, params, **kwargs):
  with tf.Graph().as_default():
    scale, offset, mean, variance = [tf.constant(p) for p in params]
    xt = tf.constant(x)
    outputs = fn(xt, scale, offset, mean=mean, variance=variance, **kwargs)
    dy = tf.cos(tf.cast(outputs[0], tf.float32))
    grads = tf.gradients(outputs[0], [xt, scale, offset], grad_ys=[
        tf.cast(dy, xt.dtype)])
    with tf.compat.v1.Session() as sess:
      return sess.run(list(outputs) + grads)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("factor", [1.0, 0.25])
@pytest.mark.parametrize("is_training", [True, False])
@pytest.mark.parametrize("data_format", sorted(LAYOUTS))
def test_matches_tf_function(data_format, is_training, factor, dtype):
  x, params = _inputs(LAYOUTS[data_format], data_format, dtype)
  kwargs = dict(epsilon=0.01, data_format=data_format,
                is_training=is_training, exponential_avg_factor=factor)
  ours = _run(ops.fused_batch_norm, x, params, **kwargs)
  theirs = _run(tf.compat.v1.nn.fused_batch_norm, x, params, **kwargs)
  tol = 1e-5 if dtype == "float32" else 1e-2
  assert [np.asarray(a).dtype for a in ours] == [
      np.asarray(b).dtype for b in theirs]
  for i, (a, b) in enumerate(zip(ours, theirs)):
    np.testing.assert_allclose(np.asarray(a, np.float64),
                               np.asarray(b, np.float64), rtol=tol,
                               atol=tol * 10, err_msg="output %d" % i)


def test_training_without_running_statistics():
  x, params = _inputs(LAYOUTS["NHWC"], "NHWC", "float32")
  with tf.Graph().as_default():
    y, mean, var = ops.fused_batch_norm(x, params[0], params[1])
    with tf.compat.v1.Session() as sess:
      _, mean_v, var_v = sess.run([y, mean, var])
  flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
  np.testing.assert_allclose(mean_v, flat.mean(0), rtol=1e-5)
  np.testing.assert_allclose(var_v, flat.var(0, ddof=1), rtol=1e-5)


@pytest.mark.parametrize("kwargs", [
    dict(is_training=False),
    dict(is_training=True, exponential_avg_factor=0.5),
], ids=["inference", "running_average"])
def test_missing_statistics_raise_value_error(kwargs):
  with tf.Graph().as_default():
    x = tf.zeros([2, 2, 2, 3])
    with pytest.raises(ValueError, match="mean"):
      ops.fused_batch_norm(x, tf.ones([3]), tf.zeros([3]), **kwargs)


@pytest.mark.parametrize("builder,error", [
    (lambda: ops.fused_batch_norm(tf.zeros([2, 3]), tf.ones([3]),
                                  tf.zeros([3])), ValueError),
    (lambda: ops.fused_batch_norm(tf.zeros([2, 2, 2, 3]), tf.ones([4]),
                                  tf.zeros([4])), ValueError),
    (lambda: ops.fused_batch_norm(tf.zeros([2, 2, 2, 3], tf.float64),
                                  tf.ones([3]), tf.zeros([3])),
     (TypeError, ValueError)),
    (lambda: ops.fused_batch_norm(tf.zeros([2, 2, 2, 3]), tf.ones([3]),
                                  tf.zeros([3]), data_format="HWCN"),
     (ValueError, tf.errors.InvalidArgumentError)),
], ids=["rank2", "channel_mismatch", "float64", "data_format"])
def test_bad_arguments_raise_at_graph_construction(builder, error):
  with tf.Graph().as_default():
    with pytest.raises(error):
      builder()


@pytest.mark.parametrize("epsilon", [1e-7, 0.0, 0.5])
def test_epsilon_is_passed_through_like_tf(epsilon):
  x, params = _inputs(LAYOUTS["NHWC"], "NHWC", "float32")
  # Channel 0 has variance 1e-6, so its output depends strongly on epsilon
  # (a clamp to 1e-5 would shrink it threefold). Its values sit on 1.0 with
  # a spread of 1e-3: float32 keeps x - mean to ~6e-5 relative, hence 1e-3.
  noise = np.random.RandomState(3).standard_normal(x.shape[:-1])
  x[..., 0] = 1.0 + 1e-3 * noise
  kwargs = dict(epsilon=epsilon, is_training=True)
  ours = _run(ops.fused_batch_norm, x, params, **kwargs)
  theirs = _run(tf.compat.v1.nn.fused_batch_norm, x, params, **kwargs)
  np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-3, atol=1e-3)
