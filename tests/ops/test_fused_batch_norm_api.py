"""`tf_bn_compat.ops.fused_batch_norm` keeps `tf.compat.v1.nn`'s contract.

Values are compared with TF's own function at float32 rounding of a
different summation order (1e-5); the argument rules and errors must be the
same. Both build TensorFlow's FusedBatchNormV3, which this process runs on
our kernels once they are registered, so TF's function runs in a child
Python that never loads our library (TF_BN_COMPAT_BACKEND=tf).
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import package_env
from tf_bn_compat import ops

LAYOUTS = {
    "NHWC": (4, 5, 6, 3),
    "NCHW": (4, 3, 5, 6),
    "NDHWC": (2, 3, 4, 5, 3),
    "NCDHW": (2, 3, 3, 4, 5),
}


def _inputs(shape, data_format, dtype):
  rng = np.random.RandomState(7)
  channels = shape[1] if data_format.startswith("NC") else shape[-1]
  x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
  params = [rng.uniform(0.5, 1.5, channels).astype(np.float32)
            for _ in range(4)]
  return x, params


def _run(fn, x, params, **kwargs):
  with tf.Graph().as_default():
    scale, offset, mean, variance = [tf.constant(p) for p in params]
    xt = tf.constant(x)
    outputs = fn(xt, scale, offset, mean=mean, variance=variance, **kwargs)
    dy = tf.cos(tf.cast(outputs[0], tf.float32))
    grads = tf.gradients(outputs[0], [xt, scale, offset], grad_ys=[
        tf.cast(dy, xt.dtype)])
    with tf.compat.v1.Session() as sess:
      return sess.run(list(outputs) + grads)


MATCH_CASES = [(data_format, is_training, factor, dtype)
               for data_format in sorted(LAYOUTS)
               for is_training in (True, False)
               for factor in (1.0, 0.25)
               for dtype in ("float32", "float16")]
EPSILONS = [1e-7, 0.0, 0.5]


def _match_case(data_format, is_training, factor, dtype):
  x, params = _inputs(LAYOUTS[data_format], data_format, dtype)
  return x, params, dict(epsilon=0.01, data_format=data_format,
                         is_training=is_training,
                         exponential_avg_factor=factor)


def _epsilon_case(epsilon):
  x, params = _inputs(LAYOUTS["NHWC"], "NHWC", "float32")
  # Channel 0 has variance 1e-6, so its output depends strongly on epsilon
  # (a clamp to 1e-5 would shrink it threefold). Its values sit on 1.0 with
  # a spread of 1e-3: float32 keeps x - mean to ~6e-5 relative, hence 1e-3.
  noise = np.random.RandomState(3).standard_normal(x.shape[:-1])
  x[..., 0] = 1.0 + 1e-3 * noise
  return x, params, dict(epsilon=epsilon, is_training=True)


def tf_results():
  """TF's function on every compared case: {"match_i_k" / "eps_i_k": array}."""
  out = {}
  for prefix, cases in (("match", [_match_case(*c) for c in MATCH_CASES]),
                        ("eps", [_epsilon_case(e) for e in EPSILONS])):
    for i, (x, params, kwargs) in enumerate(cases):
      values = _run(tf.compat.v1.nn.fused_batch_norm, x, params, **kwargs)
      for k, value in enumerate(values):
        out["%s_%d_%d" % (prefix, i, k)] = np.asarray(value)
  return out


_CHILD = """
import os
import sys
import numpy as np
sys.path[:0] = sys.argv[1].split(os.pathsep)
import test_fused_batch_norm_api as module
np.savez(sys.argv[2], **module.tf_results())
with open("/proc/self/maps") as f:
  assert "_tf_bn_compat_ops" not in f.read()
"""


@pytest.fixture(scope="module")
def theirs(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("tf_function") / "theirs.npz")
  run = subprocess.run(
      [sys.executable, "-c", _CHILD, os.pathsep.join(
          [os.path.dirname(os.path.abspath(__file__)), package_env.TESTS]),
       out], capture_output=True, text=True, timeout=600,
      check=False, env=package_env.child_env(TF_BN_COMPAT_BACKEND="tf"))
  assert run.returncode == 0, run.stderr[-3000:]
  results = dict(np.load(out))

  def get(prefix, i, count):
    return [results["%s_%d_%d" % (prefix, i, k)] for k in range(count)]
  return get


