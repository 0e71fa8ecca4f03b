"""The raw ops against the float64 reference and TF's FusedBatchNormV3."""

import numpy as np
import pytest
import tensorflow as tf

import bn_reference as ref

# Compared with TensorFlow's kernels in this process (see conftest.py).
pytestmark = pytest.mark.usefixtures("tensorflows_kernels")

EPS = 1e-3
SPATIAL = (5, 3, 2)


def _forward(bn_ops, x, scale, offset, mean, var, data_format, is_training,
             factor=1.0, epsilon=EPS):
  return lambda: bn_ops.tf_bn_compat_fused_batch_norm(
      x, scale, offset, mean, var, epsilon=epsilon,
      exponential_avg_factor=factor, data_format=data_format,
      is_training=is_training)


def _tf_forward(x, scale, offset, mean, var, data_format, is_training,
                factor=1.0, epsilon=EPS):
  return lambda: tf.raw_ops.FusedBatchNormV3(
      x=x, scale=scale, offset=offset, mean=mean, variance=var,
      epsilon=epsilon, exponential_avg_factor=factor, data_format=data_format,
      is_training=is_training)


@pytest.mark.parametrize("is_training", [True, False])
@pytest.mark.parametrize("data_format", ref.FORMATS)
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_forward_matches_reference_and_tf(bn_ops, dtype, data_format,
                                          is_training):
  rng = np.random.default_rng(0)
  shape = ref.make_shape(data_format, 3, 4, SPATIAL)
  x, scale, offset, mean, var = ref.random_inputs(rng, shape, data_format,
                                                  dtype)
  factor = 0.25 if is_training else 1.0
  ours = ref.run(_forward(bn_ops, x, scale, offset, mean, var, data_format,
                          is_training, factor))
  theirs = ref.run(_tf_forward(x, scale, offset, mean, var, data_format,
                               is_training, factor))
  want = ref.forward(x, scale, offset, mean, var, EPS, data_format,
                     is_training, factor)
  tol = ref.TOLERANCE[dtype]
  assert ours[0].dtype == x.dtype and ours[0].shape == x.shape
  np.testing.assert_allclose(ref.f64(ours[0]), want[0], rtol=tol, atol=tol)
  # Statistics are float32 computed from the (rounded) inputs: float32 tol.
  np.testing.assert_allclose(ours[1], want[1], rtol=2e-5, atol=2e-5)
  np.testing.assert_allclose(ours[2], want[2], rtol=2e-5, atol=2e-5)
  np.testing.assert_allclose(ref.f64(ours[0]), ref.f64(theirs[0]),
                             rtol=2 * tol, atol=2 * tol)
  np.testing.assert_allclose(ours[1], theirs[1], rtol=2e-5, atol=2e-5)
  np.testing.assert_allclose(ours[2], theirs[2], rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("is_training", [True, False])
@pytest.mark.parametrize("data_format", ref.FORMATS)
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_backward_matches_reference_and_tf(bn_ops, dtype, data_format,
                                           is_training):
  rng = np.random.default_rng(1)
  shape = ref.make_shape(data_format, 2, 3, SPATIAL)
  x, scale, offset, mean, var = ref.random_inputs(rng, shape, data_format,
                                                  dtype)
  dy = rng.standard_normal(shape).astype(x.dtype)

  def ours():
    _, _, _, saved_mean, saved_inv_std = bn_ops.tf_bn_compat_fused_batch_norm(
        x, scale, offset, mean, var, epsilon=EPS, data_format=data_format,
        is_training=is_training)
    stat_a = saved_mean if is_training else mean
    stat_b = saved_inv_std if is_training else var
    return bn_ops.tf_bn_compat_fused_batch_norm_grad(
        dy, x, scale, stat_a, stat_b, epsilon=EPS, data_format=data_format,
        is_training=is_training)

  def theirs():
    out = tf.raw_ops.FusedBatchNormV3(
        x=x, scale=scale, offset=offset, mean=mean, variance=var, epsilon=EPS,
        data_format=data_format, is_training=is_training)
    # As TF's own gradient: population statistics in inference.
    return tf.raw_ops.FusedBatchNormGradV3(
        y_backprop=dy, x=x, scale=scale,
        reserve_space_1=out.reserve_space_1 if is_training else mean,
        reserve_space_2=out.reserve_space_2 if is_training else var,
        reserve_space_3=out.reserve_space_3, epsilon=EPS,
        data_format=data_format, is_training=is_training)[:3]

  got = ref.run(ours)
  # TF's CPU FusedBatchNormGradV3 supports is_training=False only for NHWC.
  tf_supported = is_training or data_format == "NHWC"
  tf_got = ref.run(theirs) if tf_supported else got
  want = ref.backward(dy, x, scale, mean, var, EPS, data_format, is_training)
  tol = ref.TOLERANCE[dtype]
  # dx of order 1; dscale / doffset are sums of ~100 terms of order 1:
  # their error scales with sqrt(count) * tol of the inputs.
  np.testing.assert_allclose(ref.f64(got[0]), want[0], rtol=tol, atol=tol)
  np.testing.assert_allclose(got[1], want[1], rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(got[2], want[2], rtol=1e-4, atol=1e-4)
  for a, b in zip(got, tf_got):
    np.testing.assert_allclose(ref.f64(a), ref.f64(b), rtol=2 * tol,
                               atol=2 * tol)


@pytest.mark.parametrize("shape,data_format", [
    ((1, 1, 1, 3), "NHWC"),        # one element per channel: Bessel 1/max(0,1)
    ((1, 3, 1, 1), "NCHW"),
    ((4, 2, 3, 1), "NHWC"),        # C = 1
    ((4, 1, 2, 3), "NCHW"),
    ((1, 1, 1, 1, 5), "NDHWC"),
    ((2, 3, 300, 128), "NCHW"),    # planes split into several blocks
    ((2, 96, 96, 5), "NHWC"),      # many row blocks
    ((1, 2, 2, 64, 80), "NCDHW"),
])
@pytest.mark.parametrize("factor", [1.0, 0.3])
def test_edge_shapes(bn_ops, shape, data_format, factor):
  rng = np.random.default_rng(2)
  x, scale, offset, mean, var = ref.random_inputs(rng, shape, data_format,
                                                  "float32")
  ours = ref.run(_forward(bn_ops, x, scale, offset, mean, var, data_format,
                          True, factor))
  theirs = ref.run(_tf_forward(x, scale, offset, mean, var, data_format, True,
                               factor))
  want = ref.forward(x, scale, offset, mean, var, EPS, data_format, True,
                     factor)
  for got, tf_got, w in zip(ours[:3], theirs[:3], want):
    np.testing.assert_allclose(got, w, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(got, tf_got, rtol=5e-5, atol=5e-5)


@pytest.mark.parametrize("data_format", ["NHWC", "NCDHW"])
@pytest.mark.parametrize("factor", [1.0, 0.5])
def test_empty_batch_gives_nan_statistics_like_tf(bn_ops, data_format, factor):
  shape = ref.make_shape(data_format, 0, 3, SPATIAL)
  x = np.zeros(shape, np.float32)
  c = np.ones(3, np.float32)
  ours = ref.run(_forward(bn_ops, x, c, c, c * 2, c * 3, data_format, True,
                          factor))
  theirs = ref.run(_tf_forward(x, c, c, c * 2, c * 3, data_format, True,
                               factor))
  assert ours[0].shape == shape
  assert np.isnan(ours[1]).all() and np.isnan(ours[2]).all()
  assert np.isnan(theirs[1]).all() and np.isnan(theirs[2]).all()
  grads = ref.run(lambda: bn_ops.tf_bn_compat_fused_batch_norm_grad(
      x, x, c, c, c, epsilon=EPS, data_format=data_format))
  assert grads[0].shape == shape
  np.testing.assert_array_equal(grads[1], 0.0)
  np.testing.assert_array_equal(grads[2], 0.0)


def test_empty_batch_inference_gives_nan_statistics_like_tf(bn_ops):
  x = np.zeros((0, 2, 2, 3), np.float32)
  c = np.arange(3, dtype=np.float32)
  ours = ref.run(_forward(bn_ops, x, c, c, c + 1, c + 2, "NHWC", False))
  theirs = ref.run(_tf_forward(x, c, c, c + 1, c + 2, "NHWC", False))
  assert ours[0].shape == x.shape
  for got, want in zip(ours[1:3], theirs[1:3]):
    assert np.isnan(want).all()
    assert np.isnan(got).all()


def test_empty_running_statistics_in_training(bn_ops):
  x = np.random.default_rng(3).standard_normal((2, 3, 3, 4)).astype(np.float32)
  c = np.ones(4, np.float32)
  e = np.zeros(0, np.float32)
  ours = ref.run(_forward(bn_ops, x, c, c, e, e, "NHWC", True))
  want = ref.forward(x, c, c, e, e, EPS, "NHWC", True)
  np.testing.assert_allclose(ours[1], want[1], rtol=2e-5, atol=2e-5)


def test_large_mean_no_worse_than_tf(bn_ops):
  """|mean| / std = 1e4 in float32: shifted sums keep the variance exact."""
  rng = np.random.default_rng(4)
  x = (1e4 + rng.standard_normal((8, 16, 16, 3))).astype(np.float32)
  c = np.ones(3, np.float32)
  ours = ref.run(_forward(bn_ops, x, c, c * 0, c, c, "NHWC", True))
  theirs = ref.run(_tf_forward(x, c, c * 0, c, c, "NHWC", True))
  want = ref.forward(x, c, c * 0, c, c, EPS, "NHWC", True)
  for i in range(3):
    err = np.abs(ref.f64(ours[i]) - want[i]).max()
    tf_err = np.abs(ref.f64(theirs[i]) - want[i]).max()
    # Mean: one float32 ulp at 1e4 is ~1e-3. Variance (~1): ~1e-5.
    assert err <= max(1.5 * tf_err, 2e-5 if i == 2 else 1e-3), (i, err, tf_err)
  np.testing.assert_allclose(ours[2], want[2], rtol=1e-4)


def test_bit_identical_across_runs_and_thread_counts(bn_ops):
  rng = np.random.default_rng(5)
  for data_format, shape in [("NHWC", (8, 32, 32, 40)),
                             ("NCHW", (4, 24, 48, 48))]:
    x = rng.standard_normal(shape).astype(np.float32) + 3
    dy = rng.standard_normal(shape).astype(np.float32)
    c = np.ones(shape[ref.channel_axis(data_format)], np.float32)

    def graph(x=x, dy=dy, c=c, data_format=data_format):
      out = bn_ops.tf_bn_compat_fused_batch_norm(
          x, c, c, c, c, epsilon=EPS, data_format=data_format)
      grad = bn_ops.tf_bn_compat_fused_batch_norm_grad(
          dy, x, c, out[3], out[4], epsilon=EPS, data_format=data_format)
      return list(out) + list(grad)

    results = [
        ref.run(graph, config=ref.session_config(threads))
        for threads in (1, 4, 4)
    ]
    for other in results[1:]:
      for a, b in zip(results[0], other):
        assert a.tobytes() == b.tobytes()


def _build_error(fn):
  with tf.Graph().as_default():
    with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError)):
      fn()


def test_bad_inputs_fail_at_graph_construction(bn_ops):
  x4 = np.zeros((2, 3, 3, 4), np.float32)
  c4 = np.ones(4, np.float32)
  c3 = np.ones(3, np.float32)
  op = bn_ops.tf_bn_compat_fused_batch_norm
  grad = bn_ops.tf_bn_compat_fused_batch_norm_grad
  _build_error(lambda: op(x4[0], c4, c4, c4, c4))                    # rank 3
  _build_error(lambda: op(x4, c4, c4, c4, c4, data_format="NDHWC"))  # rank 4
  _build_error(lambda: op(x4, c3, c4, c4, c4))                       # scale
  _build_error(lambda: op(x4, c4, c3, c4, c4))                       # offset
  _build_error(lambda: op(x4, c4, c4, c3, c3, is_training=False))    # mean
  _build_error(lambda: op(x4, c4, c4, c3, c3, exponential_avg_factor=0.5))
  _build_error(lambda: op(x4, c4[None], c4, c4, c4))                 # 2-D scale
  _build_error(lambda: op(x4, c4, c4, c4, c4, data_format="NWHC"))
  _build_error(lambda: op(x4.astype(np.int32), c4, c4, c4, c4))      # dtype T
  _build_error(lambda: op(x4.astype(np.float64), c4, c4, c4, c4))
  _build_error(lambda: op(x4, c4.astype(np.float16), c4, c4, c4))    # dtype U
  _build_error(lambda: grad(x4[..., :3], x4, c4, c4, c4))  # dy channels
  _build_error(lambda: grad(x4, x4, c3, c4, c4))


def test_bad_runtime_shapes_raise_invalid_argument(bn_ops):
  """Shapes unknown at graph construction are checked by the kernel."""
  with tf.Graph().as_default():
    x = tf.compat.v1.placeholder(tf.float32, None)
    v = tf.compat.v1.placeholder(tf.float32, None)
    out = bn_ops.tf_bn_compat_fused_batch_norm(x, v, v, v, v,
                                               is_training=False)
    g = bn_ops.tf_bn_compat_fused_batch_norm_grad(x, x, v, v, v)
    with tf.compat.v1.Session() as sess:
      good_x = np.zeros((2, 2, 2, 3), np.float32)
      cases = [(out, np.zeros((2, 3), np.float32), np.ones(3, np.float32)),
               (out, good_x, np.ones(4, np.float32)),
               (out, good_x, np.ones((3, 1), np.float32)),
               (g, good_x, np.ones(2, np.float32))]
      for fetch, xv, vv in cases:
        with pytest.raises(tf.errors.InvalidArgumentError):
          sess.run(fetch, {x: xv, v: vv})


def test_gradient_shapes_other_than_channels_are_checked_at_run_time(bn_ops):
  """As FusedBatchNormGradV3: the shape function merges channel counts only."""
  x4 = np.zeros((2, 3, 3, 4), np.float32)
  c4 = np.ones(4, np.float32)
  with tf.Graph().as_default():
    g = bn_ops.tf_bn_compat_fused_batch_norm_grad(x4[:1], x4, c4, c4, c4)
    with tf.compat.v1.Session() as sess:
      with pytest.raises(tf.errors.InvalidArgumentError,
                         match="x and y_backprop must have same shape"):
        sess.run(g)


@pytest.mark.parametrize("epsilon", [-1.0, -1e-3, float("nan"), float("inf")])
def test_bad_epsilon_is_refused(bn_ops, epsilon):
  """TF's op turns these into NaN outputs; ours refuse them."""
  x4 = np.zeros((2, 3, 3, 4), np.float32)
  c4 = np.ones(4, np.float32)
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match="epsilon must be finite and >= 0"):
      bn_ops.tf_bn_compat_fused_batch_norm(x4, c4, c4, c4, c4, epsilon=epsilon)
    with pytest.raises(ValueError, match="epsilon must be finite and >= 0"):
      bn_ops.tf_bn_compat_fused_batch_norm_grad(x4, x4, c4, c4, c4,
                                                epsilon=epsilon)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="epsilon must be finite and >= 0"):
    bn_ops.tf_bn_compat_fused_batch_norm(x4, c4, c4, c4, c4, epsilon=epsilon)


