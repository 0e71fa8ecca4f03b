"""First- and second-order gradients of the wrapper vs TF's fused batch norm."""

import numpy as np
import pytest
import tensorflow as tf

import bn_reference as ref
from tf_bn_compat.ops import _custom_op

# Compared with TensorFlow's kernels in this process (see conftest.py).
pytestmark = pytest.mark.usefixtures("tensorflows_kernels")

EPS = 1e-3


def _graph_grads(bn_fn, x, scale, offset, mean, var, w, data_format,
                 is_training):
  """d(loss)/d(x, scale, offset) and the gradient-penalty second order."""
  def build():
    xt, st, ot = (tf.constant(x), tf.constant(scale), tf.constant(offset))
    y = bn_fn(xt, st, ot, mean, var, epsilon=EPS, data_format=data_format,
              is_training=is_training)[0]
    loss = tf.reduce_sum(tf.cast(y, tf.float32) * w)
    first = tf.gradients(loss, [xt, st, ot])
    penalty = tf.reduce_sum(tf.square(tf.cast(first[0], tf.float32)))
    second = tf.gradients(penalty, [xt, st, ot])
    # None (no path, e.g. d2/d offset) is fetched as the string "none".
    return [[tf.constant("none") if g is None else g for g in gs]
            for gs in (first, second)]
  return ref.run(build)


def _tf_bn(x, scale, offset, mean, var, **kw):
  return tf.compat.v1.nn.fused_batch_norm(x, scale, offset, mean=mean,
                                          variance=var, **kw)


@pytest.mark.parametrize("is_training", [True, False])
@pytest.mark.parametrize("data_format", ["NHWC", "NCHW", "NCDHW"])
def test_first_and_second_order_match_tf(bn_ops, data_format, is_training):
  del bn_ops  # Loaded: the wrapper uses it.
  if not is_training and data_format != "NHWC":
    pytest.skip("TF's CPU FusedBatchNormGradV3 is NHWC-only in inference")
  rng = np.random.default_rng(10)
  shape = ref.make_shape(data_format, 2, 3, (4, 3, 2))
  x, scale, offset, mean, var = ref.random_inputs(rng, shape, data_format,
                                                  "float32")
  w = rng.standard_normal(shape).astype(np.float32)
  ours = _graph_grads(_custom_op.custom_fused_batch_norm, x, scale, offset,
                      mean, var, w, data_format, is_training)
  theirs = _graph_grads(_tf_bn, x, scale, offset, mean, var, w, data_format,
                        is_training)
  for got, want in zip(ours[0] + ours[1], theirs[0] + theirs[1]):
    if isinstance(want, bytes):
      assert isinstance(got, bytes)
      continue
    # Second-order terms are sums of products of first-order ones: 1e-4.
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_gradient_of_grad_op_inputs_matches_tf_second_order(bn_ops):
  """tf.gradients(tf.gradients(...)) w.r.t. scale and upstream weights."""
  del bn_ops
  rng = np.random.default_rng(11)
  x, scale, offset, mean, var = ref.random_inputs(rng, (3, 4, 4, 2), "NHWC",
                                                  "float32")

  def build(fn):
    def graph():
      st = tf.constant(scale)
      y = fn(tf.constant(x), st, offset, mean, var, epsilon=EPS,
             data_format="NHWC", is_training=True)[0]
      gx = tf.gradients(tf.reduce_sum(y * y * y), st)[0]
      return tf.gradients(tf.reduce_sum(gx * gx), st)
    return graph
  np.testing.assert_allclose(ref.run(build(_custom_op.custom_fused_batch_norm)),
                             ref.run(build(_tf_bn)), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("data_format", ["NHWC", "NCHW"])
def test_compute_gradient_numeric(bn_ops, data_format):
  del bn_ops
  rng = np.random.default_rng(12)
  shape = ref.make_shape(data_format, 2, 2, (3, 2))
  x, scale, offset, _, _ = ref.random_inputs(rng, shape, data_format,
                                             "float32")
  w = tf.constant(rng.standard_normal(shape).astype(np.float32))

  def f(xv, sv, ov):
    y = _custom_op.custom_fused_batch_norm(xv, sv, ov, epsilon=EPS,
                                           data_format=data_format)[0]
    return tf.reduce_sum(y * w)

  # tf.test.compute_gradient (eager) with float32 finite differences.
  theoretical, numerical = tf.test.compute_gradient(f, [x, scale, offset],
                                                    delta=1e-2)
  for t, n in zip(theoretical, numerical):
    np.testing.assert_allclose(t, n, rtol=3e-2, atol=3e-2)
