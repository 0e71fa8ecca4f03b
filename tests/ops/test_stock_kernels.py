"""Our kernels for TensorFlow's FusedBatchNormV3 / FusedBatchNormGradV3.

Differential: the same graphs of the stock ops run in a child Python that
registered our kernels and in children that never loaded our library
(TensorFlow's kernels; oneDNN's where TF_ENABLE_ONEDNN_OPTS=1 renames the
nodes). Every output is compared: y and the statistics, the reserve spaces
of training (values and shapes; in inference TensorFlow leaves them
unwritten, so only shapes), gradients, and FusedBatchNormGradV3 fed the
reserve spaces either kernel produced.

Tolerances: float32 rtol 2e-5 / atol 2e-5 (both kernels sum in a different
order; gradients sum products over 120 elements); float16 and bfloat16 y
and dx compare to 2 ulp of their type (1e-2 / 2e-2 relative); their
float32 statistics as float32.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import package_env

CHILD = textwrap.dedent(r"""
    import sys
    import numpy as np
    import tensorflow as tf
    mode, out, feed = sys.argv[1:4]
    if mode == "ours":
      from tf_bn_compat.ops import _library
      _library.enable_stock_kernels()
    tf.compat.v1.disable_eager_execution()
    CASES = %s
    other = dict(np.load(feed)) if feed != "-" else {}
    results = {}
    for i, (fmt, shape, dtype, training, factor) in enumerate(CASES):
      rng = np.random.RandomState(i)
      c = shape[1] if fmt.startswith("NC") else shape[-1]
      arrays = [rng.randn(*shape) * 3 + 1, rng.rand(c) + .5, rng.randn(c),
                rng.randn(c), rng.rand(c) + .5, rng.randn(*shape)]
      with tf.Graph().as_default():
        feeds = {}
        def ph(a):
          p = tf.compat.v1.placeholder(tf.float32, a.shape)
          feeds[p] = a.astype(np.float32)
          return p
        xf, s, o, m, v, dyf = [ph(a) for a in arrays]
        x, dy = tf.cast(xf, dtype), tf.cast(dyf, dtype)
        attrs = dict(epsilon=1e-3, data_format=fmt, is_training=training)
        outs = tf.raw_ops.FusedBatchNormV3(
            x=x, scale=s, offset=o, mean=m, variance=v,
            exponential_avg_factor=factor, **attrs)
        fetch = list(outs) + tf.gradients(outs[0], [x, s, o], grad_ys=dy)
        if training:
          spaces = [list(outs[3:])]
          if other:
            spaces.append([ph(other["%%d_%%d" %% (i, k)]) for k in (3, 4)] +
                          [ph(other["%%d_5" %% i])])
          for rs in spaces:
            fetch += tf.raw_ops.FusedBatchNormGradV3(
                y_backprop=dy, x=x, scale=s, reserve_space_1=rs[0],
                reserve_space_2=rs[1], reserve_space_3=rs[2], **attrs)[:3]
        with tf.compat.v1.Session() as sess:
          values = sess.run(fetch, feeds)
      for k, value in enumerate(values):
        results["%%d_%%d" %% (i, k)] = np.asarray(value, np.float32)
    with open("/proc/self/maps") as f:
      results["loaded"] = np.array("_tf_bn_compat_ops" in f.read())
    if mode == "ours":
      results["runs"] = np.array(_library.stock_kernel_runs())
    np.savez(out, **results)
