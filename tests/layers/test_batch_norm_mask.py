"""`mask` on both batch normalization classes (TF1 layers and Keras-v1).

The reference is Keras 3's masked batch normalization, written out in
float64 numpy (`masked_reference`) and itself checked against
`tf.keras.layers.BatchNormalization` called eagerly in a child interpreter
(TF 2.15: Keras 2's layer, with `fused=False`, which masks the same way). Statistics are those of the unmasked elements,
biased variance; the moving statistics move towards them.

Tolerances: float32 graphs against a float64 reference of values of
magnitude ~3: 1e-5 relative and absolute. Keras divides by n + 1e-7, we by
n: 1e-7 / n relative, far below that.
"""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import package_env
from tf_bn_compat import keras as tf_bn_keras
from tf_bn_compat import layers as tf_bn_layers

TOLERANCE = dict(rtol=1e-5, atol=1e-5)
MOMENTUM = 0.9
EPSILON = 1e-3
CLASSES = {"tf1_layers": tf_bn_layers.BatchNormalization,
           "keras_v1": tf_bn_keras.layers.BatchNormalization}

# (id, constructor config, input shape, mask shape)
CASES = [
    ("time_mask", {}, (4, 5, 3), (4, 5)),
    ("nhwc_fused_layer", {}, (3, 4, 4, 2), (3, 4, 4)),
    ("nchw", {"axis": 1}, (3, 2, 4, 4), (3, 4, 4)),
    ("broadcast_mask", {}, (4, 5, 3), (4, 1)),
    ("virtual_batch", {"virtual_batch_size": 2}, (4, 5, 3), (4, 5)),
]


def _data(shape, mask_shape, seed=7):
  rng = np.random.RandomState(seed)
  x = (rng.standard_normal(shape) * 2.0 + 1.0).astype(np.float32)
  mask = rng.rand(*mask_shape) > 0.4
  mask.flat[0] = True
  return x, mask


def masked_reference(x, mask, axis, virtual_batch_size=None):
  """Float64 (output, moving_mean, moving_variance) after one step."""
  x = x.astype(np.float64)
  axes = [a % x.ndim for a in ([axis] if isinstance(axis, int) else axis)]
  full_mask = mask
  for a in sorted(axes):
    full_mask = np.expand_dims(full_mask, a)
  full_mask = np.broadcast_to(full_mask, x.shape).astype(np.float64)
  shape = x.shape
  if virtual_batch_size:
    # As TF1: [virtual_batch_size, N / virtual_batch_size, ...], one ghost
    # batch per index of axis 1 (examples i, i + N / vbs, ...).
    x = x.reshape((virtual_batch_size, -1) + shape[1:])
    full_mask = full_mask.reshape(x.shape)
    axes = [a + 1 for a in axes]
    reduce_axes = tuple(i for i in range(x.ndim) if i not in axes + [1])
  else:
    reduce_axes = tuple(i for i in range(x.ndim) if i not in axes)
  count = np.maximum(full_mask.sum(reduce_axes, keepdims=True), 1.0)
  mean = (x * full_mask).sum(reduce_axes, keepdims=True) / count
  variance = (((x - mean) * full_mask) ** 2).sum(reduce_axes,
                                                 keepdims=True) / count
  output = ((x - mean) / np.sqrt(variance + EPSILON)).reshape(shape)
  if virtual_batch_size:
    mean, variance = mean.mean(1), variance.mean(1)
  mean, variance = mean.squeeze(), variance.squeeze()
  moving_mean = (1 - MOMENTUM) * mean
  moving_variance = MOMENTUM + (1 - MOMENTUM) * variance
  return output, moving_mean, moving_variance


def _run(cls, config, x, mask, training=True, steps=1):
  """(training output, inference output, unmasked inference, statistics)."""
  with tf.Graph().as_default():
    inputs = tf.constant(x)
    flag = tf.compat.v1.placeholder(tf.bool, [])
    layer = cls(momentum=MOMENTUM, epsilon=EPSILON, **config)
    y = layer(inputs, training=flag if training == "placeholder" else True,
              mask=tf.constant(mask))
    y_infer = layer(inputs, training=False, mask=tf.constant(mask))
    y_plain = layer(inputs, training=False)
    updates = layer.get_updates_for(inputs)
    feed = {flag: True}
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      out = sess.run(y, feed)
      for _ in range(steps):
        sess.run(updates, feed)
      statistics = sess.run([layer.moving_mean, layer.moving_variance])
      infer, plain = sess.run([y_infer, y_plain])
      if training == "placeholder":
        statistics.append(sess.run(y, {flag: False}))
  return out, infer, plain, statistics


