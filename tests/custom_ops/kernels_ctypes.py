"""ctypes bindings of the framework-free kernels (build/libbn_kernels.so).

`Kernels(lib, level)` calls the entry points of one instruction-set level
(`bn_cpu_forward_avx2`, ...) or, with level None, the dispatching ones
(`bn_cpu_forward`), on numpy arrays; `load_cuda` types the CUDA entry points
of build/libbn_kernels_cuda.so (benchmarks/cuda_vs_torch.py calls them). The
argument structs mirror bn_kernels.h's. Imports no TensorFlow, so that
subprocesses using it start fast; bfloat16 arrays are ml_dtypes.bfloat16
(TensorFlow's numpy bfloat16).
"""

import concurrent.futures
import ctypes
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
LIB_PATH = os.path.join(ROOT, "build", "libbn_kernels.so")

LEVELS = ("baseline", "avx2", "avx512")
CHANNELS_LAST, CHANNELS_FIRST = 0, 1
DTYPE_CODES = {"float32": 0, "float16": 1, "bfloat16": 2}
CHANNELS_FIRST_FORMATS = ("NCHW", "NCDHW")
BN_ERR_ISA_UNKNOWN, BN_ERR_ISA_UNSUPPORTED = 9, 10
BLOCK_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64,
                            ctypes.c_int64)
PARALLEL_FOR = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64,
                                ctypes.c_int64, BLOCK_FN, ctypes.c_void_p)
FP = ctypes.POINTER(ctypes.c_float)

_I64, _VP, _INT, _FLOAT = (ctypes.c_int64, ctypes.c_void_p, ctypes.c_int,
                           ctypes.c_float)


# The argument structs of bn_kernels.h. Pointers are void* here (the ABI of
# any data pointer): numpy arrays pass `ptr(a)`, torch tensors `data_ptr()`.
class Geometry(ctypes.Structure):
  _fields_ = [("dtype", _INT), ("layout", _INT), ("n", _I64), ("c", _I64),
              ("s", _I64)]


class StatsArgs(ctypes.Structure):
  _fields_ = [("g", Geometry), ("x", _VP), ("epsilon", _FLOAT),
              ("mean", _VP), ("var_biased", _VP), ("var_unbiased", _VP),
              ("inv_std", _VP)]


class TransformArgs(ctypes.Structure):
  _fields_ = [("g", Geometry), ("x", _VP), ("y", _VP), ("scale", _VP),
              ("offset", _VP), ("mean", _VP), ("inv_std", _VP)]


class ForwardArgs(ctypes.Structure):
  _fields_ = [("g", Geometry), ("x", _VP), ("y", _VP), ("scale", _VP),
              ("offset", _VP), ("mean_in", _VP), ("var_in", _VP),
              ("epsilon", _FLOAT), ("exponential_avg_factor", _FLOAT),
              ("is_training", _INT), ("batch_mean", _VP), ("batch_var", _VP),
              ("saved_mean", _VP), ("saved_inv_std", _VP), ("saved_var", _VP)]


class BackwardArgs(ctypes.Structure):
  _fields_ = [("g", Geometry), ("dy", _VP), ("x", _VP), ("dx", _VP),
              ("scale", _VP), ("mean", _VP), ("variance_or_inv_std", _VP),
              ("epsilon", _FLOAT), ("is_training", _INT), ("dscale", _VP),
              ("doffset", _VP)]


_ARGTYPES = {
    "bn_cpu_stats": [ctypes.POINTER(StatsArgs), PARALLEL_FOR, _VP],
    "bn_cpu_inv_std": [FP, _I64, _FLOAT, FP],
    "bn_cpu_transform": [ctypes.POINTER(TransformArgs), PARALLEL_FOR, _VP],
    "bn_cpu_forward": [ctypes.POINTER(ForwardArgs), PARALLEL_FOR, _VP],
    "bn_cpu_backward": [ctypes.POINTER(BackwardArgs), PARALLEL_FOR, _VP],
}


def load_cuda(path):
  """build/libbn_kernels_cuda.so with the CUDA entry points' types set."""
  lib = ctypes.CDLL(path)
  for name in ("forward", "backward"):
    workspace_bytes = getattr(lib, "bn_cuda_%s_workspace_bytes" % name)
    workspace_bytes.restype = _I64
    workspace_bytes.argtypes = [_INT, _I64, _I64, _I64]
  lib.bn_cuda_forward.argtypes = [ctypes.POINTER(ForwardArgs), _VP, _VP]
  lib.bn_cuda_backward.argtypes = [ctypes.POINTER(BackwardArgs), _VP, _VP]
  lib.bn_status_string.restype = ctypes.c_char_p
  lib.bn_status_string.argtypes = [ctypes.c_int]
  return lib


def load(path=LIB_PATH):
  """The library with argument types set for every level's entry points."""
  lib = ctypes.CDLL(path)
  for name, argtypes in _ARGTYPES.items():
    for suffix in ("",) + tuple("_" + level for level in LEVELS):
      getattr(lib, name + suffix).argtypes = argtypes
  for name in ("bn_status_string", "bn_cpu_isa", "bn_cpu_isa_supported",
               "bn_cpu_isa_error"):
    getattr(lib, name).restype = ctypes.c_char_p
  lib.bn_status_string.argtypes = [ctypes.c_int]
  return lib


