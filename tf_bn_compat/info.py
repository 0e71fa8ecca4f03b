"""Prints how tf_bn_compat runs here: `python -m tf_bn_compat.info`.

The package and TensorFlow versions, the backend the fused layers use and
why, the op library (path, how it was found, its build information, the CPU
ISA level its kernels run), the cache, the compilers. Resolving the backend
is the real one: it builds the op into the cache if that is what the first use
would do.
"""

import ctypes
import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# pylint: disable=g-import-not-at-top,wrong-import-position
import tensorflow as tf

import tf_bn_compat
from tf_bn_compat.build import build_info
from tf_bn_compat.build import cache
from tf_bn_compat.build import spec as spec_lib
from tf_bn_compat.build import toolchain
from tf_bn_compat.ops import _library

_SOURCES = {"env": "named by " + _library.LIBRARY_ENV,
            "package": "the source tree's build, next to the package",
            "cache": "the per-user cache"}


def _backend():
  """(backend, why)."""
  requested = os.environ.get(_library.BACKEND_ENV, "").strip() or "auto"
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # The reason is printed below instead.
    try:
      chosen = _library.backend()
    except (RuntimeError, ValueError) as e:
      return "error", str(e)
  if chosen == "custom":
    return "custom", "%s=%s; our op loaded" % (_library.BACKEND_ENV, requested)
  if requested.lower() == "tf":
    return "tf", "%s=tf" % _library.BACKEND_ENV
  gpu_reason = _library.unverified_gpu_reason()
  if gpu_reason:
    return "tf", "GPU: " + gpu_reason
  return "tf", "fallback: " + (_library.load_error() or "?")


def _cpu_isa(path, fields):
  """What the kernels report (bn_cpu_isa), else the build's fixed level."""
  try:
    lib = ctypes.CDLL(path)
  except OSError:
    lib = None
  if lib is not None and hasattr(lib, "bn_cpu_isa"):
    lib.bn_cpu_isa.restype = ctypes.c_char_p
    lib.bn_cpu_isa.argtypes = []
    return lib.bn_cpu_isa().decode() + " (chosen at run time)"
  return (fields or {}).get("isa", "?") + " (fixed)"


def _compiler():
  try:
    cxx = toolchain.cxx_command()
  except toolchain.Missing as e:
    return str(e)
  return "%s (%s)" % (" ".join(cxx), toolchain.compiler_id(cxx))


def report():
  """The lines `python -m tf_bn_compat.info` prints."""
  backend, why = _backend()
  path = _library.library_path() if backend == "custom" else None
  fields = build_info.read(path) if path else None
  lines = [
      ("tf_bn_compat", "%s at %s" % (tf_bn_compat.__version__,
                                     os.path.dirname(tf_bn_compat.__file__))),
      ("TensorFlow", "%s at %s" % (tf.version.VERSION,
                                   os.path.dirname(tf.__file__))),
      ("C++ ABI flag", str(tf.sysconfig.CXX11_ABI_FLAG)),
      ("backend", "%s (%s)" % (backend, why)),
      ("library", "%s (%s)" % (path, _SOURCES[_library.library_source()])
       if path else "none"),
      ("build info", " ".join("%s=%s" % kv for kv in sorted(fields.items()))
       if fields else "none"),
      ("CPU ISA", _cpu_isa(path, fields) if path else "none"),
  ]
  root = spec_lib.source_root()
  lines += [
      ("op sources", root or "none (this copy cannot build the op)"),
      ("cache dir", cache.cache_dir()),
      ("C++ compiler", _compiler()),
      ("nvcc", toolchain.find_nvcc() or "not found (CPU-only builds)"),
  ]
  for note in _library.load_notes():
    lines.append(("note", note))
  return ["%s: %s" % line for line in lines]


def main():
  print("\n".join(report()))


if __name__ == "__main__":
  main()
