"""Our ops' errors are TensorFlow's, word for word.

Every check FusedBatchNormV3 / FusedBatchNormGradV3 make at run time (rank,
1-D per-channel inputs, channel counts, the gradient's shapes) and at graph
construction (shape functions), on both sides; messages compared after
taking op and node names out. TF's run-time texts come from a child process
with TF_ENABLE_ONEDNN_OPTS=0: that is TF's portable kernel, whose texts we
keep; the oneDNN kernel TF picks on some CPUs words them differently.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import fuzz_raw_ops

# (name, op, shapes of the five inputs, attrs).
RUNTIME_CASES = [
    ("rank3", "forward", [(2, 2, 2), (2,), (2,), (2,), (2,)], {}),
    ("rank6", "forward", [(1, 1, 2, 2, 2, 2), (2,), (2,), (2,), (2,)], {}),
    ("scale_2d", "forward", [(2, 2, 2, 2), (1, 2), (2,), (2,), (2,)], {}),
    ("offset_2d", "forward", [(2, 2, 2, 2), (2,), (2, 1), (2,), (2,)], {}),
    ("mean_2d", "forward", [(2, 2, 2, 2), (2,), (2,), (1, 2), (2,)], {}),
    ("variance_0d", "forward", [(2, 2, 2, 2), (2,), (2,), (2,), ()], {}),
    ("scale_len", "forward", [(2, 2, 2, 2), (3,), (2,), (2,), (2,)], {}),
    ("offset_len", "forward", [(2, 2, 2, 2), (2,), (3,), (2,), (2,)], {}),
    ("inference_mean", "forward", [(2, 2, 2, 2), (2,), (2,), (0,), (2,)],
     {"is_training": False}),
    ("inference_variance", "forward", [(2, 2, 2, 2), (2,), (2,), (2,), (3,)],
     {"is_training": False}),
    ("factor_mean", "forward", [(2, 2, 2, 2), (2,), (2,), (3,), (2,)],
     {"exponential_avg_factor": 0.5}),
    ("factor_variance", "forward", [(2, 2, 2, 2), (2,), (2,), (2,), (0,)],
     {"exponential_avg_factor": 0.5}),
    ("channels_first_5d", "forward", [(1, 3, 2, 2, 2), (2,), (3,), (3,), (3,)],
     {"data_format": "NCDHW"}),
    ("huge_channel_count", "forward", [(0, 1, 1, 2**31), (3,), (3,), (3,),
                                       (3,)], {}),
    ("grad_dy_rank", "grad", [(2, 2, 2), (2, 2, 2, 2), (2,), (2,), (2,)], {}),
    ("grad_x_rank", "grad", [(2, 2, 2, 2), (2, 2, 2), (2,), (2,), (2,)], {}),
    ("grad_scale_2d", "grad", [(2, 2, 2, 2), (2, 2, 2, 2), (1, 2), (2,),
                               (2,)], {}),
    ("grad_mean_2d", "grad", [(2, 2, 2, 2), (2, 2, 2, 2), (2,), (1, 2),
                              (2,)], {}),
    ("grad_variance_2d", "grad", [(2, 2, 2, 2), (2, 2, 2, 2), (2,), (2,),
                                  (2, 1)], {}),
    ("grad_shapes", "grad", [(2, 2, 2, 3), (2, 2, 2, 2), (2,), (2,), (2,)],
     {}),
    ("grad_batch", "grad", [(3, 2, 2, 2), (2, 2, 2, 2), (2,), (2,), (2,)], {}),
    ("grad_scale_len", "grad", [(2, 2, 2, 2), (2, 2, 2, 2), (3,), (2,), (2,)],
     {}),
    ("grad_reserve_1", "grad", [(2, 2, 2, 2), (2, 2, 2, 2), (2,), (3,), (2,)],
     {}),
    ("grad_reserve_2", "grad", [(2, 2, 2, 2), (2, 2, 2, 2), (2,), (2,), (1,)],
     {}),
]

_TF_CHILD = r"""
import json, sys
import tensorflow as tf
out = {}
for name, op, shapes, attrs in json.loads(sys.stdin.read()):
  t = [tf.ones(s) for s in shapes]
  try:
    if op == "forward":
      tf.raw_ops.FusedBatchNormV3(x=t[0], scale=t[1], offset=t[2], mean=t[3],
                                  variance=t[4], **attrs)
    else:
      tf.raw_ops.FusedBatchNormGradV3(
          y_backprop=t[0], x=t[1], scale=t[2], reserve_space_1=t[3],
          reserve_space_2=t[4], reserve_space_3=tf.zeros([0]), **attrs)
    out[name] = None
  except Exception as e:
    out[name] = [type(e).__name__, str(e)]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def tf_runtime_errors():
  env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="0", TF_CPP_MIN_LOG_LEVEL="3")
  result = subprocess.run([sys.executable, "-c", _TF_CHILD],
                          input=json.dumps(RUNTIME_CASES), env=env,
                          capture_output=True, text=True, timeout=300,
                          check=True)
  return json.loads(result.stdout.strip().splitlines()[-1])


def _ours(bn_ops, op, shapes, attrs):
  t = [tf.ones(s) for s in shapes]
  if op == "forward":
    return bn_ops.tf_bn_compat_fused_batch_norm(*t, **attrs)
  return bn_ops.tf_bn_compat_fused_batch_norm_grad(*t, **attrs)


