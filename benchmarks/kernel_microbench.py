r"""Single-process timings of the framework-free CPU kernels (ctypes).

Times bn_cpu_stats, bn_cpu_transform, bn_cpu_backward and bn_cpu_forward
(training) on build/libbn_kernels.so for float32 tensors, per layout, next to
a numpy read (sum) and copy of the same bytes. Medians of --repeats runs,
all calls of a shape and layout timed in rotation (one run of each per
round), so that a drift of the machine's bandwidth hits them alike.
--dtype picks the element type (bfloat16 tensors are built from float32
values by truncation; only their bytes matter here). --levels times the
entry points of the named instruction-set levels (bn_cpu_stats_avx2, ...)
side by side instead of the dispatched ones.

    .venv/bin/python benchmarks/kernel_microbench.py
    .venv/bin/python benchmarks/kernel_microbench.py --levels=avx2,avx512
    .venv/bin/python benchmarks/kernel_microbench.py --lib=/tmp/old.so \
        --shapes=64x14x14x256
"""

import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The ctypes mirror of bn_kernels.h (its argument structs), shared with the
# kernels' tests.
sys.path.insert(0, os.path.join(ROOT, "tests", "custom_ops"))
import kernels_ctypes as kc  # pylint: disable=wrong-import-position
CHANNELS_LAST, CHANNELS_FIRST = 0, 1
# dtype name -> (BN_DTYPE_* code, numpy storage type).
DTYPES = {"float32": (0, np.float32), "float16": (1, np.float16),
          "bfloat16": (2, np.uint16)}


def rotated_median_ms(calls, repeats):
  """Median milliseconds of each call, timed in rotation."""
  names = list(calls)
  for name in names:
    calls[name]()
  times = {name: [] for name in names}
  for round_index in range(repeats):
    shift = round_index % len(names)
    for name in names[shift:] + names[:shift]:
      start = time.perf_counter()
      calls[name]()
      times[name].append(time.perf_counter() - start)
  return {name: float(np.median(t)) * 1e3 for name, t in times.items()}


def random_tensor(rng, shape, dtype):
  x = rng.standard_normal(shape, dtype=np.float32)
  if dtype == "bfloat16":
    return (x.view(np.uint32) >> 16).astype(np.uint16)
  return x.astype(DTYPES[dtype][1])


def bench(lib, nhwc, layout, dtype, repeats, levels):
  """{(level, call): ms}; level "" is the dispatched entry points."""
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
  p, serial = kc.ptr, kc.serial()
  geo = kc.Geometry(DTYPES[dtype][0], layout, n, c, s)
  stats_args = kc.StatsArgs(geo, p(x), 1e-3, p(mean), p(var_b), p(var_u),
                            p(inv))
  transform_args = kc.TransformArgs(geo, p(x), p(y), p(scale), p(offset),
                                    p(mean), p(inv))
  forward_args = kc.ForwardArgs(geo, p(x), p(y), p(scale), p(offset), None,
                                None, 1e-3, 1.0, 1, *map(p, out))
  backward_args = kc.BackwardArgs(geo, p(dy), p(x), p(dx), p(scale), p(mean),
                                  p(inv), 1e-3, 1, p(var_b), p(var_u))
  calls = {("", "np_sum"): lambda: x.sum(),
           ("", "np_copy"): lambda: np.copyto(y, x)}
  for level in levels:
    fn = lambda name, level=level: getattr(lib, name + (
        "_" + level if level else ""))
    calls.update({
        (level, "stats"): lambda fn=fn: fn("bn_cpu_stats")(
            stats_args, serial, None),
        (level, "transform"): lambda fn=fn: fn("bn_cpu_transform")(
            transform_args, serial, None),
        (level, "train_fwd"): lambda fn=fn: fn("bn_cpu_forward")(
            forward_args, serial, None),
        (level, "backward"): lambda fn=fn: fn("bn_cpu_backward")(
            backward_args, serial, None),
    })
  return rotated_median_ms(calls, repeats)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--lib", default=os.path.join(ROOT, "build",
                                                    "libbn_kernels.so"))
  parser.add_argument("--shapes", default="32x56x56x64,64x14x14x256,256x7x7x512")
  parser.add_argument("--repeats", type=int, default=15)
  parser.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
  parser.add_argument("--layouts", default="NHWC,NCHW")
  parser.add_argument("--levels", default="",
                      help="instruction-set levels to time side by side "
                      "(e.g. avx2,avx512); default: the dispatched entry "
                      "points")
  args = parser.parse_args()
  lib = kc.load(args.lib)
  levels = args.levels.split(",") if args.levels else [""]
  for text in args.shapes.split(","):
    nhwc = tuple(int(v) for v in text.split("x"))
    for layout, name in ((CHANNELS_LAST, "NHWC"), (CHANNELS_FIRST, "NCHW")):
      if name not in args.layouts.split(","):
        continue
      t = bench(lib, nhwc, layout, args.dtype, args.repeats, levels)
      for level in [""] + [l for l in levels if l]:
        row = [(call, ms) for (lvl, call), ms in t.items() if lvl == level]
        label = (level or "numpy") if args.levels else ""
        print("%-13s %s %-8s " % (text, name, label) +
              "  ".join("%s %.2f" % kv for kv in row) + "  (ms)", flush=True)


if __name__ == "__main__":
  main()
