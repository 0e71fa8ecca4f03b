"""Models exported through TensorFlow's standard paths serve without us.

Each model (a convnet with the fused batch norm, its statistics trained a
few steps) is exported by one of TensorFlow's own SavedModel paths, then a
fresh Python (`-I`, tests/export/serving_check.py), which never imports
tf_bn_compat nor loads its op library, loads it and runs the serving
signature on the same input. The graphs hold TensorFlow's FusedBatchNormV3,
which this process runs on our kernel and the child on TensorFlow's.

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
from tensorflow.python.util import _pywrap_util_port  # pylint: disable=g-direct-tensorflow-import

import tf_bn_compat
from tf_bn_compat import layers
from tf_bn_compat.ops import _library

v1 = tf.compat.v1
SHAPE = (8, 8, 8, 3)
HERE = os.path.dirname(os.path.abspath(__file__))


def _data(seed):
  return (np.random.RandomState(seed).standard_normal(SHAPE) * 2.0 +
          1.0).astype(np.float32)


def _net(x, training):
  """TF1-style convnet: conv, fused batch norm, relu, mean, dense."""
  with v1.variable_scope("net", reuse=v1.AUTO_REUSE):
    h = layers.conv2d(x, 4, 3, padding="same", name="conv")
    h = layers.batch_normalization(h, training=training, fused=True,
                                   name="bn")
    h = tf.reduce_mean(tf.nn.relu(h), axis=[1, 2])
    return layers.dense(h, 2, name="dense")


def _serve_in_child(saved_model, root, loader):
  """Logits and op types of `saved_model` served by a fresh Python, loaded
  by TF1's loader in a Session ("v1") or `tf.saved_model.load` ("tf2")."""
  inputs, out = str(root / "inputs.npz"), str(root / "child.npz")
  np.savez(inputs, x=_data(100))
  env = {k: v for k, v in os.environ.items()
         if k not in ("PYTHONPATH", "TF_BN_COMPAT_OPS_LIBRARY")}
  env["TF_CPP_MIN_LOG_LEVEL"] = "3"
  run = subprocess.run(
      [sys.executable, "-I", os.path.join(HERE, "serving_check.py"),
       saved_model, "-", inputs, out, loader], cwd=str(root), env=env,
      capture_output=True, text=True, timeout=180, check=False)
  assert run.returncode == 0, run.stderr[-3000:]
  child = np.load(out)
  return child["saved_model"], list(child["saved_model_ops"])


def _check(saved_model, root, expected, loader="v1"):
  logits, ops = _serve_in_child(saved_model, root, loader)
  assert "FusedBatchNormV3" in ops, ops
  assert not [op for op in ops if op.startswith("TfBnCompat")], ops
  np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)


def _ours_ran(before):
  """Asserts that our forward kernel ran since `before` (on our backend).

  With oneDNN on, grappler's remapper fuses this net's batch norm and relu
  into oneDNN's _FusedBatchNormEx, whose kernel is oneDNN's.
  """
  if _library.backend() == "custom" and not _pywrap_util_port.IsMklEnabled():
    assert _library.stock_kernel_runs()[0] > before[0]


def _train_in_session(sess, images, train_op):
  sess.run(v1.global_variables_initializer())
  for step in range(3):
    sess.run(train_op, {images: _data(step)})


def _train_op(images):
  logits = _net(images, training=True)
  with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
    return v1.train.GradientDescentOptimizer(0.1).minimize(
        tf.reduce_mean(tf.square(logits)))


def test_simple_save_of_the_inference_graph(tmp_path):
  before = _library.stock_kernel_runs()
  with tf.Graph().as_default():
    images = v1.placeholder(tf.float32, (None,) + SHAPE[1:], name="images")
    train_op = _train_op(images)
    logits = _net(images, training=False)
    with v1.Session() as sess:
      _train_in_session(sess, images, train_op)
      expected = sess.run(logits, {images: _data(100)})
      path = str(tmp_path / "simple_save")
      v1.saved_model.simple_save(sess, path, {"images": images},
                                 {"logits": logits})
  _ours_ran(before)
  _check(path, tmp_path, expected)


def test_builder_with_a_training_flag_placeholder(tmp_path):
  before = _library.stock_kernel_runs()
  with tf.Graph().as_default():
    images = v1.placeholder(tf.float32, (None,) + SHAPE[1:], name="images")
    training = v1.placeholder_with_default(False, [], name="training")
    logits = _net(images, training=training)
    with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
      train_op = v1.train.GradientDescentOptimizer(0.1).minimize(
          tf.reduce_mean(tf.square(logits)))
    with v1.Session() as sess:
      sess.run(v1.global_variables_initializer())
      for step in range(3):
        sess.run(train_op, {images: _data(step), training: True})
      expected = sess.run(logits, {images: _data(100)})
      path = str(tmp_path / "builder")
      builder = v1.saved_model.Builder(path)
      signature = v1.saved_model.predict_signature_def({"images": images},
                                                       {"logits": logits})
      builder.add_meta_graph_and_variables(
          sess, [tf.saved_model.SERVING],
          signature_def_map={"serving_default": signature})
      builder.save()
  _ours_ran(before)
  _check(path, tmp_path, expected)


class _Net(tf.Module):

  @tf_bn_compat.track_tf1_style_variables
  def __call__(self, x, training=False):
    return _net(x, training)


def _module_signature(call):
  spec = tf.TensorSpec((None,) + SHAPE[1:], tf.float32, name="images")
  return tf.function(lambda images: {"logits": call(images)},
                     input_signature=[spec])


@pytest.mark.eager_context
def test_saved_model_save_of_a_module(tmp_path):
  net = _Net()
  for step in range(3):
    net(tf.constant(_data(step)), training=True)
  serve = _module_signature(net)
  before = _library.stock_kernel_runs()
  expected = serve(tf.constant(_data(100)))["logits"].numpy()
  _ours_ran(before)
  path = str(tmp_path / "module")
  tf.saved_model.save(net, path, signatures={"serving_default": serve})
  _check(path, tmp_path, expected)


@pytest.mark.eager_context
def test_saved_model_save_of_a_keras_3_model(tmp_path):
  keras = pytest.importorskip("keras")
  if not keras.__version__.startswith("3."):
    pytest.skip("Keras 3 only")

  class Block(keras.layers.Layer):

    @tf_bn_compat.track_tf1_style_variables
    def call(self, x, training=False):
      return _net(x, training)

  model = keras.Sequential([keras.Input(SHAPE[1:]), Block()])
  for step in range(3):
    model(tf.constant(_data(step)), training=True)
  serve = _module_signature(lambda x: model(x, training=False))
  before = _library.stock_kernel_runs()
  expected = serve(tf.constant(_data(100)))["logits"].numpy()
  _ours_ran(before)
  path = str(tmp_path / "keras")
  tf.saved_model.save(model, path, signatures={"serving_default": serve})
  # TF1's loader cannot restore Keras 3's non-trainable variables (neither
  # for Keras' own BatchNormalization); TensorFlow 2's loader serves it.
  _check(path, tmp_path, expected, loader="tf2")
