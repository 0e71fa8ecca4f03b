"""Lazy loader of the compiled op library and the backend choice.

The library is the first of
  1. the file named by the environment variable `TF_BN_COMPAT_OPS_LIBRARY`
     (e.g. the Bazel output), when set: nothing else is tried;
  2. `_tf_bn_compat_ops.so` next to this file (a source tree's build, by
     `python custom_ops/build.py`);
  3. the per-user cache (`tf_bn_compat.build.cache`), where the library is
     compiled from the package's sources at first use, once per TensorFlow
     version (one line on stderr while it builds).
A library is loaded only if its build information (read from the file, see
`tf_bn_compat.build.build_info`) names the running TensorFlow and C++ ABI.

`TF_BN_COMPAT_BACKEND` picks the backend: "custom" (the compiled op; an
unavailable library is an error), "tf" (TensorFlow's FusedBatchNormV3; nothing
is built), or unset/"auto" (the compiled op when it can be had, else
TensorFlow's, with one warning that says why). On a machine with a GPU whose
compute capability our CUDA kernels have not been verified on (`_gpu_policy`),
"auto" runs TensorFlow's op, with one log line.

Graphs hold TensorFlow's own `FusedBatchNormV3` / `FusedBatchNormGradV3`
either way. On the compiled backend `enable_stock_kernels()` registers the
library's kernels for those ops (and for the names oneDNN's graph rewrite
gives them) at a higher priority than TensorFlow's, so this process runs ours
while the graphs stay portable.
"""

import ctypes
import os
import threading
import warnings

import tensorflow as tf

from tf_bn_compat.build import build_info
from tf_bn_compat.ops import _gpu_policy

LIBRARY_ENV = "TF_BN_COMPAT_OPS_LIBRARY"
BACKEND_ENV = "TF_BN_COMPAT_BACKEND"
LIBRARY_NAME = "_tf_bn_compat_ops.so"
_BACKENDS = ("custom", "tf", "auto")
_NOT_BUILT = "%s=tf: the op is not built" % BACKEND_ENV



class _LoaderState(object):
  """What this process found out: the library it loaded, and its GPUs.

  Attributes:
    lock: Serializes loading and the GPU check.
    loaded: Whether loading was tried and decided (a skipped build under
      TF_BN_COMPAT_BACKEND=tf decides nothing).
    module: The loaded op module, or None.
    error: Why no library loaded, or None.
    path, source: The loaded library's path and how it was found ("env",
      "package", "cache"), or None.
    notes: Libraries passed over while resolving.
    gpu_reason: Why the visible GPUs rule out our kernels ("" for none), or
      None before the check.
    stock: The `STOCK_*` bits of the kernels registered for TensorFlow's
      ops (registrations outlive `reset()`, as the library does).
    handle: ctypes handle of the loaded library, or None.
  """

  def __init__(self):
    self.lock = threading.Lock()
    self.reset()

  def reset(self):
    """Forgets everything found out; the next call loads and checks anew.

    For tests: the library TensorFlow loaded stays loaded (loading it again
    returns the same ops).
    """
    with self.lock:
      self.loaded = False
      self.module = None
      self.error = None
      self.path = None
      self.source = None
      self.notes = []
      self.gpu_reason = None
      self.handle = None
      self.stock = 0


STATE = _LoaderState()

# Bits of the library's tf_bn_compat_register_stock_kernels: our kernels for
# FusedBatchNormV3 / FusedBatchNormGradV3 on CPU, for the
# _MklNativeFusedBatchNorm{,Grad}V3 nodes oneDNN's rewrite makes of them, on
# GPU (in a build with CUDA).
STOCK_CPU = 1
STOCK_ONEDNN = 2
STOCK_GPU = 4


def packaged_library_path():
  """The source tree's prebuilt library (next to this file)."""
  return os.path.join(os.path.dirname(os.path.abspath(__file__)), LIBRARY_NAME)


def library_path():
  """Path of the op library this process loaded (or would try first)."""
  return (STATE.path or os.environ.get(LIBRARY_ENV) or
          packaged_library_path())


def library_source():
  """How the loaded library was found: "env", "package", "cache" or None."""
  return STATE.source


def load_notes():
  """Libraries passed over while resolving (e.g. built for another TF)."""
  return list(STATE.notes)


def _running_abi():
  return int(tf.sysconfig.CXX11_ABI_FLAG)


def _mismatch(path):
  try:
    fields = build_info.read(path)
  except OSError as e:
    return "cannot read it: %s" % e
  return build_info.mismatch(fields, tf.version.VERSION, _running_abi())


def _resolve(notes):
  """(path, source, None) of a library that fits, or (None, None, reason)."""
  explicit = os.environ.get(LIBRARY_ENV)
  if explicit:
    if not os.path.exists(explicit):
      return None, None, ("%s not found (%s names it; build it with `python "
                          "-m tf_bn_compat.build --output %s`)" %
                          (explicit, LIBRARY_ENV, explicit))
    problem = _mismatch(explicit)
    if problem:
      return None, None, ("%s (%s) is not loaded: %s; rebuild it with `python "
                          "-m tf_bn_compat.build --output %s`" %
                          (explicit, LIBRARY_ENV, problem, explicit))
    return explicit, "env", None
  packaged = packaged_library_path()
  if os.path.exists(packaged):
    problem = _mismatch(packaged)
    if not problem:
      return packaged, "package", None
    notes.append("ignored %s: %s (rebuild it with `python "
                 "custom_ops/build.py`)" % (packaged, problem))
  if _requested_backend() == "tf":
    return None, None, _NOT_BUILT
  # pylint: disable=g-import-not-at-top
  from tf_bn_compat.build import cache
  try:
    return cache.ensure_library(tf.version.VERSION, _running_abi()), "cache", \
        None
  except (cache.Unavailable, OSError, ValueError) as e:
    # OSError: e.g. a read-only cache directory; ValueError: a damaged spec.
    return None, None, ("cannot build it for TensorFlow %s: %s" %
                        (tf.version.VERSION, e))


