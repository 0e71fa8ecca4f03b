"""Every instruction-set level of the CPU kernels, called directly.

build/libbn_kernels.so holds the code of each level (bn_cpu_forward_baseline,
bn_cpu_forward_avx2, bn_cpu_forward_avx512, ...; see
custom_ops/kernels/bn_isa.h). For each level this CPU supports (the others
are skipped), each entry point is checked against the float64 reference on
odd shapes, with bit-identical results for any thread count and whether or
not the output is streamed; and avx2 against avx512, which must agree bit
for bit (both fuse exactly where bn_fma.h's MulAdd says, and sum in the same
order).
"""

import numpy as np
import pytest

import bn_reference as ref
import kernels_ctypes as kc

EPS = 1e-3
FACTOR = 0.5  # exponential_avg_factor of the training forward.

# (data_format, shape, loc): the tails of every vector width (8, 16 and the
# 32 lanes of a channels-first sum), C = 1, one element per channel, several
# blocks per channel, and a mean 500 standard deviations from zero.
CASES = [
    ("NHWC", (3, 7, 5, 1), 0.5),
    ("NCHW", (3, 1, 5, 7), 0.5),
    ("NHWC", (3, 7, 5, 19), 0.5),
    ("NHWC", (2, 3, 3, 37), 1e3),
    ("NCHW", (2, 3, 11, 13), 1e3),
    ("NCDHW", (2, 2, 3, 5, 7), 0.5),
    ("NDHWC", (1, 1, 1, 1, 6), 0.5),
    ("NCHW", (2, 3, 100, 130), 0.5),
    ("NHWC", (2, 96, 96, 5), 1e3),
]
CASE_IDS = ["%s-%s-loc%g" % (f, "x".join(map(str, s)), l) for f, s, l in CASES]
KERNELS = ["stats", "transform", "forward_train", "forward_infer",
           "backward_train", "backward_infer"]
DTYPES = ["float32", "float16", "bfloat16"]


@pytest.fixture(scope="module")
def lib(kernels_lib):
  return kernels_lib


@pytest.fixture(params=kc.LEVELS)
def level(request, lib):
  supported = kc.supported_levels(lib)
  if request.param not in supported:
    pytest.skip("this CPU lacks %s (it supports %s)" %
                (request.param, ",".join(supported)))
  return request.param


def _inputs(data_format, shape, loc, dtype, seed=0):
  """x, dy and float32 parameters; the running mean sits near loc."""
  rng = np.random.default_rng(seed)
  x, scale, offset, mean, var = ref.random_inputs(rng, shape, data_format,
                                                  dtype, loc=loc)
  mean = (mean + loc).astype(np.float32)
  dy = rng.standard_normal(shape).astype(x.dtype)
  return x, dy, scale, offset, mean, var


def _tolerance(dtype, loc):
  """Of outputs of order 1: the storage type's (bn_reference.TOLERANCE),
  plus the float32 rounding of a mean near loc (half an ulp, 2^-24 * loc)
  times alpha = scale * inv_std <= 1.5 * sqrt(2), with a margin of 2."""
  return ref.TOLERANCE[dtype] + 4.0 * loc * 2.0**-24


def _run(k, kernel, data_format, x, dy, scale, offset, mean, var, pf=None):
  """The kernel's outputs, in the order of _expected."""
  if kernel == "stats":
    return k.stats(x, data_format, EPS, pf)
  if kernel == "transform":
    inv_std = (1.0 / np.sqrt(var + EPS)).astype(np.float32)
    return [k.transform(x, data_format, scale, offset, mean, inv_std, pf)]
  if kernel.startswith("forward"):
    train = kernel == "forward_train"
    return k.forward(x, data_format, scale, offset, mean, var, EPS,
                     FACTOR if train else 1.0, train, pf)[:3]
  if kernel == "backward_train":
    _, _, _, saved_mean, saved_inv_std = k.forward(
        x, data_format, scale, offset, mean, var, EPS, 1.0, True, pf)
    return k.backward(dy, x, data_format, scale, saved_mean, saved_inv_std,
                      EPS, True, pf)
  return k.backward(dy, x, data_format, scale, mean, var, EPS, False, pf)