def supported_levels(lib):
  return lib.bn_cpu_isa_supported().decode().split(",")


def fp(a):
  return a.ctypes.data_as(FP) if a is not None else None


def ptr(a):
  """A numpy array's data address for a pointer field (None: NULL)."""
  return a.ctypes.data if a is not None else None


def serial():
  """No callback: the kernels run their blocks in order on this thread."""
  return PARALLEL_FOR()


def reverse_chunks():
  """A callback that runs blocks in odd-sized chunks, last chunk first."""
  @PARALLEL_FOR
  def pf(ctx, n_blocks, cost, fn, arg):
    del ctx, cost
    step = 3
    for begin in reversed(range(0, n_blocks, step)):
      fn(arg, begin, min(n_blocks, begin + step))
  return pf


def threads(pool, n_threads):
  """A callback that runs blocks on n_threads threads of `pool` at once.

  ctypes releases the GIL while a block runs, so the blocks truly overlap.
  """
  @PARALLEL_FOR
  def pf(ctx, n_blocks, cost, fn, arg):
    del ctx, cost
    bounds = np.linspace(0, n_blocks, n_threads + 1).astype(np.int64)
    jobs = [pool.submit(fn, arg, int(b), int(e))
            for b, e in zip(bounds[:-1], bounds[1:]) if e > b]
    for job in jobs:
      job.result()
  return pf


def thread_pool(n_threads):
  return concurrent.futures.ThreadPoolExecutor(max_workers=n_threads)


def aligned_empty_like(x, offset=0, alignment=64):
  """An uninitialized array like x whose data starts `offset` bytes past an
  `alignment`-byte boundary (streaming stores need aligned outputs)."""
  raw = np.empty(x.nbytes + alignment + offset, np.uint8)
  start = (-raw.ctypes.data) % alignment + offset
  return raw[start:start + x.nbytes].view(x.dtype).reshape(x.shape)


def geometry(x, data_format):
  """(layout, n, c, s) of x in a data format."""
  first = data_format in CHANNELS_FIRST_FORMATS
  c = x.shape[1 if first else -1]
  layout = CHANNELS_FIRST if first else CHANNELS_LAST
  return layout, x.shape[0], c, x.size // max(x.shape[0] * c, 1)


def shape_of(x, data_format):
  """The Geometry of a numpy array in a data format."""
  return Geometry(DTYPE_CODES[x.dtype.name], *geometry(x, data_format))


class KernelError(Exception):
  """A kernel returned a nonzero status."""

  def __init__(self, lib, status):
    super().__init__("status %d: %s" % (status, lib.bn_status_string(status)))
    self.status = status


class Kernels:
  """One level's CPU entry points on numpy arrays (level None: dispatched)."""

  def __init__(self, lib, level=None, out_offset=0):
    """Outputs start out_offset bytes past a 64-byte boundary."""
    self.lib = lib
    suffix = "" if level is None else "_" + level
    self._fn = {name: getattr(lib, name + suffix) for name in _ARGTYPES}
    self._offset = out_offset

  def _empty_like(self, x):
    return aligned_empty_like(x, self._offset)

  def _call(self, name, *args):
    status = self._fn[name](*args)
    if status != 0:
      raise KernelError(self.lib, status)

  def stats(self, x, data_format, epsilon, pf=None):
    """(mean, var_biased, var_unbiased, inv_std)."""
    g = shape_of(x, data_format)
    out = [np.empty(g.c, np.float32) for _ in range(4)]
    self._call("bn_cpu_stats", StatsArgs(g, ptr(x), epsilon, *map(ptr, out)),
               pf or serial(), None)
    return out

  def transform(self, x, data_format, scale, offset, mean, inv_std, pf=None):
    y = self._empty_like(x)
    args = TransformArgs(shape_of(x, data_format), ptr(x), ptr(y),
                         *map(ptr, (scale, offset, mean, inv_std)))
    self._call("bn_cpu_transform", args, pf or serial(), None)
    return y

  def forward(self, x, data_format, scale, offset, mean, var, epsilon,
              factor, is_training, pf=None):
    """(y, batch_mean, batch_var, saved_mean, saved_inv_std)."""
    g = shape_of(x, data_format)
    y = self._empty_like(x)
    out = [np.empty(g.c, np.float32) for _ in range(4)]
    args = ForwardArgs(g, ptr(x), ptr(y),
                       *map(ptr, (scale, offset, mean, var)), epsilon, factor,
                       int(is_training), *map(ptr, out))
    self._call("bn_cpu_forward", args, pf or serial(), None)
    return [y] + out

  def backward(self, dy, x, data_format, scale, mean, var_or_inv_std,
               epsilon, is_training, pf=None):
    """(dx, dscale, doffset)."""
    g = shape_of(x, data_format)
    dx = self._empty_like(x)
    dscale, doffset = np.empty(g.c, np.float32), np.empty(g.c, np.float32)
    args = BackwardArgs(g, ptr(dy), ptr(x), ptr(dx),
                        *map(ptr, (scale, mean, var_or_inv_std)), epsilon,
                        int(is_training), ptr(dscale), ptr(doffset))
    self._call("bn_cpu_backward", args, pf or serial(), None)
    return [dx, dscale, doffset]
