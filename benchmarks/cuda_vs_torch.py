r"""Our CUDA kernels against PyTorch's cuDNN batch norm: values and time.

Needs no TensorFlow: it loads `build/libbn_kernels_cuda.so` (the
framework-free C ABI of custom_ops/kernels/bn_kernels.h, built by
custom_ops/build.py when nvcc is present) with ctypes and runs it on PyTorch
CUDA tensors, on PyTorch's current stream.

For each case it checks, against a float64 computation of the same formulas,
our training forward (y, batch mean, unbiased batch variance) and backward
(dx, dscale, doffset), checks PyTorch's the same way, and times both with CUDA
events (median). It exits 1 if our values are off.

    python benchmarks/cuda_vs_torch.py [--library=build/libbn_kernels_cuda.so]
"""

import argparse
import ctypes
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBRARY = os.path.join(ROOT, "build", "libbn_kernels_cuda.so")
# The ctypes mirror of bn_kernels.h (its argument structs), shared with the
# kernels' tests.
sys.path.insert(0, os.path.join(ROOT, "tests", "custom_ops"))
import kernels_ctypes as kc  # pylint: disable=wrong-import-position

DTYPE_CODES = {"float32": 0, "float16": 1, "bfloat16": 2}
LAYOUT_CODES = {"NHWC": 0, "NCHW": 1}
EPSILON = 1e-3
# Tolerances relative to the float64 result: float32 arithmetic with float
# partial sums over up to ~1e5 elements per channel (1e-4); half inputs and
# outputs round to 2^-11 (float16) or 2^-8 (bfloat16) of values of size ~4.
TOLERANCES = {"float32": 1e-4, "float16": 5e-3, "bfloat16": 4e-2}
CASES = [
    ((32, 56, 56, 64), "NHWC", "float32"),
    ((32, 56, 56, 64), "NCHW", "float32"),
    ((64, 14, 14, 256), "NHWC", "float32"),
    ((256, 7, 7, 512), "NHWC", "float32"),
    ((32, 56, 56, 64), "NHWC", "float16"),
    ((32, 56, 56, 64), "NHWC", "bfloat16"),
]


class OurKernels:
  """Calls the C ABI on torch tensors (x in the layout's own memory order)."""

  def __init__(self, lib, torch, x, layout, dtype):
    self.lib, self.torch, self.x = lib, torch, x
    self.layout, self.dtype = LAYOUT_CODES[layout], DTYPE_CODES[dtype]
    if layout == "NHWC":
      self.n, self.c = x.shape[0], x.shape[-1]
    else:
      self.n, self.c = x.shape[0], x.shape[1]
    self.s = x.numel() // (self.n * self.c)
    self.geometry = kc.Geometry(self.dtype, self.layout, self.n, self.c,
                                self.s)
    f32 = dict(device=x.device, dtype=torch.float32)
    self.stats = [torch.empty(self.c, **f32) for _ in range(4)]
    size = max(lib.bn_cuda_forward_workspace_bytes(self.layout, self.n,
                                                   self.c, self.s),
               lib.bn_cuda_backward_workspace_bytes(self.layout, self.n,
                                                    self.c, self.s), 1)
    self.workspace = torch.empty(size, device=x.device, dtype=torch.uint8)
    self.y = torch.empty_like(x)
    self.dx = torch.empty_like(x)
    self.dscale = torch.empty(self.c, **f32)
    self.doffset = torch.empty(self.c, **f32)

  def _stream(self):
    return ctypes.c_void_p(self.torch.cuda.current_stream().cuda_stream)

  def _check(self, status):
    if status != 0:
      raise RuntimeError(self.lib.bn_status_string(status).decode())

  def forward(self, scale, offset):
    mean, var, saved_mean, saved_inv_std = self.stats
    args = kc.ForwardArgs(
        self.geometry, self.x.data_ptr(), self.y.data_ptr(), scale.data_ptr(),
        offset.data_ptr(), None, None, EPSILON, 1.0, 1, mean.data_ptr(),
        var.data_ptr(), saved_mean.data_ptr(), saved_inv_std.data_ptr())
    self._check(self.lib.bn_cuda_forward(args, self.workspace.data_ptr(),
                                         self._stream()))
    return self.y, mean, var

  def backward(self, dy, scale):
    _, _, saved_mean, saved_inv_std = self.stats
    args = kc.BackwardArgs(
        self.geometry, dy.data_ptr(), self.x.data_ptr(), self.dx.data_ptr(),
        scale.data_ptr(), saved_mean.data_ptr(), saved_inv_std.data_ptr(),
        EPSILON, 1, self.dscale.data_ptr(), self.doffset.data_ptr())
    self._check(self.lib.bn_cuda_backward(args, self.workspace.data_ptr(),
                                          self._stream()))
    return self.dx, self.dscale, self.doffset


def reference(torch, x_nchw, dy_nchw, scale, offset):
  """Float64 forward and backward in NCHW."""
  x, dy = x_nchw.double(), dy_nchw.double()
  axes = [0, 2, 3]
  m = x.numel() // x.shape[1]
  mean = x.mean(axes, keepdim=True)
  var = ((x - mean) ** 2).mean(axes, keepdim=True)
  inv_std = (var + EPSILON).rsqrt()
  xhat = (x - mean) * inv_std
  g = scale.double().view(1, -1, 1, 1)
  y = xhat * g + offset.double().view(1, -1, 1, 1)
  doffset = dy.sum(axes)
  dscale = (dy * xhat).sum(axes)
  dx = g * inv_std * (dy - doffset.view(1, -1, 1, 1) / m -
                      xhat * dscale.view(1, -1, 1, 1) / m)
  unbiased = var.flatten() * m / max(m - 1, 1)
  return y, mean.flatten(), unbiased, dx, dscale, doffset


