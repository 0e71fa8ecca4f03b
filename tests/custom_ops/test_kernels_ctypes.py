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
  g = kc.shape_of(x, data_format)
  c = g.c
  results = []
  for pf in (kc.PARALLEL_FOR(), kc.reverse_chunks()):  # serial, reordered
    out = [np.empty(c, np.float32) for _ in range(4)]
    args = kc.StatsArgs(g, kc.ptr(x), 1e-3, *map(kc.ptr, out))
    assert lib.bn_cpu_stats(args, pf, None) == 0
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
  g = kc.shape_of(x, data_format)
  c = g.c
  y = np.empty_like(x)
  stats = [np.empty(c, np.float32) for _ in range(4)]
  args = kc.ForwardArgs(g, kc.ptr(x), kc.ptr(y),
                        *map(kc.ptr, (scale, offset, mean, var)), 1e-3, 0.5,
                        int(is_training), *map(kc.ptr, stats))
  assert lib.bn_cpu_forward(args, kc.reverse_chunks(), None) == 0
  want = ref.forward(x, scale, offset, mean, var, 1e-3, data_format,
                     is_training, 0.5)
  np.testing.assert_allclose(y, want[0], rtol=2e-5, atol=2e-5)
  np.testing.assert_allclose(stats[0], want[1], rtol=2e-5, atol=2e-5)
  np.testing.assert_allclose(stats[1], want[2], rtol=2e-5, atol=2e-5)
  dy = rng.standard_normal(shape).astype(np.float32)
  dx = np.empty_like(x)
  dscale, doffset = np.empty(c, np.float32), np.empty(c, np.float32)
  stat_b = stats[3] if is_training else var
  args = kc.BackwardArgs(g, kc.ptr(dy), kc.ptr(x), kc.ptr(dx),
                         *map(kc.ptr, (scale, stats[2], stat_b)), 1e-3,
                         int(is_training), kc.ptr(dscale), kc.ptr(doffset))
  assert lib.bn_cpu_backward(args, kc.PARALLEL_FOR(), None) == 0
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
    g = kc.Geometry(a["dtype"], a["layout"], a["n"], a["c"], a["s"])
    return lib.bn_cpu_stats(kc.StatsArgs(g, a["x"], a["eps"], kc.ptr(out)),
                            none, None)
  assert stats(args()) == 0
  assert stats(args(layout=7)) == 3
  assert stats(args(dtype=9)) == 4
  assert stats(args(n=-1)) == 2
  assert stats(args(n=2**62, s=2**62)) == 2
  assert stats(args(eps=-1.0)) == 5
  assert stats(args(eps=float("nan"))) == 5
  assert stats(args(x=None)) == 1
  for name in ("stats", "transform", "forward", "backward"):
    assert getattr(lib, "bn_cpu_" + name)(None, none, None) == 1, name
  assert lib.bn_status_string(5) == b"epsilon must be finite and >= 0"


# |mean| / std of the cancellation case: the folded form x * alpha + (offset -
# mean * alpha) loses |mean * alpha| * 2^-24 = 1e4 * 6e-8 ~ 6e-4 of y.
LARGE_MEAN_OVER_STD = 1e4


@pytest.mark.parametrize("data_format,shape", [("NHWC", (4, 6, 6, 16)),
                                               ("NCHW", (4, 16, 6, 6))])
def test_transform_at_large_mean_over_std_matches_float64(lib, data_format,
                                                          shape):
  """The transform subtracts the mean before it scales (bn_affine.h), so at
  |mean| / std = 1e4 it stays within float32 rounding of y at every
  instruction-set level, where the folded form is off by ~1e-3."""
  rng = np.random.default_rng(23)
  c = shape[ref.channel_axis(data_format)]
  std = rng.uniform(0.5, 2.0, c).astype(np.float32)
  mean = (LARGE_MEAN_OVER_STD * std * rng.choice([-1, 1], c)).astype(
      np.float32)
  scale = rng.uniform(0.5, 2.0, c).astype(np.float32)
  offset = rng.standard_normal(c).astype(np.float32)
  inv_std = (1 / std).astype(np.float32)
  per_channel = lambda v: v.reshape(ref.vec_shape(data_format))
  x = (per_channel(mean) + per_channel(std) *
       rng.standard_normal(shape)).astype(np.float32)
  want = ((ref.f64(x) - per_channel(ref.f64(mean))) *
          per_channel(ref.f64(scale) * ref.f64(inv_std)) +
          per_channel(ref.f64(offset)))
  tolerance = 1e-5
  alpha = scale * inv_std
  folded = x * per_channel(alpha) + per_channel(offset - mean * alpha)
  assert np.abs(folded - want).max() > 10 * tolerance  # The case can fail.
  for level in kc.supported_levels(lib):
    y = kc.Kernels(lib, level).transform(x, data_format, scale, offset, mean,
                                         inv_std)
    np.testing.assert_allclose(y, want, rtol=0, atol=tolerance,
                               err_msg=level)