@pytest.mark.parametrize("cls", CLASSES.values(), ids=CLASSES.keys())
@pytest.mark.parametrize("config,shape,mask_shape",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_masked_training_matches_keras(graph_mode, cls, config, shape,
                                       mask_shape):
  del graph_mode
  x, mask = _data(shape, mask_shape)
  out, infer, plain, (mean, variance) = _run(cls, config, x, mask)
  want_out, want_mean, want_variance = masked_reference(
      x, mask, config.get("axis", -1), config.get("virtual_batch_size"))
  np.testing.assert_allclose(out, want_out, err_msg="output", **TOLERANCE)
  np.testing.assert_allclose(np.squeeze(mean), want_mean,
                             err_msg="moving_mean", **TOLERANCE)
  np.testing.assert_allclose(np.squeeze(variance), want_variance,
                             err_msg="moving_variance", **TOLERANCE)
  # Inference: the mask changes nothing.
  np.testing.assert_array_equal(infer, plain)


@pytest.mark.parametrize("cls", CLASSES.values(), ids=CLASSES.keys())
def test_masked_training_tensor(graph_mode, cls):
  del graph_mode
  x, mask = _data((4, 5, 3), (4, 5))
  out, _, plain, (mean, _, inference) = _run(cls, {}, x, mask,
                                             training="placeholder")
  want_out, want_mean, _ = masked_reference(x, mask, -1)
  np.testing.assert_allclose(out, want_out, **TOLERANCE)
  np.testing.assert_allclose(mean, want_mean, **TOLERANCE)
  # training fed False after the step: the moving statistics, as unmasked.
  np.testing.assert_allclose(inference, plain, **TOLERANCE)


@pytest.mark.parametrize("cls", CLASSES.values(), ids=CLASSES.keys())
@pytest.mark.parametrize("shape,mask_shape", [((4, 5, 3), (4, 5)),
                                              ((3, 4, 4, 2), (3, 4, 4))],
                         ids=["time", "nhwc"])
def test_fully_masked_batch_keeps_moving_statistics(graph_mode, cls, shape,
                                                    mask_shape):
  del graph_mode
  x, _ = _data(shape, mask_shape)
  mask = np.zeros(mask_shape, bool)
  out, _, _, (mean, variance) = _run(cls, {}, x, mask, steps=3)
  assert np.all(np.isfinite(out))
  np.testing.assert_array_equal(mean, np.zeros(shape[-1], np.float32))
  np.testing.assert_array_equal(variance, np.ones(shape[-1], np.float32))


@pytest.mark.parametrize("cls", CLASSES.values(), ids=CLASSES.keys())
@pytest.mark.parametrize("mask_shape", [(4, 5, 3), (4,), (4, 2)],
                         ids=["rank_of_input", "rank_too_small", "mismatch"])
def test_bad_mask_is_value_error(cls, mask_shape):
  with tf.Graph().as_default():
    layer = cls()
    with pytest.raises(ValueError, match="mask"):
      layer(tf.zeros([4, 5, 3]), training=True,
            mask=tf.ones(mask_shape, tf.bool))


KERAS_SCRIPT = """
import sys
import numpy as np
import tensorflow as tf
data = np.load(sys.argv[1])
# Keras 2 ignores a mask on its fused path; Keras 3 has no fused path.
import keras
extra = {} if keras.__version__.startswith("3.") else {"fused": False}
layer = tf.keras.layers.BatchNormalization(momentum=%r, epsilon=%r, **extra)
out = layer(data["x"], training=True, mask=data["mask"])
np.savez(sys.argv[2], out=np.asarray(out), mean=layer.moving_mean.numpy(),
         variance=layer.moving_variance.numpy())
""" % (MOMENTUM, EPSILON)


@pytest.mark.parametrize("shape,mask_shape", [((4, 5, 3), (4, 5)),
                                              ((3, 4, 4, 2), (3, 4, 4))],
                         ids=["time", "nhwc"])
def test_reference_is_keras_masked_batch_norm(tmp_path, shape, mask_shape):
  # Keras runs eagerly in its own interpreter: eager Keras in this process
  # would keep later tests from turning TF2 behaviour back on.
  x, mask = _data(shape, mask_shape)
  np.savez(tmp_path / "in.npz", x=x, mask=mask)
  subprocess.run(
      [sys.executable, "-c", KERAS_SCRIPT, str(tmp_path / "in.npz"),
       str(tmp_path / "out.npz")], check=True, cwd=str(tmp_path),
      env=package_env.child_env(), timeout=300)
  keras_result = np.load(tmp_path / "out.npz")
  want_out, want_mean, want_variance = masked_reference(x, mask, -1)
  np.testing.assert_allclose(keras_result["out"], want_out, **TOLERANCE)
  np.testing.assert_allclose(keras_result["mean"], want_mean, **TOLERANCE)
  np.testing.assert_allclose(keras_result["variance"], want_variance,
                             **TOLERANCE)