def _try_load():
  notes = []
  path, source, error = _resolve(notes)
  module = None
  if path:
    try:
      module = tf.load_op_library(path)
    except Exception as e:  # pylint: disable=broad-except
      # Any load failure (missing symbols, a damaged file) means fallback.
      error = "cannot load %s: %s" % (path, e)
  if error and notes:
    error += " (%s)" % "; ".join(notes)
  # Not building under TF_BN_COMPAT_BACKEND=tf decides nothing for later.
  STATE.loaded = error != _NOT_BUILT
  STATE.module = module
  STATE.error = error
  STATE.path = path if module else None
  STATE.source = source if module else None
  STATE.notes = notes


def load_library():
  """Loads the op library once (building it first if needed).

  Returns:
    The module from `tf.load_op_library`, or None (after one warning) when no
    library fits or loads.
  """
  with STATE.lock:
    if not STATE.loaded:
      _try_load()
      if STATE.module is None and _requested_backend() != "tf":
        warnings.warn("tf_bn_compat: compiled op unavailable, using "
                      "TensorFlow's FusedBatchNormV3: " + STATE.error,
                      RuntimeWarning, stacklevel=2)
    return STATE.module


def load_error():
  """Why the library did not load (None when it loaded or was not tried)."""
  return STATE.error


def _requested_backend():
  value = os.environ.get(BACKEND_ENV, "").strip().lower() or "auto"
  if value not in _BACKENDS:
    raise ValueError("%s must be one of %s, got %r." %
                     (BACKEND_ENV, ", ".join(_BACKENDS), value))
  return value


def backend():
  """'custom' or 'tf': which implementation `fused_batch_norm` runs on.

  Raises:
    ValueError: if TF_BN_COMPAT_BACKEND has an unknown value.
    RuntimeError: if TF_BN_COMPAT_BACKEND=custom and the library is
      unavailable.
  """
  requested = _requested_backend()
  if requested == "tf":
    return "tf"
  if requested == "custom":
    with STATE.lock:
      if not STATE.loaded:
        _try_load()
    if STATE.module is None:
      raise RuntimeError("%s=custom but the compiled op library is "
                         "unavailable: %s" % (BACKEND_ENV, STATE.error))
    return "custom"
  # The GPU check comes first: nothing is built for kernels we will not use.
  if unverified_gpu_reason() or load_library() is None:
    return "tf"
  return "custom"


def unverified_gpu_reason():
  """Why the visible GPUs rule out our kernels for "auto", or "".

  Checks once per process and logs the reason once.
  """
  with STATE.lock:
    if STATE.gpu_reason is None:
      reason = _gpu_policy.unverified_gpu_reason(
          _gpu_policy.visible_gpu_capabilities())
      STATE.gpu_reason = reason or ""
      if reason:
        tf.compat.v1.logging.warning("tf_bn_compat: " + reason)
    return STATE.gpu_reason


def _handle():
  """The ctypes handle of the loaded library (the same dlopen handle)."""
  if STATE.handle is None and STATE.path:
    handle = ctypes.CDLL(STATE.path)
    handle.tf_bn_compat_register_stock_kernels.argtypes = [ctypes.c_int]
    handle.tf_bn_compat_register_stock_kernels.restype = ctypes.c_int
    handle.tf_bn_compat_stock_kernel_runs.argtypes = [ctypes.c_int]
    handle.tf_bn_compat_stock_kernel_runs.restype = ctypes.c_int64
    STATE.handle = handle
  return STATE.handle


def enable_stock_kernels():
  """Makes this process run our kernels for TensorFlow's fused batch norm.

  Registers them (once) for FusedBatchNormV3 / FusedBatchNormGradV3 on CPU,
  for oneDNN's renamed nodes, and on GPU when the library has CUDA kernels
  (the caller decided the backend, GPU policy included). Kernels TensorFlow
  already created (an open Session's, an eager op's cached one) stay
  TensorFlow's.

  Returns:
    The `STOCK_*` bits registered.

  Raises:
    RuntimeError: if the library is unavailable.
  """
  module = load_library()
  if module is None:
    raise RuntimeError("tf_bn_compat: the compiled op library is unavailable: "
                       "%s" % STATE.error)
  with STATE.lock:
    if STATE.stock == 0:
      STATE.stock = _handle().tf_bn_compat_register_stock_kernels(
          STOCK_CPU | STOCK_ONEDNN | STOCK_GPU)
    return STATE.stock


def stock_kernels_registered():
  """The `STOCK_*` bits registered in this process (by anyone), 0 if none."""
  if STATE.module is None:
    return 0
  return _handle().tf_bn_compat_register_stock_kernels(0)


def stock_kernel_runs():
  """(forward, gradient) calls of our kernels for TensorFlow's ops so far.

  (0, 0) when no library is loaded.
  """
  handle = _handle() if STATE.module is not None else None
  if handle is None:
    return (0, 0)
  return (handle.tf_bn_compat_stock_kernel_runs(1),
          handle.tf_bn_compat_stock_kernel_runs(0))