@pytest.mark.parametrize("case", range(len(MATCH_CASES)),
                         ids=["-".join(map(str, c)) for c in MATCH_CASES])
def test_matches_tf_function(theirs, case):
  x, params, kwargs = _match_case(*MATCH_CASES[case])
  dtype = MATCH_CASES[case][3]
  ours = _run(ops.fused_batch_norm, x, params, **kwargs)
  theirs = theirs("match", case, len(ours))
  tol = 1e-5 if dtype == "float32" else 1e-2
  assert [np.asarray(a).dtype for a in ours] == [
      np.asarray(b).dtype for b in theirs]
  for i, (a, b) in enumerate(zip(ours, theirs)):
    np.testing.assert_allclose(np.asarray(a, np.float64),
                               np.asarray(b, np.float64), rtol=tol,
                               atol=tol * 10, err_msg="output %d" % i)


def test_runs_our_kernels_on_the_compiled_backend():
  from tf_bn_compat.ops import _library  # pylint: disable=g-import-not-at-top
  if _library.backend() != "custom":
    pytest.skip("backend is %r" % _library.backend())
  before = _library.stock_kernel_runs()
  x, params, kwargs = _match_case("NCHW", True, 1.0, "float32")
  _run(ops.fused_batch_norm, x, params, **kwargs)
  after = _library.stock_kernel_runs()
  assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


def test_training_without_running_statistics():
  x, params = _inputs(LAYOUTS["NHWC"], "NHWC", "float32")
  with tf.Graph().as_default():
    y, mean, var = ops.fused_batch_norm(x, params[0], params[1])
    with tf.compat.v1.Session() as sess:
      _, mean_v, var_v = sess.run([y, mean, var])
  flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
  np.testing.assert_allclose(mean_v, flat.mean(0), rtol=1e-5)
  np.testing.assert_allclose(var_v, flat.var(0, ddof=1), rtol=1e-5)


@pytest.mark.parametrize("kwargs", [
    dict(is_training=False),
    dict(is_training=True, exponential_avg_factor=0.5),
], ids=["inference", "running_average"])
def test_missing_statistics_raise_value_error(kwargs):
  with tf.Graph().as_default():
    x = tf.zeros([2, 2, 2, 3])
    with pytest.raises(ValueError, match="mean"):
      ops.fused_batch_norm(x, tf.ones([3]), tf.zeros([3]), **kwargs)


@pytest.mark.parametrize("builder,error", [
    (lambda: ops.fused_batch_norm(tf.zeros([2, 3]), tf.ones([3]),
                                  tf.zeros([3])), ValueError),
    (lambda: ops.fused_batch_norm(tf.zeros([2, 2, 2, 3]), tf.ones([4]),
                                  tf.zeros([4])), ValueError),
    (lambda: ops.fused_batch_norm(tf.zeros([2, 2, 2, 3], tf.float64),
                                  tf.ones([3]), tf.zeros([3])),
     (TypeError, ValueError)),
    (lambda: ops.fused_batch_norm(tf.zeros([2, 2, 2, 3]), tf.ones([3]),
                                  tf.zeros([3]), data_format="HWCN"),
     (ValueError, tf.errors.InvalidArgumentError)),
], ids=["rank2", "channel_mismatch", "float64", "data_format"])
def test_bad_arguments_raise_at_graph_construction(builder, error):
  with tf.Graph().as_default():
    with pytest.raises(error):
      builder()


@pytest.mark.parametrize("case", range(len(EPSILONS)),
                         ids=[str(e) for e in EPSILONS])
def test_epsilon_is_passed_through_like_tf(theirs, case):
  x, params, kwargs = _epsilon_case(EPSILONS[case])
  ours = _run(ops.fused_batch_norm, x, params, **kwargs)
  theirs = theirs("eps", case, len(ours))
  np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-3, atol=1e-3)
