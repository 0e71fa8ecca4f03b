"""The framework-free kernels (build/libbn_kernels.so) via ctypes, against
float64 numpy; no TensorFlow op involved."""

import ctypes
import os

import numpy as np
import pytest

import bn_reference as ref

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
LIB_PATH = os.path.join(ROOT, "build", "libbn_kernels.so")

CHANNELS_LAST, CHANNELS_FIRST = 0, 1
DTYPE_CODES = {"float32": 0, "float16": 1, "bfloat16": 2}
BLOCK_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64,
                            ctypes.c_int64)
PARALLEL_FOR = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64,
                                ctypes.c_int64, BLOCK_FN, ctypes.c_void_p)
FP = ctypes.POINTER(ctypes.c_float)


@pytest.fixture(scope="module")
def lib():
  if not os.path.exists(LIB_PATH):
    if os.environ.get("TF_BN_COMPAT_BACKEND", "").lower() == "tf":
      pytest.skip("build/libbn_kernels.so missing")
    pytest.fail("%s missing: run python custom_ops/build.py" % LIB_PATH)
  lib = ctypes.CDLL(LIB_PATH)
  i64, vp, c_int, c_float = (ctypes.c_int64, ctypes.c_void_p, ctypes.c_int,
                             ctypes.c_float)
  lib.bn_cpu_stats.argtypes = [vp, c_int, c_int, i64, i64, i64, c_float, FP,
                               FP, FP, FP, PARALLEL_FOR, vp]
  lib.bn_cpu_forward.argtypes = [vp, vp, c_int, c_int, i64, i64, i64, FP, FP,
                                 FP, FP, c_float, c_float, c_int, FP, FP, FP,
                                 FP, PARALLEL_FOR, vp]
  lib.bn_cpu_backward.argtypes = [vp, vp, c_int, c_int, i64, i64, i64, FP, FP,
                                  FP, c_float, c_int, vp, FP, FP, PARALLEL_FOR,
                                  vp]
  lib.bn_status_string.restype = ctypes.c_char_p
  return lib


def _fp(a):
  return a.ctypes.data_as(FP) if a is not None else None


def _reverse_parallel_for():
  """A callback that runs blocks in odd-sized chunks, last chunk first."""
  @PARALLEL_FOR
  def pf(ctx, n_blocks, cost, fn, arg):
    del ctx, cost
    step = 3
    for begin in reversed(range(0, n_blocks, step)):
      fn(arg, begin, min(n_blocks, begin + step))
  return pf


def _geometry(x, data_format):
  c = x.shape[ref.channel_axis(data_format)]
  layout = CHANNELS_FIRST if ref.channel_axis(data_format) == 1 else CHANNELS_LAST
  return layout, x.shape[0], c, x.size // max(x.shape[0] * c, 1)


