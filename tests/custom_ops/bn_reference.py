"""Float64 numpy reference of FusedBatchNormV3 / FusedBatchNormGradV3 and
shared helpers for the compiled-op tests."""

import numpy as np
import tensorflow as tf

FORMATS = ("NHWC", "NCHW", "NDHWC", "NCDHW")
DTYPES = {"float32": np.float32, "float16": np.float16,
          "bfloat16": tf.bfloat16.as_numpy_dtype}
# Tolerances, relative to values of order 1, against the float64 reference.
# float32: float accumulation over <= 1e4 elements gives ~1e-6 relative; 2e-5
# leaves room. float16 / bfloat16: y is rounded to the storage type (ulp 2^-10
# / 2^-7 at 1) and x is rounded on input: a few of their ulps.
TOLERANCE = {"float32": 2e-5, "float16": 4e-3, "bfloat16": 3e-2}


def channel_axis(data_format):
  return 1 if data_format in ("NCHW", "NCDHW") else len(data_format) - 1


def reduce_axes(data_format):
  c = channel_axis(data_format)
  return tuple(a for a in range(len(data_format)) if a != c)


def vec_shape(data_format):
  shape = [1] * len(data_format)
  shape[channel_axis(data_format)] = -1
  return shape


def make_shape(data_format, n, c, spatial):
  """Shape of x for a format from n, c and the spatial sizes."""
  spatial = list(spatial)[:len(data_format) - 2]
  if channel_axis(data_format) == 1:
    return tuple([n, c] + spatial)
  return tuple([n] + spatial + [c])


def random_inputs(rng, shape, data_format, dtype, loc=0.5, spread=2.0):
  c = shape[channel_axis(data_format)]
  x = (rng.standard_normal(shape) * spread + loc).astype(DTYPES[dtype])
  scale = (rng.random(c) + 0.5).astype(np.float32)
  offset = rng.standard_normal(c).astype(np.float32)
  mean = rng.standard_normal(c).astype(np.float32)
  var = (rng.random(c) + 0.5).astype(np.float32)
  return x, scale, offset, mean, var


def forward(x, scale, offset, mean, var, epsilon, data_format, is_training,
            factor=1.0):
  """(y, batch_mean, batch_var) in float64."""
  x = np.asarray(x).astype(np.float64)
  axes = reduce_axes(data_format)
  vs = vec_shape(data_format)
  count = x.size // max(x.shape[channel_axis(data_format)], 1)
  if is_training:
    with np.errstate(invalid="ignore", divide="ignore"):
      m = x.mean(axis=axes) if count else np.full(len(scale), np.nan)
      v = x.var(axis=axes) if count else np.full(len(scale), np.nan)
    vu = v * count / max(count - 1, 1)
    if factor != 1.0 and count:
      bm = (1 - factor) * np.float64(mean) + factor * m
      bv = (1 - factor) * np.float64(var) + factor * vu
    else:
      bm, bv = m, vu
  else:
    m, v = np.float64(mean), np.float64(var)
    bm, bv = m, v
  y = ((x - m.reshape(vs)) / np.sqrt(v.reshape(vs) + epsilon)
       * np.float64(scale).reshape(vs) + np.float64(offset).reshape(vs))
  return y, bm, bv


def backward(dy, x, scale, mean, var, epsilon, data_format, is_training):
  """(dx, dscale, doffset) in float64; in training mean / var come from x."""
  x = np.asarray(x).astype(np.float64)
  dy = np.asarray(dy).astype(np.float64)
  axes = reduce_axes(data_format)
  vs = vec_shape(data_format)
  count = x.size // max(x.shape[channel_axis(data_format)], 1)
  if is_training:
    mean, var = x.mean(axis=axes), x.var(axis=axes)
  inv = 1.0 / np.sqrt(np.float64(var) + epsilon)
  xhat = (x - np.float64(mean).reshape(vs)) * inv.reshape(vs)
  doffset = dy.sum(axis=axes)
  dscale = (dy * xhat).sum(axis=axes)
  k = (np.float64(scale) * inv).reshape(vs)
  if is_training:
    dx = k * (dy - doffset.reshape(vs) / count
              - xhat * dscale.reshape(vs) / count)
  else:
    dx = k * dy
  return dx, dscale, doffset


def session_config(intra_op_threads=0):
  """Grappler rewrites an inference-mode FusedBatchNormV3 into primitives and
  then fails to fetch its statistics ("does not have output 1"): it is off."""
  config = tf.compat.v1.ConfigProto(
      intra_op_parallelism_threads=intra_op_threads)
  config.graph_options.rewrite_options.disable_meta_optimizer = True
  return config


def run(fetches, feed_dict=None, config=None):
  """Runs fetches built by a callable in a fresh TF1 graph + session."""
  config = config or session_config()
  with tf.Graph().as_default():
    built = fetches()
    with tf.compat.v1.Session(config=config) as sess:
      return sess.run(built, feed_dict=feed_dict)


def f64(a):
  return np.asarray(a).astype(np.float64)
