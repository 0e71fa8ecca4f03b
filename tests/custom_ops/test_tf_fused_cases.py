"""TensorFlow's own fused batch norm test cases, on our op.

Every test method of TF's `nn_fused_batchnorm_test.py` (BatchNormalizationTest)
has a test here of the same name in snake case, parametrized over the
sub-cases TF loops over (data format, dtype, exponential_avg_factor,
is_training), with TF's shapes, data and error bounds (tf_cases.py), run on
`tf_bn_compat.ops.fused_batch_norm` (the compiled op) in TF1 graphs.

Where we differ from TF's file, on purpose:
* bfloat16 runs on the CPU too (TF's file runs it on GPUs only).
* The float32 gradient bound on x is 1e-3, the one TF's file means: its
  `elif dtypes.bfloat16.as_numpy_dtype:` is always true, so TF actually
  allows 2e-2 for float32.
* TF checks the first-order gradients of its second-order test against its
  composite gradient; we check them against the float64 reference.

The source-tree leg of the suite runs every sub-case. The installed leg (the
same kernels, built against another TensorFlow) runs the forward cases whole
and the Jacobian checks of testBatchNormGrad*Shape* at float32 with
exponential_avg_factor 1 only: they are most of this module's time.
"""

import numpy as np
import pytest
import tensorflow as tf

import bn_reference as ref
import package_env
import tf_cases as tc
from tf_bn_compat import ops
from tf_bn_compat.ops import _library


@pytest.fixture(autouse=True)
def _compiled_op(bn_ops):
  """These tests are about the compiled op, never TF's fallback."""
  del bn_ops
  assert _library.backend() == "custom"


def _forward_params(shapes, whole=True):
  """(shape id, data_format, dtype, factor) of each sub-case.

  whole: False keeps float32 with factor 1 only.
  """
  return [pytest.param(k, f, d, a, id="Shape%d-%s-%s-%s" % (k, f, d, a))
          for k, shape in shapes.items() for f in tc.formats(shape)
          for d in tc.DTYPES for a in tc.FACTORS
          if whole or (d == "float32" and a == 1.0)]


def _gradient_params():
  return _forward_params(tc.GRADIENT_SHAPES,
                         whole=package_env.FROM_SOURCE_TREE)


def _bn(x, scale, offset, mean, var, data_format, is_training, factor):
  return ops.fused_batch_norm(
      x, scale, offset, mean=mean, variance=var, epsilon=tc.EPSILON,
      data_format=data_format, is_training=is_training,
      exponential_avg_factor=factor)


def _y_atol(dtype, is_training):
  """TF's bounds on y (bfloat16: those TF's file sets for its GPU runs)."""
  if dtype == "float32":
    return 1e-3
  if dtype == "float16":
    return 2e-3
  return 1e-2 if is_training else 2e-3


def _assert_y_close(y, y_ref, dtype, is_training):
  # TF's assertAllClose: rtol 1e-6 next to the atol, NaN equal to NaN.
  np.testing.assert_allclose(ref.f64(y), ref.f64(y_ref), rtol=1e-6,
                             atol=_y_atol(dtype, is_training),
                             equal_nan=True)


# ---- testInferenceShape1..7 ------------------------------------------------

@pytest.mark.parametrize("shape_id,data_format,dtype,factor",
                         _forward_params(tc.FORWARD_SHAPES))
def test_inference_shape(shape_id, data_format, dtype, factor):
  shape = tc.FORWARD_SHAPES[shape_id]
  c = (tc.channels(shape, data_format),)
  np.random.seed(1)
  x = tc.uniform(shape, dtype)
  scale, offset, mean, var = (tc.uniform(c, "float32") for _ in range(4))
  graph = tf.Graph()
  with graph.as_default():
    y, _, _ = _bn(tf.constant(x), tf.constant(scale), tf.constant(offset),
                  tf.constant(mean), tf.constant(var), data_format, False,
                  factor)
    with tc.session(graph) as sess:
      y_val = sess.run(y)
  y_ref = tc.normalize_like_tf_test(x, scale, offset, mean, var, data_format)
  assert y_val.dtype == x.dtype and y_val.shape == x.shape
  _assert_y_close(y_val, y_ref, dtype, False)


# ---- testTrainingShape1..7 -------------------------------------------------