@pytest.mark.parametrize("name,op,shapes,attrs", RUNTIME_CASES,
                         ids=[c[0] for c in RUNTIME_CASES])
def test_runtime_error_texts_are_tfs(bn_ops, tf_runtime_errors, name, op,
                                     shapes, attrs):
  want = tf_runtime_errors[name]
  assert want is not None, "TF accepts %s: not an error case" % name
  with pytest.raises(tf.errors.OpError) as info:
    _ours(bn_ops, op, shapes, attrs)
  assert type(info.value).__name__ == want[0]
  assert (fuzz_raw_ops.normalize_message(str(info.value)) ==
          fuzz_raw_ops.normalize_message(want[1]))


def _node_free(message):
  """A shape function's message without its node and op names.

  The input shapes it lists are cut to our ops' five inputs (TF's gradient
  has a sixth, reserve_space_3).
  """
  text = str(message)
  if " for '" in text:
    head, rest = text.split(" for '", 1)
    text = head + " for <node> " + rest.split("' ", 1)[-1]
  marker = "with input shapes: "
  if marker in text:
    head, shapes = text.split(marker, 1)
    text = head + marker + ", ".join(re.findall(r"\[[^\]]*\]", shapes)[:5])
  return text


def _graph_error(build):
  with tf.Graph().as_default():
    try:
      build()
    except ValueError as e:
      return _node_free(e)
  return None


def _tf_build(op, shapes, attrs):
  t = [tf.compat.v1.placeholder(tf.float32, s) for s in shapes]
  if op == "forward":
    return tf.raw_ops.FusedBatchNormV3(x=t[0], scale=t[1], offset=t[2],
                                       mean=t[3], variance=t[4], **attrs)
  return tf.raw_ops.FusedBatchNormGradV3(
      y_backprop=t[0], x=t[1], scale=t[2], reserve_space_1=t[3],
      reserve_space_2=t[4], reserve_space_3=tf.zeros([0]), **attrs)


GRAPH_CASES = [
    ("rank3", "forward", [(2, 2, 2), (2,), (2,), (2,), (2,)], {}),
    ("rank5_for_NHWC", "forward", [(1, 2, 2, 2, 2), (2,), (2,), (2,), (2,)],
     {}),
    ("rank4_for_NCDHW", "forward", [(2, 2, 2, 2), (2,), (2,), (2,), (2,)],
     {"data_format": "NCDHW"}),
    ("scale_2d", "forward", [(2, 2, 2, 2), (1, 2), (2,), (2,), (2,)], {}),
    ("scale_len", "forward", [(2, 2, 2, 2), (3,), (2,), (2,), (2,)], {}),
    ("offset_len", "forward", [(2, 2, 2, 2), (2,), (3,), (2,), (2,)], {}),
    ("inference_mean", "forward", [(2, 2, 2, 2), (2,), (2,), (3,), (2,)],
     {"is_training": False}),
    ("factor_variance", "forward", [(2, 2, 2, 2), (2,), (2,), (2,), (3,)],
     {"exponential_avg_factor": 0.5}),
    ("grad_rank", "grad", [(2, 2, 2), (2, 2, 2), (2,), (2,), (2,)], {}),
    ("grad_channels", "grad", [(2, 2, 2, 3), (2, 2, 2, 2), (2,), (2,), (2,)],
     {}),
    ("grad_reserve_2", "grad", [(2, 2, 2, 2), (2, 2, 2, 2), (2,), (2,), (3,)],
     {}),
]


@pytest.mark.parametrize("name,op,shapes,attrs", GRAPH_CASES,
                         ids=[c[0] for c in GRAPH_CASES])
def test_graph_construction_errors_are_tfs(bn_ops, name, op, shapes, attrs):
  del name
  want = _graph_error(lambda: _tf_build(op, shapes, attrs))
  assert want is not None
  ours = _graph_error(lambda: _ours_graph(bn_ops, op, shapes, attrs))
  assert ours == want


def _ours_graph(bn_ops, op, shapes, attrs):
  t = [tf.compat.v1.placeholder(tf.float32, s) for s in shapes]
  if op == "forward":
    return bn_ops.tf_bn_compat_fused_batch_norm(*t, **attrs)
  return bn_ops.tf_bn_compat_fused_batch_norm_grad(*t, **attrs)


@pytest.mark.parametrize("shapes,attrs", [
    ([(2, 2, 2, 2), (2,), (2,), (3,), (0,)], {}),          # stats unread
    ([(3, 2, 2, 2), (2, 2, 2, 2), (2,), (2,), (2,)], {}),  # checked later
], ids=["unread_statistics", "gradient_batch_size"])
def test_graph_construction_accepts_what_tf_accepts(bn_ops, shapes, attrs):
  op = "forward" if len(shapes[1]) == 1 else "grad"
  assert _graph_error(lambda: _tf_build(op, shapes, attrs)) is None
  assert _graph_error(lambda: _ours_graph(bn_ops, op, shapes, attrs)) is None


def test_wrapper_value_error_is_tfs():
  from tf_bn_compat import ops  # pylint: disable=g-import-not-at-top
  x = np.zeros((2, 2, 2, 2), np.float32)
  c = np.ones(2, np.float32)
  messages = []
  for fn in (ops.fused_batch_norm, tf.compat.v1.nn.fused_batch_norm):
    with tf.Graph().as_default():
      with pytest.raises(ValueError) as info:
        fn(x, c, c, mean=c, is_training=False)
      messages.append(str(info.value))
  assert messages[0] == messages[1]
