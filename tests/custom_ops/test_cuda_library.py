"""The framework-free CUDA library: argument checks here, values on a GPU.

Without a GPU this still loads build/libbn_kernels_cuda.so (built whenever
nvcc is present) and checks that the CUDA entry points reject bad arguments
with status codes before touching any memory. With PyTorch and a CUDA device
it runs benchmarks/cuda_vs_torch.py's comparison against cuDNN.
"""

import importlib.util
import os
import shutil

import pytest

import kernels_ctypes as kc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
LIBRARY = os.path.join(ROOT, "build", "libbn_kernels_cuda.so")
NVCC_PRESENT = (shutil.which("nvcc") is not None or
                os.path.exists("/usr/local/cuda/bin/nvcc"))

BN_ERR_NULL_POINTER, BN_ERR_BAD_SIZE, BN_ERR_BAD_EPSILON = 1, 2, 5
BN_ERR_BAD_LAYOUT, BN_ERR_BAD_DTYPE, BN_ERR_BAD_FACTOR = 3, 4, 6


def _comparison_module():
  spec = importlib.util.spec_from_file_location(
      "cuda_vs_torch", os.path.join(ROOT, "benchmarks", "cuda_vs_torch.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.fixture(scope="module")
def lib():
  if not NVCC_PRESENT:
    pytest.skip("nvcc is not installed: no CUDA library is built")
  assert os.path.exists(LIBRARY), "custom_ops/build.py did not build it"
  return kc.load_cuda(LIBRARY)


def _forward(lib, dtype=0, layout=0, n=2, c=3, s=4, epsilon=1e-3, factor=1.0,
             pointers=True):
  dummy = 16 if pointers else None
  args = kc.ForwardArgs(kc.Geometry(dtype, layout, n, c, s), dummy, dummy,
                        dummy, dummy, None, None, epsilon, factor, 1, dummy,
                        dummy, dummy, dummy)
  return lib.bn_cuda_forward(args, dummy, None)


@pytest.mark.parametrize("kwargs,status", [
    (dict(dtype=7), BN_ERR_BAD_DTYPE),
    (dict(layout=9), BN_ERR_BAD_LAYOUT),
    (dict(n=-1), BN_ERR_BAD_SIZE),
    (dict(epsilon=-1.0), BN_ERR_BAD_EPSILON),
    (dict(epsilon=float("nan")), BN_ERR_BAD_EPSILON),
    (dict(factor=float("inf")), BN_ERR_BAD_FACTOR),
    (dict(pointers=False), BN_ERR_NULL_POINTER),
])
def test_forward_rejects_bad_arguments_before_any_launch(lib, kwargs, status):
  assert _forward(lib, **kwargs) == status


def test_backward_rejects_null_pointers(lib):
  args = kc.BackwardArgs(kc.Geometry(0, 0, 2, 3, 4), epsilon=1e-3,
                         is_training=1)
  assert lib.bn_cuda_backward(args, None, None) == BN_ERR_NULL_POINTER
  assert lib.bn_cuda_forward(None, None, None) == BN_ERR_NULL_POINTER
  assert lib.bn_cuda_backward(None, None, None) == BN_ERR_NULL_POINTER


def test_workspace_sizes_grow_with_the_problem(lib):
  small = lib.bn_cuda_forward_workspace_bytes(0, 2, 8, 16)
  large = lib.bn_cuda_forward_workspace_bytes(0, 64, 8, 4096)
  assert 0 < small <= large


def test_cuda_kernels_match_float64_and_cudnn(lib):
  torch = pytest.importorskip("torch")
  if not torch.cuda.is_available():
    pytest.skip("no CUDA device")
  module = _comparison_module()
  for shape, layout, dtype in module.CASES:
    row = module.run_case(torch, lib, shape, layout, dtype, repeats=3)
    assert row["ours_error"] <= row["tolerance"], row
