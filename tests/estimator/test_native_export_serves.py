"""TensorFlow 2.15's own Estimator exports our layers' graphs for serving.

A native `tf.estimator.Estimator` whose model_fn calls
`tf.compat.v1.layers` after `tf_bn_compat.patch_tf()` (our layers, the
fused batch norm) is trained a few steps and exported with
`export_saved_model`; a fresh Python (`-I`, tests/export/serving_check.py),
which never imports tf_bn_compat nor loads its op library, serves the
SavedModel on TensorFlow's kernels. Runs where TensorFlow has its own
Estimator (the 2.15 leg); skipped elsewhere.

Tolerance 1e-5: in inference both kernels compute
`(x - mean) * scale / sqrt(variance + epsilon) + offset` per element with
the operations grouped differently (a few float32 ulp of values ~1-10).
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import estimator_models as models
import tf_bn_compat
from tf_bn_compat import layers as our_layers
from tf_bn_compat.ops import _library

native_est = models.native_estimator()
v1 = tf.compat.v1
# Estimators run eager ops (tf.data, saved_model loads); see tests/conftest.py.
pytestmark = [pytest.mark.eager_context, models.needs_native()]

SHAPE = (8, 8, 8, 3)
SERVING_CHECK = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                             os.pardir, "export", "serving_check.py")


def _data(seed, n=SHAPE[0]):
  rng = np.random.RandomState(seed)
  return (rng.standard_normal((n,) + SHAPE[1:]) * 2.0 + 1.0).astype(np.float32)


def _model_fn(features, labels, mode):
  """A convnet on `tf.compat.v1.layers` (ours once patched)."""
  training = mode == native_est.ModeKeys.TRAIN
  h = v1.layers.conv2d(features["images"], 4, 3, padding="same", name="conv")
  bn = v1.layers.BatchNormalization(fused=True, momentum=0.5, name="bn")
  h = tf.nn.relu(bn(h, training=training))
  logits = v1.layers.dense(tf.reduce_mean(h, axis=[1, 2]), 2, name="dense")
  if mode == native_est.ModeKeys.PREDICT:
    return native_est.EstimatorSpec(mode, predictions={"logits": logits})
  loss = tf.reduce_mean(tf.square(logits - labels))
  with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
    train_op = v1.train.GradientDescentOptimizer(0.05).minimize(
        loss, global_step=v1.train.get_global_step())
  assert isinstance(bn, our_layers.BatchNormalization) and bn.fused
  return native_est.EstimatorSpec(mode, loss=loss, train_op=train_op)


def _train_input_fn():
  x = _data(0, 32)
  y = np.stack([x.mean(axis=(1, 2, 3)), x.std(axis=(1, 2, 3))], axis=1)
  return tf.data.Dataset.from_tensor_slices(({"images": x}, y)).batch(8)


def _serving_input_receiver_fn():
  images = v1.placeholder(tf.float32, (None,) + SHAPE[1:], name="images")
  return native_est.export.ServingInputReceiver({"images": images},
                                                {"images": images})


@pytest.fixture
def patched():
  tf_bn_compat.patch_tf()
  try:
    yield
  finally:
    tf_bn_compat.unpatch_tf()


def _serve_in_child(saved_model, root, x):
  inputs, out = str(root / "inputs.npz"), str(root / "child.npz")
  np.savez(inputs, x=x)
  env = {k: v for k, v in os.environ.items()
         if k not in ("PYTHONPATH", "TF_BN_COMPAT_OPS_LIBRARY")}
  env["TF_CPP_MIN_LOG_LEVEL"] = "3"
  run = subprocess.run(
      [sys.executable, "-I", SERVING_CHECK, saved_model, "-", inputs, out],
      cwd=str(root), env=env, capture_output=True, text=True, timeout=180,
      check=False)
  assert run.returncode == 0, run.stderr[-3000:]
  child = np.load(out)
  return child["saved_model"], set(child["saved_model_ops"])


def test_native_estimator_export_serves_without_us(tmp_path, patched):
  del patched
  est = native_est.Estimator(_model_fn, model_dir=str(tmp_path / "model"))
  before = _library.stock_kernel_runs()
  est.train(_train_input_fn, steps=4)
  x = _data(100)
  expected = np.stack([p["logits"] for p in est.predict(
      lambda: tf.data.Dataset.from_tensor_slices({"images": x}).batch(8),
      yield_single_examples=True)])
  if _library.backend() == "custom":  # Ours ran training and prediction.
    runs = _library.stock_kernel_runs()
    assert runs[0] > before[0] and runs[1] > before[1]
  reader = tf.train.load_checkpoint(est.model_dir)
  assert not np.allclose(reader.get_tensor("bn/moving_mean"), 0.0)
  export_dir = est.export_saved_model(str(tmp_path / "export"),
                                      _serving_input_receiver_fn)
  logits, ops = _serve_in_child(export_dir.decode(), tmp_path, x)
  assert "FusedBatchNormV3" in ops, ops
  assert not [op for op in ops if op.startswith("TfBnCompat")], ops
  np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