@pytest.mark.parametrize("shape_id,data_format,dtype,factor",
                         _forward_params(tc.FORWARD_SHAPES))
def test_training_shape(shape_id, data_format, dtype, factor):
  shape = tc.FORWARD_SHAPES[shape_id]
  c = (tc.channels(shape, data_format),)
  np.random.seed(1)
  x = tc.uniform(shape, dtype)
  scale, offset = tc.uniform(c, "float32"), tc.uniform(c, "float32")
  old_mean = old_var = None
  if factor != 1.0:
    old_mean, old_var = tc.uniform(c, "float32"), tc.uniform(c, "float32")
  graph = tf.Graph()
  with graph.as_default():
    outputs = _bn(tf.constant(x), tf.constant(scale), tf.constant(offset),
                  old_mean, old_var, data_format, True, factor)
    with tc.session(graph) as sess:
      y_val, mean_val, var_val = sess.run(outputs)
  batch_mean, batch_var = tc.batch_moments(x, data_format)
  y_ref = tc.normalize_like_tf_test(x, scale, offset, batch_mean, batch_var,
                                    data_format)
  count = x.size / scale.size if scale.size else 0.0
  var_ref = batch_var * count / max(count - 1.0, 1.0)
  mean_ref = batch_mean
  if factor != 1.0:
    mean_ref = (1.0 - factor) * old_mean + factor * batch_mean
    var_ref = (1.0 - factor) * old_var + factor * var_ref
  _assert_y_close(y_val, y_ref, dtype, True)
  np.testing.assert_allclose(mean_val, mean_ref, rtol=1e-6, atol=1e-3,
                             equal_nan=True)
  np.testing.assert_allclose(var_val, var_ref, rtol=1e-6, atol=1e-3,
                             equal_nan=True)


# ---- testBatchNormGrad{Inference,Training}Shape1..7 ------------------------

# TF's bounds on the Jacobian errors (x; scale and offset: 1e-3).
X_GRAD_BOUND = {"float32": 1e-3, "float16": 2e-3, "bfloat16": 2e-2}
PARAM_GRAD_BOUND = 1e-3


def gradient_errors(shape, dtype, data_format, is_training, factor,
                    bn=_bn, only_x=False):
  """(err_x, err_scale, err_offset) of TF's _test_gradient for `bn`.

  only_x: measure err_x alone (the others are returned as None).
  """
  c = (tc.channels(shape, data_format),)
  np.random.seed(1)
  x_val = tc.uniform(shape, dtype)
  scale_val, offset_val = tc.uniform(c, "float32"), tc.uniform(c, "float32")
  pop_mean = pop_var = None
  if not is_training or factor != 1.0:
    pop_mean, pop_var = tc.uniform(c, "float32"), tc.uniform(c, "float32")
  graph = tf.Graph()
  with graph.as_default(), tc.session(graph).as_default():
    x = tf.constant(x_val, name="x")
    scale = tf.constant(scale_val, name="scale")
    offset = tf.constant(offset_val, name="offset")
    y = bn(x, scale, offset, pop_mean, pop_var, data_format, is_training,
           factor)[0]
    wanted = (x,) if only_x else (x, scale, offset)
    if dtype == "float32":
      errors = [tc.jacobian_error(t, t.shape, y, shape) for t in wanted]
    else:
      x32 = tf.constant(x_val.astype(np.float32), name="x32")
      y32 = bn(x32, scale, offset, pop_mean, pop_var, data_format,
               is_training, factor)[0]
      twins = {x: x32, scale: scale, offset: offset}
      errors = [tc.jacobian_error(t, t.shape, y, shape, dtype, twins[t], y32)
                for t in wanted]
  return tuple(errors) + (None,) * (3 - len(errors))


def _check_gradient(shape_id, data_format, dtype, factor, is_training):
  shape = tc.GRADIENT_SHAPES[shape_id]
  err_x, err_scale, err_offset = gradient_errors(shape, dtype, data_format,
                                                 is_training, factor)
  assert err_x < X_GRAD_BOUND[dtype]
  assert err_scale < PARAM_GRAD_BOUND
  assert err_offset < PARAM_GRAD_BOUND


@pytest.mark.parametrize("shape_id,data_format,dtype,factor",
                         _gradient_params())
def test_batch_norm_grad_inference_shape(shape_id, data_format, dtype,
                                         factor):
  _check_gradient(shape_id, data_format, dtype, factor, is_training=False)


