"""Lazy loader of the compiled op library and the backend choice.

The library is `_tf_bn_compat_ops.so` next to this file (built by
`python custom_ops/build.py`), or the file named by the environment variable
`TF_BN_COMPAT_OPS_LIBRARY` (e.g. the Bazel output). Nothing is built here.

`TF_BN_COMPAT_BACKEND` picks the backend: "custom" (the compiled op; an
unloadable library is an error), "tf" (TensorFlow's FusedBatchNormV3), or
unset/"auto" (the compiled op when it loads and no GPU stands in the way,
else TensorFlow's, with one warning or log line). On a machine with a GPU
whose compute capability our CUDA kernels have not been verified on
(`_gpu_policy`), "auto" runs TensorFlow's op.
"""

import os
import threading
import warnings

import tensorflow as tf

from tf_bn_compat.ops import _gpu_policy

LIBRARY_ENV = "TF_BN_COMPAT_OPS_LIBRARY"
BACKEND_ENV = "TF_BN_COMPAT_BACKEND"
LIBRARY_NAME = "_tf_bn_compat_ops.so"
_BACKENDS = ("custom", "tf", "auto")

_lock = threading.Lock()
_state = {"loaded": False, "module": None, "error": None, "gpu_reason": None}


def library_path():
  """Path of the op library this process loads."""
  return os.environ.get(LIBRARY_ENV) or os.path.join(
      os.path.dirname(os.path.abspath(__file__)), LIBRARY_NAME)


def _try_load():
  path = library_path()
  if not os.path.exists(path):
    return None, ("%s not found (build it with `python custom_ops/build.py`, "
                  "or point %s at a built library)" % (path, LIBRARY_ENV))
  try:
    return tf.load_op_library(path), None
  except Exception as e:  # pylint: disable=broad-except
    # Any load failure (missing symbols, TF version mismatch) means fallback.
    return None, "cannot load %s: %s" % (path, e)


def load_library():
  """Loads the op library once.

  Returns:
    The module from `tf.load_op_library`, or None (after one warning) when the
    library is missing or does not load.
  """
  with _lock:
    if not _state["loaded"]:
      module, error = _try_load()
      _state.update(loaded=True, module=module, error=error)
      if module is None and _requested_backend() != "tf":
        warnings.warn("tf_bn_compat: compiled op unavailable, using "
                      "TensorFlow's FusedBatchNormV3: " + error,
                      RuntimeWarning, stacklevel=2)
    return _state["module"]


def load_error():
  """Why the library did not load (None when it loaded or was not tried)."""
  return _state["error"]


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
    RuntimeError: if TF_BN_COMPAT_BACKEND=custom and the library does not load.
  """
  requested = _requested_backend()
  if requested == "tf":
    return "tf"
  if requested == "custom":
    with _lock:
      if not _state["loaded"]:
        module, error = _try_load()
        _state.update(loaded=True, module=module, error=error)
    if _state["module"] is None:
      raise RuntimeError("%s=custom but the compiled op library is "
                         "unavailable: %s" % (BACKEND_ENV, _state["error"]))
    return "custom"
  if load_library() is None:
    return "tf"
  return "tf" if _unverified_gpu_reason() else "custom"


def _unverified_gpu_reason():
  """Checks the visible GPUs once; logs once why they rule out our kernels."""
  with _lock:
    if _state["gpu_reason"] is None:
      reason = _gpu_policy.unverified_gpu_reason(
          _gpu_policy.visible_gpu_capabilities())
      _state["gpu_reason"] = reason or ""
      if reason:
        tf.compat.v1.logging.warning("tf_bn_compat: " + reason)
    return _state["gpu_reason"]
