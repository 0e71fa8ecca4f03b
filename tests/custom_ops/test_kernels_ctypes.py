"""The framework-free kernels (build/libbn_kernels.so) via ctypes, against
float64 numpy; no TensorFlow op involved."""

import numpy as np
import pytest

import bn_reference as ref
import kernels_ctypes as kc

@pytest.fixture(scope="module")
def lib(kernels_lib):
  return kernels_lib


@pytest.mark.parametrize("data_format,shape", [
    ("NHWC", (3, 7, 5, 4)), ("NCHW", (3, 4, 7, 5)),
    ("NHWC", (40, 64, 64, 3)), ("NCHW", (2, 2, 200, 200)),
    ("NDHWC", (1, 1, 1, 1, 6)), ("NCHW", (5, 1, 1, 1))])
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_stats_match_float64_and_are_thread_independent(lib, dtype,
                                                        data_format, shape):
  rng = np.random.default_rng(20)
  x = (rng.standard_normal(shape) * 2 + 1e3).astype(ref.DTYPES[dtype])
  layout, n, c, s = kc.geometry(x, data_format)
  results = []
  for pf in (kc.PARALLEL_FOR(), kc.reverse_chunks()):  # serial, reordered
    out = [np.empty(c, np.float32) for _ in range(4)]
    assert lib.bn_cpu_stats(x.ctypes.data, kc.DTYPE_CODES[dtype], layout, n,
                            c, s, 1e-3, *map(kc.fp, out), pf, None) == 0
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
  layout, n, c, s = kc.geometry(x, data_format)
  y = np.empty_like(x)
  stats = [np.empty(c, np.float32) for _ in range(4)]
  assert lib.bn_cpu_forward(x.ctypes.data, y.ctypes.data, 0, layout, n, c, s,
                            *map(kc.fp, (scale, offset, mean, var)), 1e-3,
                            0.5, int(is_training), *map(kc.fp, stats),
                            kc.reverse_chunks(), None) == 0
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
                             s, *map(kc.fp, (scale, stats[2], stat_b)), 1e-3,
                             int(is_training), dx.ctypes.data, kc.fp(dscale),
                             kc.fp(doffset), kc.PARALLEL_FOR(), None) == 0
  gw = ref.backward(dy, x, scale, mean, var, 1e-3, data_format, is_training)
  np.testing.assert_allclose(dx, gw[0], rtol=2e-5, atol=2e-5)
  np.testing.assert_allclose(dscale, gw[1], rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(doffset, gw[2], rtol=1e-4, atol=1e-4)


def test_bad_arguments_return_status_codes(lib):
  x = np.zeros((2, 3), np.float32)
  out = np.empty(3, np.float32)
  none = kc.PARALLEL_FOR()
  args = lambda **kw: dict(dict(x=x.ctypes.data, dtype=0, layout=0, n=2, c=3,
                                s=1, eps=1e-3), **kw)
  def stats(a):
    return lib.bn_cpu_stats(a["x"], a["dtype"], a["layout"], a["n"], a["c"],
                            a["s"], a["eps"], kc.fp(out), None, None, None,
                            none, None)
  assert stats(args()) == 0
  assert stats(args(layout=7)) == 3
  assert stats(args(dtype=9)) == 4
  assert stats(args(n=-1)) == 2
  assert stats(args(n=2**62, s=2**62)) == 2
  assert stats(args(eps=-1.0)) == 5
  assert stats(args(eps=float("nan"))) == 5
  assert stats(args(x=None)) == 1
  assert lib.bn_status_string(5) == b"epsilon must be finite and >= 0"
