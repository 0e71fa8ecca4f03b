"""The layer's fused path runs our kernels on TensorFlow's op; the fallback
is explicit."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import package_env
import parity
from tf_bn_compat.ops import _library


def _op_types(config, backend, monkeypatch, rank=4, run=False):
  """Op types of a training + inference graph; with `run`, also the calls
  of our stock-op kernels (forward, gradient) while running it."""
  monkeypatch.setenv("TF_BN_COMPAT_BACKEND", backend)
  with tf.Graph().as_default() as graph:
    x = tf.compat.v1.placeholder(tf.float32, [None] + [3] * (rank - 1))
    # Python bools keep the ops in this graph (a bool tensor would put them
    # in the bodies of a v2 `If`).
    layer = parity.ours_module().BatchNormalization(**config)
    fetches = tf.gradients(layer(x, training=True), x)
    fetches.append(layer(x, training=False))
    types = {op.type for op in graph.get_operations()}
    if not run:
      return types
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      before = _library.stock_kernel_runs()
      sess.run(fetches, {x: np.ones([2] + [3] * (rank - 1), np.float32)})
      after = _library.stock_kernel_runs()
    return types, (after[0] - before[0], after[1] - before[1])


@pytest.mark.parametrize("config,rank", [({}, 4), ({"axis": 1}, 4),
                                         ({}, 5), ({"axis": 1}, 5)],
                         ids=["nhwc", "nchw", "ndhwc", "ncdhw"])
def test_fused_layers_run_our_kernels_on_tensorflows_op(monkeypatch, config,
                                                       rank):
  types, runs = _op_types(config, "custom", monkeypatch, rank, run=True)
  assert {"FusedBatchNormV3", "FusedBatchNormGradV3"} <= types
  assert not any(t.startswith("TfBnCompat") for t in types)
  # Training and inference forward, and the gradient, each ran ours (with
  # oneDNN on too: the renamed nodes get our kernels).
  assert runs == (2, 1)


def test_tf_backend_runs_on_tensorflows_op(monkeypatch):
  types = _op_types({}, "tf", monkeypatch)
  assert "FusedBatchNormV3" in types
  assert not any(t.startswith("TfBnCompat") for t in types)


def test_composite_layers_use_no_fused_op(monkeypatch):
  types = _op_types({"fused": False}, "custom", monkeypatch)
  assert not any("FusedBatchNorm" in t for t in types)


def _run_script(code, **env_overrides):
  env = package_env.child_env(**env_overrides)
  return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                        capture_output=True, text=True, env=env, timeout=300,
                        check=False)


FALLBACK_SCRIPT = """
    import warnings
    import tensorflow as tf
    import tf_bn_compat
    with warnings.catch_warnings(record=True) as caught:
      warnings.simplefilter("always")
      with tf.Graph().as_default() as graph:
        x = tf.zeros([2, 3, 3, 4])
        for _ in range(3):
          tf_bn_compat.layers.batch_normalization(x, training=True)
        types = {op.type for op in graph.get_operations()}
    ours = [w for w in caught if "tf_bn_compat" in str(w.message)]
    print("WARNINGS", len(ours), "TF_OP", "FusedBatchNormV3" in types)
"""


def test_missing_library_falls_back_with_one_warning():
  result = _run_script(FALLBACK_SCRIPT,
                       TF_BN_COMPAT_OPS_LIBRARY="/nonexistent/ops.so")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "WARNINGS 1 TF_OP True" in result.stdout


def test_forced_custom_backend_without_library_is_an_error():
  result = _run_script(FALLBACK_SCRIPT,
                       TF_BN_COMPAT_OPS_LIBRARY="/nonexistent/ops.so",
                       TF_BN_COMPAT_BACKEND="custom")
  assert result.returncode != 0
  assert "TF_BN_COMPAT_BACKEND=custom" in result.stderr


@pytest.mark.parametrize("data_format,shape", [("NHWC", [2, 3, 3, 4]),
                                               ("NCDHW", [2, 4, 3, 3, 3])])
def test_forward_op_carries_epsilon_and_data_format(monkeypatch, data_format,
                                                    shape):
  monkeypatch.setenv("TF_BN_COMPAT_BACKEND", "custom")
  from tf_bn_compat import ops  # pylint: disable=g-import-not-at-top
  with tf.Graph().as_default():
    y, _, _ = ops.fused_batch_norm(tf.zeros(shape), tf.ones([4]),
                                   tf.zeros([4]), epsilon=0.25,
                                   data_format=data_format)
    op = y.op
    assert op.type == "FusedBatchNormV3"
    assert op.get_attr("epsilon") == 0.25
    assert op.get_attr("data_format").decode() == data_format
    assert op.get_attr("is_training") is True