@pytest.mark.parametrize("factor", [float("nan"), float("inf"),
                                    -float("inf")])
def test_non_finite_exponential_avg_factor_is_refused(bn_ops, factor):
  x4 = np.zeros((2, 3, 3, 4), np.float32)
  c4 = np.ones(4, np.float32)
  with tf.Graph().as_default():
    with pytest.raises(ValueError,
                       match="exponential_avg_factor must be finite"):
      bn_ops.tf_bn_compat_fused_batch_norm(x4, c4, c4, c4, c4,
                                           exponential_avg_factor=factor)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="exponential_avg_factor must be finite"):
    bn_ops.tf_bn_compat_fused_batch_norm(x4, c4, c4, c4, c4,
                                         exponential_avg_factor=factor)


@pytest.mark.parametrize("factor", [-0.5, 0.0, 2.0])
def test_any_finite_exponential_avg_factor_is_taken_like_tf(bn_ops, factor):
  rng = np.random.default_rng(7)
  x, scale, offset, mean, var = ref.random_inputs(rng, (2, 3, 3, 4), "NHWC",
                                                  "float32")
  ours = ref.run(_forward(bn_ops, x, scale, offset, mean, var, "NHWC", True,
                          factor))
  theirs = ref.run(_tf_forward(x, scale, offset, mean, var, "NHWC", True,
                               factor))
  for got, want in zip(ours[:3], theirs[:3]):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