""")

CASES = [
    ("NHWC", (2, 4, 5, 6), "float32", True, 1.0),
    ("NHWC", (2, 4, 5, 6), "float32", True, 0.4),
    ("NHWC", (2, 4, 5, 6), "float32", False, 1.0),
    ("NCHW", (2, 6, 4, 5), "float32", True, 1.0),
    ("NCHW", (2, 6, 4, 5), "float32", False, 1.0),
    ("NDHWC", (2, 2, 3, 4, 6), "float16", True, 1.0),
    ("NCDHW", (2, 6, 2, 3, 4), "float32", True, 0.4),
    ("NHWC", (2, 4, 5, 6), "bfloat16", True, 1.0),
]
# Output indices: 0-5 forward, 6-8 tf.gradients, then (training) the raw
# gradient fed its own reserve spaces, 9-11, and the other kernel's, 12-14.
_LOW = {"float16": 1e-2, "bfloat16": 2e-2}


def _child(tmp_path, mode, feed="-", **env):
  out = str(tmp_path / ("%s_%s.npz" % (mode, os.path.basename(feed))))
  script = tmp_path / "child.py"
  script.write_text(CHILD % repr(CASES))
  run = subprocess.run(
      [sys.executable, str(script), mode, out, feed], capture_output=True,
      text=True, timeout=300, check=False,
      env=package_env.child_env(**env))
  assert run.returncode == 0, run.stderr[-3000:]
  return dict(np.load(out)), out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("stock")
  theirs, theirs_path = _child(tmp, "tf", TF_BN_COMPAT_BACKEND="tf")
  ours, ours_path = _child(tmp, "ours", feed=theirs_path)
  theirs_fed_ours, _ = _child(tmp, "tf", feed=ours_path,
                              TF_BN_COMPAT_BACKEND="tf")
  return ours, theirs, theirs_fed_ours


def _close(got, want, dtype, index, what):
  low = _LOW.get(dtype)
  rtol = low if low and index in (0, 6, 9, 12) else 2e-5
  assert got.shape == want.shape, what
  np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, err_msg=what)


def test_our_kernels_ran_and_theirs_did_not_load_us(runs):
  ours, theirs, theirs_fed_ours = runs
  assert not theirs["loaded"] and not theirs_fed_ours["loaded"]
  assert ours["loaded"]
  # Every forward, and every gradient (3 per training case, 1 otherwise).
  training = sum(1 for case in CASES if case[3])
  assert tuple(ours["runs"]) == (len(CASES), len(CASES) + 2 * training)


@pytest.mark.parametrize("i", range(len(CASES)),
                         ids=["-".join(map(str, c[:5])) for c in CASES])
def test_outputs_match_tensorflows_kernel(runs, i):
  ours, theirs, theirs_fed_ours = runs
  fmt, _, dtype, training, _ = CASES[i]
  count = 15 if training else 9
  for k in range(count):
    key = "%d_%d" % (i, k)
    if not training and k in (3, 4, 5):
      assert ours[key].shape == theirs[key].shape, key
      continue
    if k >= 12:
      # Ours fed TF's reserve spaces == TF fed its own; TF fed ours == ours.
      own = "%d_%d" % (i, k - 3)
      _close(ours[key], theirs[own], dtype, k, key + " ours(theirs)")
      _close(theirs_fed_ours[key], ours[own], dtype, k, key + " theirs(ours)")
    else:
      _close(ours[key], theirs[key], dtype, k, "%s %s" % (key, fmt))


OPT_OUT = textwrap.dedent("""
    import numpy as np
    import tensorflow as tf
    import tf_bn_compat
    with tf.Graph().as_default() as graph:
      x = tf.compat.v1.placeholder(tf.float32, [2, 3, 3, 4])
      y = tf_bn_compat.layers.batch_normalization(x, training=True)
      grad = tf.gradients(y, x)
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run(grad, {x: np.ones([2, 3, 3, 4])})
    with open("/proc/self/maps") as f:
      loaded = "_tf_bn_compat_ops" in f.read()
    print("LOADED", loaded, "TYPES",
          sorted(o.type for o in graph.get_operations() if "Norm" in o.type))
""")


def test_tf_backend_keeps_tensorflows_kernels():
  run = subprocess.run([sys.executable, "-c", OPT_OUT], capture_output=True,
                       text=True, timeout=300, check=False,
                       env=package_env.child_env(TF_BN_COMPAT_BACKEND="tf"))
  assert run.returncode == 0, run.stderr[-3000:]
  assert ("LOADED False TYPES ['FusedBatchNormGradV3', 'FusedBatchNormV3']"
          in run.stdout), run.stdout


EAGER = textwrap.dedent("""
    import tensorflow as tf
    from tf_bn_compat.ops import _library
    x, c = tf.ones([2, 3, 3, 4]), tf.ones([4])
    def bn(epsilon):
      tf.raw_ops.FusedBatchNormV3(x=x, scale=c, offset=c, mean=c, variance=c,
                                  epsilon=epsilon, is_training=True)
    bn(0.001)  # TensorFlow's kernel, created and cached by eager.
    _library.enable_stock_kernels()
    bn(0.001)
    print("CACHED", _library.stock_kernel_runs()[0])
    bn(0.002)
    print("NEW", _library.stock_kernel_runs()[0])
""")


def test_eager_kernels_created_before_registration_stay_tensorflows():
  run = subprocess.run([sys.executable, "-c", EAGER], capture_output=True,
                       text=True, timeout=300, check=False,
                       env=package_env.child_env(TF_BN_COMPAT_BACKEND=""))
  assert run.returncode == 0, run.stderr[-3000:]
  assert "CACHED 0" in run.stdout and "NEW 1" in run.stdout, run.stdout