@pytest.mark.parametrize("shape_id,data_format,dtype,factor",
                         _gradient_params())
def test_batch_norm_grad_training_shape(shape_id, data_format, dtype,
                                        factor):
  _check_gradient(shape_id, data_format, dtype, factor, is_training=True)


def _tf_bn(x, scale, offset, mean, var, data_format, is_training, factor):
  return tf.compat.v1.nn.fused_batch_norm(
      x, scale, offset, mean=mean, variance=var, epsilon=tc.EPSILON,
      data_format=data_format, is_training=is_training,
      exponential_avg_factor=factor)


@pytest.mark.parametrize("data_format", ["NHWC", "NCHW"])
@pytest.mark.parametrize("dtype", tc.HALF)
def test_half_gradient_error_no_worse_than_tf_op(dtype, data_format):
  """testBatchNormGradTrainingShape4's err_x, ours against TF's own op.

  Same inputs and random points (the same seeded draws). The theoretical
  Jacobians are the dx of both ops rounded to the half type, so the errors
  differ by how noisy each float32 forward is under finite differences of
  1e-3. Margin 1e-5 (1/200 of the float16 bound): below any rounding of dx
  and of the same size as that forward noise; measured, ours is at or
  below TF's (e.g. float16 NHWC 0.00102 vs 0.00105).
  """
  shape = tc.GRADIENT_SHAPES[4]
  ours = gradient_errors(shape, dtype, data_format, True, 1.0, only_x=True)[0]
  theirs = gradient_errors(shape, dtype, data_format, True, 1.0, bn=_tf_bn,
                           only_x=True)[0]
  assert ours < X_GRAD_BOUND[dtype]
  assert ours <= theirs + 1e-5, (ours, theirs)


# ---- testBatchNormGradGradConfig1..6 ---------------------------------------

def _grad_grad_params():
  out = []
  for k, (shape, _, _) in tc.GRAD_GRAD_CONFIGS.items():
    first, last = ("NCHW", "NHWC") if len(shape) == 4 else ("NCDHW", "NDHWC")
    for data_format in (last, first):
      for is_training in (True, False):
        out.append(pytest.param(k, data_format, is_training,
                                id="Config%d-%s-%s" % (
                                    k, data_format,
                                    "training" if is_training else
                                    "inference")))
  return out


@pytest.mark.parametrize("config,data_format,is_training", _grad_grad_params())
def test_batch_norm_grad_grad_config(config, data_format, is_training):
  shape, dtype, bound = tc.GRAD_GRAD_CONFIGS[config]
  c = (tc.channels(shape, data_format),)
  np.random.seed(1)
  x_val = tc.uniform(shape, dtype)
  dy_val = tc.uniform(shape, dtype)
  scale_val, offset_val = tc.uniform(c, "float32"), tc.uniform(c, "float32")
  pop_mean = pop_var = None
  if not is_training:
    pop_mean, pop_var = tc.uniform(c, "float32"), tc.uniform(c, "float32")
  graph = tf.Graph()
  with graph.as_default(), tc.session(graph).as_default() as sess:

    def first_order(x, dy):
      scale, offset = tf.constant(scale_val), tf.constant(offset_val)
      y = _bn(x, scale, offset, pop_mean, pop_var, data_format, is_training,
              1.0)[0]
      return tf.gradients(y, [x, scale, offset], dy), scale

    x, dy = tf.constant(x_val, name="x"), tf.constant(dy_val, name="dy")
    (dx, dscale, doffset), scale = first_order(x, dy)
    if is_training:
      want = ref.backward(dy_val, x_val, scale_val, None, None, tc.EPSILON,
                          data_format, True)
      for got, w in zip(sess.run([dx, dscale, doffset]), want):
        np.testing.assert_allclose(ref.f64(got), w, rtol=1e-6, atol=bound)
    # (input, output) pairs TF checks; d(dx)/dx only in training ("in
    # freeze mode grad_x is not a function of x").
    if dtype == "float32":
      pairs = [(dy, dx), (dy, dscale), (dy, doffset), (x, dscale),
               (scale, dx)] + ([(x, dx)] if is_training else [])
      errors = [tc.jacobian_error(a, a.shape, b, b.shape) for a, b in pairs]
    else:
      x32 = tf.constant(x_val.astype(np.float32))
      dy32 = tf.constant(dy_val.astype(np.float32))
      (dx32, dscale32, doffset32), scale32 = first_order(x32, dy32)
      pairs = [(dy, dy32, dx, dx32), (dy, dy32, dscale, dscale32),
               (dy, dy32, doffset, doffset32), (x, x32, dscale, dscale32),
               (scale, scale32, dx, dx32)]
      if is_training:
        pairs.append((x, x32, dx, dx32))
      # TF's scale is one tensor in both graphs; here each graph has its
      # own, fed the same random point.
      errors = [tc.jacobian_error(a, a.shape, b, b.shape, dtype, a32, b32)
                for a, a32, b, b32 in pairs]
  for err in errors:
    assert err < bound


