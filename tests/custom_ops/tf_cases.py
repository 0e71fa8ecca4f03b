"""Data and helpers for TensorFlow's own fused batch norm test cases.

The cases are those of TensorFlow's `nn_fused_batchnorm_test.py`
(BatchNormalizationTest): its shapes, its data (numpy's global seed 1, values
uniform in [0, 1)), its formats, dtypes and exponential_avg_factor values, and
its error bounds. test_tf_fused_cases.py runs them on our op; the helpers here
only build inputs, float32 references the way TF's test does, and Jacobian
errors with `tf.compat.v1.test.compute_gradient`.
"""

import warnings

import numpy as np
import tensorflow as tf

import bn_reference as ref

BF16 = tf.bfloat16.as_numpy_dtype
DTYPES = {"float16": np.float16, "float32": np.float32, "bfloat16": BF16}
HALF = ("float16", "bfloat16")
FACTORS = (1.0, 0.6)
EPSILON = 0.001  # TF's test passes 0.001 (the wrapper's default too).

# TF test method -> x shape (testInferenceShapeK / testTrainingShapeK).
FORWARD_SHAPES = {
    1: (1, 1, 6, 1),
    2: (1, 1, 6, 2),
    3: (1, 2, 1, 6),
    4: (27, 131, 127, 6),
    5: (0, 131, 127, 6),
    6: (1, 1, 1, 1),
    7: (1, 2, 6, 1, 3),
}
# testBatchNormGrad{Inference,Training}ShapeK.
GRADIENT_SHAPES = {
    1: (1, 1, 6, 1),
    2: (1, 1, 6, 2),
    3: (1, 2, 1, 6),
    4: (5, 7, 11, 4),
    5: (0, 7, 11, 4),
    6: (1, 1, 1, 1),
    7: (1, 2, 6, 1, 3),
}
# testBatchNormGradGradConfigK: (shape, dtype, error bound).
GRAD_GRAD_CONFIGS = {
    1: ((2, 3, 4, 5), "float32", 1e-2),
    2: ((2, 3, 2, 2), "float32", 1e-3),
    3: ((2, 3, 4, 5), "float16", 2e-2),
    4: ((2, 3, 2, 2), "float16", 2e-3),
    5: ((2, 3, 2, 2, 2), "float32", 2e-3),
    6: ((2, 3, 2, 2, 2), "float16", 3e-3),
}


def formats(shape):
  """The data formats TF's test runs for a rank."""
  return ("NHWC", "NCHW") if len(shape) == 4 else ("NCDHW", "NDHWC")


def channels(shape, data_format):
  return shape[ref.channel_axis(data_format)]


def session(graph):
  return tf.compat.v1.Session(graph=graph, config=ref.session_config())


def uniform(shape, dtype):
  """numpy's global stream, as TF's test draws its data."""
  return np.random.random_sample(shape).astype(DTYPES[dtype])


def _channels_last(x, data_format):
  return np.moveaxis(x, 1, -1) if data_format.startswith("NC") else x


def _channels_first_again(y, data_format):
  return np.moveaxis(y, -1, 1) if data_format.startswith("NC") else y


def normalize_like_tf_test(x, scale, offset, mean, var, data_format):
  """TF's test reference: float32 arithmetic, rounded to x's dtype.

  y = x * inv + (offset - mean * inv), inv = scale / sqrt(var + epsilon).
  """
  f32 = np.float32
  inv = (f32(1.0) / np.sqrt(var.astype(f32) + f32(EPSILON))) * scale
  xl = _channels_last(x, data_format).astype(f32)
  y = xl * inv + (offset - mean * inv)
  return _channels_first_again(y.astype(x.dtype), data_format)


def batch_moments(x, data_format):
  """Biased float32 batch mean and variance (NaN for an empty batch)."""
  xl = _channels_last(x, data_format).astype(np.float32)
  xl = xl.reshape(-1, xl.shape[-1])
  with warnings.catch_warnings(), np.errstate(invalid="ignore",
                                              divide="ignore"):
    warnings.simplefilter("ignore", RuntimeWarning)
    return xl.mean(axis=0), xl.var(axis=0)


def max_abs_diff(a, b):
  """Largest |a - b| (NaN where exactly one side is NaN; 0 if empty)."""
  a, b = ref.f64(a), ref.f64(b)
  if a.size == 0:
    return 0.0
  both_nan = np.isnan(a) & np.isnan(b)
  diff = np.where(both_nan, 0.0, np.abs(a - b))
  return float(np.max(np.where(np.isnan(diff), np.inf, diff)))


def jacobian_error(x, x_shape, y, y_shape, x_dtype=None, x32=None, y32=None):
  """Max |theoretical - numerical| Jacobian entry, as TF's test measures it.

  For float32, one `compute_gradient` at x's value. For float16 / bfloat16
  (x_dtype given), as TF's float16 helper: the theoretical Jacobian of the
  low-precision graph (x, y) and the numerical one of its float32 twin
  (x32, y32), both at one random point rounded to x_dtype, delta 1e-3 (finite
  differences in float16 would measure rounding, not the gradient).
  Must run under a default session.
  """
  if x_dtype is None:
    theoretical, numerical = tf.compat.v1.test.compute_gradient(
        x, list(x_shape), y, list(y_shape))
  else:
    x_init = uniform(x_shape, x_dtype)
    theoretical, _ = tf.compat.v1.test.compute_gradient(
        x, list(x_shape), y, list(y_shape), delta=1e-3, x_init_value=x_init)
    _, numerical = tf.compat.v1.test.compute_gradient(
        x32, list(x_shape), y32, list(y_shape), delta=1e-3,
        x_init_value=x_init.astype(np.float32))
  if theoretical.size == 0 and numerical.size == 0:
    return 0.0
  return float(np.abs(theoretical - numerical).max())
