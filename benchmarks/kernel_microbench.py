r"""Single-process timings of the framework-free CPU kernels (ctypes).

Times bn_cpu_stats, bn_cpu_transform, bn_cpu_backward and bn_cpu_forward
(training) on build/libbn_kernels.so for float32 tensors, per layout, next to
a numpy read (sum) and copy of the same bytes. Medians of --repeats runs.
--dtype picks the element type (bfloat16 tensors are built from float32
values by truncation; only their bytes matter here).

    .venv/bin/python benchmarks/kernel_microbench.py
    .venv/bin/python benchmarks/kernel_microbench.py --lib=/tmp/old.so \
        --shapes=64x14x14x256
"""

import argparse
import ctypes
import os
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
P, I64, F = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float
CHANNELS_LAST, CHANNELS_FIRST = 0, 1
# dtype name -> (BN_DTYPE_* code, numpy storage type).
DTYPES = {"float32": (0, np.float32), "float16": (1, np.float16),
          "bfloat16": (2, np.uint16)}


def median_ms(fn, repeats):
  fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return float(np.median(times)) * 1e3


def random_tensor(rng, shape, dtype):
  x = rng.standard_normal(shape, dtype=np.float32)
  if dtype == "bfloat16":
    return (x.view(np.uint32) >> 16).astype(np.uint16)
  return x.astype(DTYPES[dtype][1])


def bench(lib, nhwc, layout, dtype, repeats):
  n, h, w, c = nhwc
  shape = (n, h, w, c) if layout == CHANNELS_LAST else (n, c, h, w)
  s = h * w
  rng = np.random.default_rng(0)
  x = random_tensor(rng, shape, dtype)
  dy = random_tensor(rng, shape, dtype)
  y, dx = np.empty_like(x), np.empty_like(x)
  vec = lambda v=0.0: np.full(c, v, np.float32)
  mean, var_b, var_u, inv = vec(), vec(), vec(), vec()
  scale, offset, out = vec(1.0), vec(), [vec() for _ in range(4)]
  fp = lambda a: a.ctypes.data_as(P)
  geo = (DTYPES[dtype][0], layout, I64(n), I64(c), I64(s))
  calls = {
      "stats": lambda: lib.bn_cpu_stats(
          fp(x), *geo, F(1e-3), fp(mean), fp(var_b), fp(var_u), fp(inv),
          None, None),
      "transform": lambda: lib.bn_cpu_transform(
          fp(x), fp(y), *geo, fp(scale), fp(offset), fp(mean), fp(inv),
          None, None),
      "train_fwd": lambda: lib.bn_cpu_forward(
          fp(x), fp(y), *geo, fp(scale), fp(offset), None, None, F(1e-3),
          F(1.0), 1, *map(fp, out), None, None),
      "backward": lambda: lib.bn_cpu_backward(
          fp(dy), fp(x), *geo, fp(scale), fp(mean), fp(inv), F(1e-3), 1,
          fp(dx), fp(var_b), fp(var_u), None, None),
      "np_sum": lambda: x.sum(),
      "np_copy": lambda: np.copyto(y, x),
  }
  return {name: median_ms(fn, repeats) for name, fn in calls.items()}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--lib", default=os.path.join(ROOT, "build",
                                                    "libbn_kernels.so"))
  parser.add_argument("--shapes", default="32x56x56x64,64x14x14x256,256x7x7x512")
  parser.add_argument("--repeats", type=int, default=15)
  parser.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
  parser.add_argument("--layouts", default="NHWC,NCHW")
  args = parser.parse_args()
  lib = ctypes.CDLL(args.lib)
  for text in args.shapes.split(","):
    nhwc = tuple(int(v) for v in text.split("x"))
    for layout, name in ((CHANNELS_LAST, "NHWC"), (CHANNELS_FIRST, "NCHW")):
      if name not in args.layouts.split(","):
        continue
      t = bench(lib, nhwc, layout, args.dtype, args.repeats)
      print("%-13s %s  " % (text, name) +
            "  ".join("%s %.2f" % kv for kv in t.items()) + "  (ms)",
            flush=True)


if __name__ == "__main__":
  main()