def median_ms(torch, fn, repeats):
  start = torch.cuda.Event(enable_timing=True)
  end = torch.cuda.Event(enable_timing=True)
  for _ in range(3):
    fn()
  times = []
  for _ in range(repeats):
    start.record()
    fn()
    end.record()
    end.synchronize()
    times.append(start.elapsed_time(end))
  return statistics.median(times)


def max_rel_error(torch, got, want):
  got, want = got.double(), want.double()
  return float(((got - want).abs() / (want.abs() + 1.0)).max())


def run_case(torch, lib, shape_nhwc, layout, dtype, repeats):
  """Returns a result row; raises nothing on a mismatch (it is reported)."""
  gen = torch.Generator(device="cuda").manual_seed(0)
  tdtype = getattr(torch, dtype)
  x_nhwc = (torch.randn(shape_nhwc, device="cuda", generator=gen) * 2 + 3)
  dy_nhwc = torch.randn(shape_nhwc, device="cuda", generator=gen)
  c = shape_nhwc[-1]
  scale = torch.rand(c, device="cuda", generator=gen) + 0.5
  offset = torch.rand(c, device="cuda", generator=gen)
  if layout == "NHWC":
    x, dy = x_nhwc.to(tdtype).contiguous(), dy_nhwc.to(tdtype).contiguous()
    x_nchw, dy_nchw = x.permute(0, 3, 1, 2), dy.permute(0, 3, 1, 2)
  else:
    x = x_nhwc.permute(0, 3, 1, 2).to(tdtype).contiguous()
    dy = dy_nhwc.permute(0, 3, 1, 2).to(tdtype).contiguous()
    x_nchw, dy_nchw = x, dy
  ours = OurKernels(lib, torch, x, layout, dtype)
  y, mean, var = ours.forward(scale, offset)
  dx, dscale, doffset = ours.backward(dy, scale)
  torch.cuda.synchronize()
  y_nchw = y.permute(0, 3, 1, 2) if layout == "NHWC" else y
  dx_nchw = dx.permute(0, 3, 1, 2) if layout == "NHWC" else dx
  want = reference(torch, x_nchw, dy_nchw, scale, offset)
  errors = [max_rel_error(torch, a, b) for a, b in zip(
      (y_nchw, mean, var, dx_nchw, dscale, doffset), want)]

  x_t = x_nchw.detach().clone().requires_grad_(True)
  w = scale.clone().requires_grad_(True)
  b = offset.clone().requires_grad_(True)
  run_mean = torch.zeros(c, device="cuda")
  run_var = torch.ones(c, device="cuda")

  def torch_forward():
    return torch.nn.functional.batch_norm(x_t, run_mean, run_var, w, b,
                                          training=True, momentum=1.0,
                                          eps=EPSILON)

  y_t = torch_forward()
  grads = torch.autograd.grad(y_t, [x_t, w, b], dy_nchw)
  torch_errors = [max_rel_error(torch, a, c_) for a, c_ in zip(
      (y_t, run_mean, run_var, grads[0], grads[1], grads[2]), want)]

  def torch_fwd_bwd():
    torch.autograd.grad(torch_forward(), [x_t, w, b], dy_nchw)

  def ours_fwd_bwd():
    ours.forward(scale, offset)
    ours.backward(dy, scale)

  return {
      "case": "%s %s %s" % ("x".join(map(str, shape_nhwc)), layout, dtype),
      "ours_error": max(errors),
      "torch_error": max(torch_errors),
      "tolerance": TOLERANCES[dtype],
      "ours_fwd_ms": median_ms(torch, lambda: ours.forward(scale, offset),
                               repeats),
      "torch_fwd_ms": median_ms(torch, torch_forward, repeats),
      "ours_fwd_bwd_ms": median_ms(torch, ours_fwd_bwd, repeats),
      "torch_fwd_bwd_ms": median_ms(torch, torch_fwd_bwd, repeats),
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--library", default=LIBRARY)
  parser.add_argument("--repeats", type=int, default=50)
  args = parser.parse_args()
  import torch  # pylint: disable=g-import-not-at-top
  if not torch.cuda.is_available():
    print("no CUDA device: nothing to compare")
    return 0
  lib = kc.load_cuda(args.library)
  print("device: %s; torch %s, cuDNN %s" % (
      torch.cuda.get_device_name(), torch.__version__,
      torch.backends.cudnn.version()))
  print("| case | ours max rel err | cuDNN max rel err | tol | ours fwd ms "
        "| cuDNN fwd ms | ours fwd+bwd ms | cuDNN fwd+bwd ms |")
  print("|---|---|---|---|---|---|---|---|")
  failed = False
  for shape, layout, dtype in CASES:
    r = run_case(torch, lib, shape, layout, dtype, args.repeats)
    failed |= not r["ours_error"] <= r["tolerance"]
    print("| %s | %.2e | %.2e | %.0e | %.3f | %.3f | %.3f | %.3f |" % (
        r["case"], r["ours_error"], r["torch_error"], r["tolerance"],
        r["ours_fwd_ms"], r["torch_fwd_ms"], r["ours_fwd_bwd_ms"],
        r["torch_fwd_bwd_ms"]))
  if failed:
    print("FAILED: our CUDA kernels are off beyond the tolerance")
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