@pytest.mark.parametrize("data_format,shape", [
    ("NHWC", (3, 7, 5, 4)), ("NCHW", (3, 4, 7, 5)),
    ("NHWC", (40, 64, 64, 3)), ("NCHW", (2, 2, 200, 200)),
    ("NDHWC", (1, 1, 1, 1, 6)), ("NCHW", (5, 1, 1, 1))])
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_stats_match_float64_and_are_thread_independent(lib, dtype,
                                                        data_format, shape):
  rng = np.random.default_rng(20)
  x = (rng.standard_normal(shape) * 2 + 1e3).astype(ref.DTYPES[dtype])
  layout, n, c, s = _geometry(x, data_format)
  results = []
  for pf in (PARALLEL_FOR(), _reverse_parallel_for()):  # serial, reordered
    out = [np.empty(c, np.float32) for _ in range(4)]
    assert lib.bn_cpu_stats(x.ctypes.data, DTYPE_CODES[dtype], layout, n, c, s,
                            1e-3, *map(_fp, out), pf, None) == 0
    results.append(out)
  for a, b in zip(*results):
    assert a.tobytes() == b.tobytes()
  x64 = ref.f64(x)
  axes = ref.reduce_axes(data_format)
  m = x.size // c
  mean, var = x64.mean(axis=axes), x64.var(axis=axes)
  np.testing.assert_allclose(results[0][0], mean, rtol=1e-6)
  # |mean|/std = 500: the variance keeps float32 accuracy.
  np.testing.assert_allclose(results[0][1], var, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(results[0][2], var * m / max(m - 1, 1),
                             rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(results[0][3], 1 / np.sqrt(var + 1e-3),
                             rtol=1e-4)


@pytest.mark.parametrize("is_training", [True, False])
@pytest.mark.parametrize("data_format", ["NHWC", "NCDHW"])
def test_forward_and_backward_match_float64(lib, data_format, is_training):
  rng = np.random.default_rng(21)
  shape = ref.make_shape(data_format, 2, 3, (4, 5, 2))
  x, scale, offset, mean, var = ref.random_inputs(rng, shape, data_format,
                                                  "float32")
  layout, n, c, s = _geometry(x, data_format)
  y = np.empty_like(x)
  stats = [np.empty(c, np.float32) for _ in range(4)]
  assert lib.bn_cpu_forward(x.ctypes.data, y.ctypes.data, 0, layout, n, c, s,
                            _fp(scale), _fp(offset), _fp(mean), _fp(var), 1e-3,
                            0.5, int(is_training), *map(_fp, stats),
                            _reverse_parallel_for(), None) == 0
  want = ref.forward(x, scale, offset, mean, var, 1e-3, data_format,
                     is_training, 0.5)
  np.testing.assert_allclose(y, want[0], rtol=2e-5, atol=2e-5)
  np.testing.assert_allclose(stats[0], want[1], rtol=2e-5, atol=2e-5)
  np.testing.assert_allclose(stats[1], want[2], rtol=2e-5, atol=2e-5)
  dy = rng.standard_normal(shape).astype(np.float32)
  dx = np.empty_like(x)
  dscale, doffset = np.empty(c, np.float32), np.empty(c, np.float32)
  stat_b = stats[3] if is_training else var
  assert lib.bn_cpu_backward(dy.ctypes.data, x.ctypes.data, 0, layout, n, c,
                             s, _fp(scale), _fp(stats[2]), _fp(stat_b), 1e-3,
                             int(is_training), dx.ctypes.data, _fp(dscale),
                             _fp(doffset), PARALLEL_FOR(), None) == 0
  gw = ref.backward(dy, x, scale, mean, var, 1e-3, data_format, is_training)
  np.testing.assert_allclose(dx, gw[0], rtol=2e-5, atol=2e-5)
  np.testing.assert_allclose(dscale, gw[1], rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(doffset, gw[2], rtol=1e-4, atol=1e-4)


def test_bad_arguments_return_status_codes(lib):
  x = np.zeros((2, 3), np.float32)
  out = np.empty(3, np.float32)
  none = PARALLEL_FOR()
  args = lambda **kw: dict(dict(x=x.ctypes.data, dtype=0, layout=0, n=2, c=3,
                                s=1, eps=1e-3), **kw)
  def stats(a):
    return lib.bn_cpu_stats(a["x"], a["dtype"], a["layout"], a["n"], a["c"],
                            a["s"], a["eps"], _fp(out), None, None, None,
                            none, None)
  assert stats(args()) == 0
  assert stats(args(layout=7)) == 3
  assert stats(args(dtype=9)) == 4
  assert stats(args(n=-1)) == 2
  assert stats(args(n=2**62, s=2**62)) == 2
  # Any epsilon is taken, as in TF's op: the results carry it.
  assert stats(args(eps=-1.0)) == 0
  assert stats(args(eps=float("nan"))) == 0
  assert stats(args(x=None)) == 1
  assert lib.bn_status_string(2) == b"negative or overflowing size"