def _expected(kernel, data_format, x, dy, scale, offset, mean, var):
  """float64 reference outputs."""
  axes = ref.reduce_axes(data_format)
  if kernel == "stats":
    x64 = ref.f64(x)
    m = x.size // max(x.shape[ref.channel_axis(data_format)], 1)
    v = x64.var(axis=axes)
    return [x64.mean(axis=axes), v, v * m / max(m - 1, 1),
            1.0 / np.sqrt(v + EPS)]
  if kernel == "transform":
    return ref.forward(x, scale, offset, mean, var, EPS, data_format,
                       False)[:1]
  if kernel.startswith("forward"):
    train = kernel == "forward_train"
    return list(ref.forward(x, scale, offset, mean, var, EPS, data_format,
                            train, FACTOR if train else 1.0))
  return list(ref.backward(dy, x, scale, mean, var, EPS, data_format,
                           kernel == "backward_train"))


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("data_format,shape,loc", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_level_matches_float64(lib, level, dtype, data_format, shape, loc,
                               kernel):
  args = _inputs(data_format, shape, loc, dtype)
  got = _run(kc.Kernels(lib, level), kernel, data_format, *args)
  want = _expected(kernel, data_format, *args)
  tol = _tolerance(dtype, loc)
  m = args[0].size // max(args[0].shape[ref.channel_axis(data_format)], 1)
  if kernel == "stats":
    # The variance keeps float32 accuracy however far the mean is from 0.
    names = ["mean", "var", "var_unbiased", "inv_std"]
    rtols = [1e-6, 1e-4, 1e-4, 1e-4]
  elif kernel.startswith("backward"):
    # dscale / doffset sum m terms of order 1: a float sum's error grows as
    # sqrt(m). dscale also carries the float32 mean's rounding (2^-24 * loc
    # per term) times sum(dy) ~ sqrt(m).
    names, rtols = ["dx", "dscale", "doffset"], [tol, 1e-4, 1e-4]
  else:
    names, rtols = ["y", "batch_mean", "batch_var"], [tol, 2e-5, 1e-4]
  for i, (name, a, b, rtol) in enumerate(zip(names, got, want, rtols)):
    atol = rtol
    if kernel.startswith("backward") and i > 0:
      atol = 1e-4 * np.sqrt(m) * (1.0 + 4.0 * loc * 2.0**-24 * np.sqrt(m))
    np.testing.assert_allclose(ref.f64(a), b, rtol=rtol, atol=atol,
                               err_msg="%s of %s" % (name, kernel))


# Many blocks (of 32K elements) in each layout.
THREAD_CASES = [("NHWC", (8, 32, 32, 24)), ("NCHW", (4, 24, 40, 40))]


@pytest.fixture(scope="module")
def pool():
  with kc.thread_pool(3) as p:
    yield p


@pytest.mark.parametrize("data_format,shape", THREAD_CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_level_is_bit_identical_for_any_thread_count(lib, level, pool, dtype,
                                                     data_format, shape):
  args = _inputs(data_format, shape, 0.5, dtype, seed=3)
  k = kc.Kernels(lib, level)
  schedules = {"serial": None, "reversed": kc.reverse_chunks(),
               "2 threads": kc.threads(pool, 2),
               "3 threads": kc.threads(pool, 3)}
  results = {}
  for name, pf in schedules.items():
    results[name] = [out.tobytes()
                     for kernel in ("forward_train", "backward_train")
                     for out in _run(k, kernel, data_format, *args, pf=pf)]
  for name, outs in results.items():
    assert outs == results["serial"], name


STREAM_CASES = [("NHWC", (8, 64, 64, 64)), ("NCHW", (8, 64, 64, 64))]


@pytest.mark.parametrize("out_offset", [0, 4], ids=["aligned", "misaligned"])
@pytest.mark.parametrize("data_format,shape", STREAM_CASES)
def test_streamed_output_equals_ordinary_stores(lib, level, data_format,
                                                shape, out_offset):
  """An 8 MiB float32 output is streamed when aligned; one image of it (1 MiB)
  never is. Images are independent in the transform and the inference
  gradient, so the image's bits must be the same either way."""
  x, dy, scale, offset, mean, var = _inputs(data_format, shape, 0.5,
                                            "float32", seed=4)
  assert x.nbytes >= 8 << 20
  inv_std = (1.0 / np.sqrt(var + EPS)).astype(np.float32)
  k = kc.Kernels(lib, level, out_offset=out_offset)
  one = lambda a: np.ascontiguousarray(a[:1])
  y_all = k.transform(x, data_format, scale, offset, mean, inv_std)
  y_one = k.transform(one(x), data_format, scale, offset, mean, inv_std)
  assert y_all[:1].tobytes() == y_one.tobytes()
  dx_all = k.backward(dy, x, data_format, scale, mean, var, EPS, False)[0]
  dx_one = k.backward(one(dy), one(x), data_format, scale, mean, var, EPS,
                      False)[0]
  assert dx_all[:1].tobytes() == dx_one.tobytes()


@pytest.mark.parametrize("data_format,shape,loc",
                         CASES + [f + (0.5,) for f in STREAM_CASES],
                         ids=CASE_IDS + ["%s-streamed" % f for f, _ in
                                         STREAM_CASES])
@pytest.mark.parametrize("dtype", DTYPES)
def test_avx2_and_avx512_agree_bit_for_bit(lib, dtype, data_format, shape,
                                           loc):
  supported = kc.supported_levels(lib)
  if "avx512" not in supported:
    pytest.skip("this CPU lacks avx512 (it supports %s)" % ",".join(supported))
  args = _inputs(data_format, shape, loc, dtype, seed=5)
  for kernel in KERNELS:
    outs = [[a.tobytes() for a in _run(kc.Kernels(lib, level), kernel,
                                       data_format, *args)]
            for level in ("avx2", "avx512")]
    assert outs[0] == outs[1], kernel