# ---- test5dBatchNormFollowedByRelu -----------------------------------------

def test_5d_batch_norm_followed_by_relu():
  np.random.seed(1)
  x = tc.uniform((2, 3, 2, 2, 3), "float32")
  scale, offset, mean, var = (tc.uniform((3,), "float32") for _ in range(4))
  graph = tf.Graph()
  with graph.as_default():
    y = tf.nn.relu(_bn(x, scale, offset, mean, var, "NCDHW", False, 1.0)[0])
    with tc.session(graph) as sess:
      y_val = sess.run(y)
  y_ref = np.maximum(
      tc.normalize_like_tf_test(x, scale, offset, mean, var, "NCDHW"), 0.0)
  np.testing.assert_allclose(y_val, y_ref, rtol=1e-6, atol=1e-3)


# ---- testEagerShapeErrors / testEagerShapeGradErrors -----------------------

def _ones(*shape):
  return tf.ones(shape)


@pytest.mark.parametrize("args,kwargs,pattern", [
    ((_ones, (2, 2, 2, 2), (3,), (2,)), {},
     "scale must have the same number of elements"),
    ((_ones, (2, 2, 2, 2), (2,), (3,)), {},
     "offset must have the same number of elements"),
    ((_ones, (2, 2, 2, 2), (2,), (2,)),
     dict(mean=(0,), variance=(2,), is_training=False),
     "When is_training=false, mean must have the same number of elements"),
    ((_ones, (2, 2, 2, 2), (2,), (2,)),
     dict(mean=(2,), variance=(0,), is_training=False),
     "When is_training=false, variance must have the same number of "
     "elements"),
    ((_ones, (2, 2, 2, 2), (2,), (2,)),
     dict(mean=(0,), variance=(2,), exponential_avg_factor=0.5),
     "When exponential_avg_factor != 1, mean must have the same number of "
     "elements"),
    ((_ones, (2, 2, 2, 2), (2,), (2,)),
     dict(mean=(2,), variance=(0,), exponential_avg_factor=0.5),
     "When exponential_avg_factor != 1, variance must have the same number "
     "of elements"),
], ids=["scale", "offset", "inference_mean", "inference_variance",
        "factor_mean", "factor_variance"])
def test_eager_shape_errors(args, kwargs, pattern):
  make, x, scale, offset = args
  kwargs = dict(kwargs)
  for key in ("mean", "variance"):
    if key in kwargs:
      kwargs[key] = make(*kwargs[key])
  with pytest.raises(tf.errors.InvalidArgumentError, match=pattern):
    ops.fused_batch_norm(make(*x), make(*scale), make(*offset), **kwargs)


@pytest.mark.parametrize("shapes,pattern", [
    (((2, 2, 2, 3), (2, 2, 2, 2), (2,), (2,), (2,)),
     "x and y_backprop must have same shape,"),
    (((2, 2, 2, 2), (2, 2, 2, 2), (3,), (2,), (2,)),
     "scale must have the same number of elements"),
    (((2, 2, 2, 2), (2, 2, 2, 2), (2,), (3,), (2,)),
     "reserve_space_1 must have the same number of elements"),
    (((2, 2, 2, 2), (2, 2, 2, 2), (2,), (2,), (3,)),
     "reserve_space_2 must have the same number of elements"),
], ids=["y_backprop", "scale", "reserve_space_1", "reserve_space_2"])
def test_eager_shape_grad_errors(bn_ops, shapes, pattern):
  with pytest.raises(tf.errors.InvalidArgumentError, match=pattern):
    bn_ops.tf_bn_compat_fused_batch_norm_grad(*[_ones(*s) for s in shapes])
