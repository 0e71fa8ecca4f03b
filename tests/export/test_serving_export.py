"""Serving exports of a model trained with our fused layer: stock ops only.

A small convnet with our fused batch norm is trained a few steps, then its
inference graph (training=False) is exported as a SavedModel and as a frozen
GraphDef. A fresh Python (`-I`: no PYTHONPATH, no current directory), which
never imports tf_bn_compat nor loads its op library, loads both and runs
them.

Tolerance 1e-5: the graphs hold TensorFlow's FusedBatchNormV3, which runs on
our kernels in-process and on TensorFlow's in the child. In inference both
compute `(x - mean) * scale / sqrt(variance + epsilon) + offset` per element,
with the operations grouped differently, so results differ by float32 rounding
(a few ulp of values of magnitude ~1-10, i.e. ~1e-6); the rest of the graph is
identical.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.util import _pywrap_util_port  # pylint: disable=g-direct-tensorflow-import

from tf_bn_compat import export
from tf_bn_compat import layers
from tf_bn_compat.ops import _library

SHAPE = (16, 8, 8, 3)
HERE = os.path.dirname(os.path.abspath(__file__))


def _net(x, bn, training):
  with tf.compat.v1.variable_scope("net", reuse=tf.compat.v1.AUTO_REUSE):
    kernel = tf.compat.v1.get_variable("conv/kernel", [3, 3, 3, 4])
    h = tf.nn.conv2d(x, kernel, strides=1, padding="SAME")
    h = tf.nn.relu(bn(h, training=training))
    h = tf.reduce_mean(h, axis=[1, 2])
    w = tf.compat.v1.get_variable("dense/kernel", [4, 2])
    b = tf.compat.v1.get_variable("dense/bias", [2],
                                  initializer=tf.compat.v1.zeros_initializer())
    return tf.matmul(h, w) + b


def _data(seed):
  rng = np.random.RandomState(seed)
  x = (rng.standard_normal(SHAPE) * 2.0 + 1.0).astype(np.float32)
  return x, (x[:, :4, :4, 0].mean(axis=(1, 2)) > 1.0).astype(np.int64)


def _op_types(graph_def):
  ops = {n.op for n in graph_def.node}
  for function in graph_def.library.function:
    ops.update(n.op for n in function.node_def)
  return ops


def _no_ours(ops):
  return [op for op in ops if op.startswith("TfBnCompat")]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  """Trains, exports; returns paths, the test input and in-process logits."""
  root = tmp_path_factory.mktemp("serving")
  graph = tf.Graph()
  with graph.as_default():
    tf.compat.v1.set_random_seed(7)
    images = tf.compat.v1.placeholder(tf.float32, (None,) + SHAPE[1:],
                                      name="images")
    labels = tf.compat.v1.placeholder(tf.int64, [None], name="labels")
    bn = layers.BatchNormalization(fused=True)
    train_logits = _net(images, bn, training=True)
    logits = tf.identity(_net(images, bn, training=False), name="logits")
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels,
                                                            train_logits)
    updates = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
    with tf.control_dependencies(updates):
      train = tf.compat.v1.train.AdamOptimizer(0.01).minimize(loss)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      before = _library.stock_kernel_runs()
      for step in range(5):
        x, y = _data(step)
        sess.run(train, {images: x, labels: y})
      after = _library.stock_kernel_runs()
      moving_mean = sess.run(bn.moving_mean)
      x_test, _ = _data(100)
      expected = sess.run(logits, {images: x_test})
      saved_model = export.export_saved_model(
          sess, str(root / "saved_model"), {"images": images},
          {"logits": logits})
      frozen = export.freeze_for_serving(sess, ["logits"])
  frozen_pb = str(root / "frozen.pb")
  with open(frozen_pb, "wb") as f:
    f.write(frozen.SerializeToString())
  inputs = str(root / "inputs.npz")
  np.savez(inputs, x=x_test)
  return dict(graph_def=graph.as_graph_def(), frozen=frozen,
              saved_model=saved_model, frozen_pb=frozen_pb, inputs=inputs,
              expected=expected, moving_mean=moving_mean, root=root,
              runs=(after[0] - before[0], after[1] - before[1]))


def _require_custom_backend():
  if _library.backend() != "custom":
    pytest.skip("backend is %r: the compiled op library is not loaded" %
                _library.backend())


def test_in_process_graph_holds_the_stock_op_run_by_our_kernels(exported):
  ops = _op_types(exported["graph_def"])
  assert {"FusedBatchNormV3", "FusedBatchNormGradV3"} <= ops
  assert not _no_ours(ops)
  _require_custom_backend()
  forward, grad = exported["runs"]
  assert grad == 5
  # With oneDNN on, grappler fuses the batch norm and relu of the forward
  # into oneDNN's _FusedBatchNormEx, whose kernel is oneDNN's.
  assert forward == (0 if _pywrap_util_port.IsMklEnabled() else 5)


def test_rewrite_refuses_a_training_graph_of_our_own_op():
  _require_custom_backend()
  from tf_bn_compat.ops import _custom_op  # pylint: disable=g-import-not-at-top
  with tf.Graph().as_default() as graph:
    x = tf.compat.v1.placeholder(tf.float32, SHAPE)
    y, _, _ = _custom_op.custom_fused_batch_norm(x, tf.ones([3]),
                                                 tf.zeros([3]))
    tf.gradients(y, x)
  assert export.OUR_FUSED_OP in _op_types(graph.as_graph_def())
  # The gradient reads outputs 3 and 4 of the training-mode node.
  with pytest.raises(ValueError, match="outputs read by"):
    export.rewrite_for_serving(graph.as_graph_def())


def test_exported_graphs_have_stock_ops_only(exported):
  assert not _no_ours(_op_types(exported["frozen"]))
  assert "FusedBatchNormV3" in _op_types(exported["frozen"])
  assert not np.allclose(exported["moving_mean"], 0)  # Trained statistics.


def test_fresh_process_runs_both_exports(exported):
  out = str(exported["root"] / "child.npz")
  env = {k: v for k, v in os.environ.items()
         if k not in ("PYTHONPATH", "TF_BN_COMPAT_OPS_LIBRARY")}
  env["TF_CPP_MIN_LOG_LEVEL"] = "3"
  run = subprocess.run(
      [sys.executable, "-I", os.path.join(HERE, "serving_check.py"),
       exported["saved_model"], exported["frozen_pb"], exported["inputs"],
       out], cwd=str(exported["root"]), env=env, capture_output=True,
      text=True, timeout=120, check=False)
  assert run.returncode == 0, run.stderr[-3000:]
  child = np.load(out)
  for key in ("saved_model_ops", "frozen_ops"):
    ops = list(child[key])
    assert "FusedBatchNormV3" in ops and not _no_ours(ops), (key, ops)
  for key in ("saved_model", "frozen"):
    np.testing.assert_allclose(child[key], exported["expected"], rtol=1e-5,
                               atol=1e-5, err_msg=key)


def test_rewrite_refuses_readers_of_outputs_3_and_4():
  graph_def = tf.compat.v1.GraphDef()
  node = graph_def.node.add(name="bn", op=export.OUR_FUSED_OP)
  node.input.extend(["x", "s", "o", "m", "v"])
  graph_def.node.add(name="reader", op="Identity").input.append("bn:4")
  graph_def.node.add(name="ok", op="Identity").input.append("bn:2")
  with pytest.raises(ValueError, match=r"'bn'.*reader \(output 4\)"):
    export.rewrite_for_serving(graph_def)
  del graph_def.node[1]
  rewritten = export.rewrite_for_serving(graph_def)
  assert rewritten.node[0].op == "FusedBatchNormV3"
  assert graph_def.node[0].op == export.OUR_FUSED_OP  # Input unchanged.


def test_freeze_unknown_output():
  with tf.Graph().as_default():
    tf.constant(1.0, name="c")
    with tf.compat.v1.Session() as sess:
      with pytest.raises(ValueError, match="no node named 'nope'"):
        export.freeze_for_serving(sess, ["nope:0"])
