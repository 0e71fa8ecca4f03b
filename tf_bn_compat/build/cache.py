"""The per-user cache of op libraries, built at first use.

An installed package carries the op's sources, not a compiled library: a
library is only valid for the TensorFlow it was built against, and `pip
install` builds in an isolated environment without the user's TensorFlow.
So the library is compiled once, in the user's own environment, into

  $TF_BN_COMPAT_CACHE_DIR, else $XDG_CACHE_HOME/tf_bn_compat, else
  ~/.cache/tf_bn_compat

under a directory named by what the library depends on: the TensorFlow
version, its C++ ABI flag, the CPU ISA levels of the kernels and the hash of
the sources (and of this build code), so that upgrading TensorFlow or the
package builds a new one and never reuses an old one. The compiler is not in
the key: a built library stays usable after the compiler is removed, and
libraries from different g++ versions with the same ABI flag are
interchangeable.

Concurrent first uses build once: the builder holds an exclusive lock
(fcntl) on the entry's lock file, the others wait for it, and the library
appears by an atomic rename. A failed build is recorded, so that later
processes do not retry it on every import; `python -m tf_bn_compat.build`
retries.
"""

import fcntl
import glob
import os
import shutil
import sys
import tempfile
import time

from . import build_info
from . import library
from . import spec as spec_lib
from . import toolchain

CACHE_ENV = "TF_BN_COMPAT_CACHE_DIR"
JOBS_ENV = "TF_BN_COMPAT_BUILD_JOBS"
LIBRARY_NAME = "_tf_bn_compat_ops.so"
_BUILD_CODE = sorted(glob.glob(os.path.join(os.path.dirname(
    os.path.abspath(__file__)), "*.py")))
# Rough compile times (s) on one core, for the estimate printed while building.
_STEP_SECONDS = {"KERNEL_SRCS": 8, "KERNEL_BASELINE_SRCS": 2, "TF_SRCS": 25,
                 "CUDA_SRCS": 15, "TF_GPU_SRCS": 20}


class Unavailable(Exception):
  """No library can be had; the message says what is missing or failed."""


def cache_dir():
  """The cache's root directory (not created)."""
  path = os.environ.get(CACHE_ENV)
  if not path:
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    path = os.path.join(xdg, "tf_bn_compat")
  return os.path.abspath(path)


def sources_hash(root, spec):
  """Hash of the op's sources and of this build code (see `spec_lib`)."""
  return spec_lib.sources_hash(root, spec, _BUILD_CODE)


def default_jobs():
  try:
    return max(1, int(os.environ.get(JOBS_ENV, "")))
  except ValueError:
    return max(1, min(4, os.cpu_count() or 1))


class Entry:
  """One cache entry: the library for one TensorFlow, ABI, ISA and source."""

  def __init__(self, tf_version, abi, root=None):
    root = root or spec_lib.source_root()
    if root is None:
      raise Unavailable("this copy of tf_bn_compat has no op sources (%s is "
                        "missing)" % os.path.join(
                            spec_lib.PACKAGED_SOURCES, spec_lib.SPEC_NAME))
    self.root, self.tf_version, self.abi = root, tf_version, abi
    self.spec = spec_lib.load(root)
    self.isa = [level["name"] for level in toolchain.isa_levels(self.spec)]
    self.sources_hash = sources_hash(root, self.spec)
    self.name = "tf%s-abi%s-%s-%s" % (tf_version, abi, "+".join(self.isa),
                                      self.sources_hash[:12])
    self.dir = os.path.join(cache_dir(), self.name)
    self.library = os.path.join(self.dir, LIBRARY_NAME)
    self.log = os.path.join(self.dir, "build.log")
    self.failed = os.path.join(self.dir, "build-failed.txt")

  def ready(self):
    """True when the entry holds a library that fits this TensorFlow."""
    return os.path.exists(self.library) and build_info.mismatch(
        build_info.read(self.library), self.tf_version, self.abi) is None

  def estimate_seconds(self, jobs, cuda):
    total = sum(_STEP_SECONDS[key] * len(self.spec[key]) *
                (len(self.isa) if key == "KERNEL_SRCS" else 1)
                for key in _STEP_SECONDS
                if cuda or key not in ("CUDA_SRCS", "TF_GPU_SRCS"))
    return max(10, int(round(total / float(jobs), -1)))


def _stderr_line(message):
  sys.stderr.write(message + "\n")
  sys.stderr.flush()


def _earlier_failure(entry, compiler):
  """The recorded failure of a build with this compiler, or None."""
  try:
    with open(entry.failed) as f:
      recorded, reason = f.readline().strip(), f.read().strip()
  except OSError:
    return None
  return reason if recorded == "compiler=" + compiler else None


def ensure_library(tf_version, abi, force=False, cuda=True, jobs=None,
                   announce=_stderr_line, progress=None):
  """The path of a cached library for this TensorFlow, built if needed.

  Args:
    tf_version: The running TensorFlow's version.
    abi: Its C++ ABI flag.
    force: Rebuild even when the entry is there (and retry a failed build).
    cuda: Build the CUDA kernels when nvcc is found.
    jobs: Compiles at once (default: $TF_BN_COMPAT_BUILD_JOBS, or up to 4).
    announce: Called with the one line said while building (and with the
      line saying that nvcc failed, or that another process builds).
    progress: Called with one line per build step (None: quiet).

  Returns:
    The library's path.

  Raises:
    Unavailable: no compiler, no TensorFlow headers, no sources, or the
      build failed; the message says which.
  """
  entry = Entry(tf_version, abi)
  if not force and entry.ready():
    return entry.library
  try:
    cxx = toolchain.cxx_command()
    compiler = toolchain.compiler_id(cxx)
    earlier = None if force else _earlier_failure(entry, compiler)
    if earlier:
      raise Unavailable("building it failed before (%s; log: %s); retry with "
                        "`python -m tf_bn_compat.build`" % (earlier, entry.log))
    tf_flags = toolchain.tensorflow_flags()
  except toolchain.Missing as e:
    raise Unavailable(str(e)) from None
  os.makedirs(entry.dir, exist_ok=True)
  with open(os.path.join(entry.dir, "lock"), "w") as lock:
    try:
      fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      announce("tf_bn_compat: waiting for another process to finish building "
               "the op (%s)" % entry.dir)
      fcntl.flock(lock, fcntl.LOCK_EX)
      if entry.ready():
        return entry.library
    if not force and entry.ready():
      return entry.library
    return _build(entry, tf_flags, cxx, compiler, cuda,
                  jobs or default_jobs(), announce, progress)


def _build(entry, tf_flags, cxx, compiler, cuda, jobs, announce, progress):
  """Builds entry's library (the lock is held)."""
  nvcc = toolchain.find_nvcc() if cuda else None
  announce("tf_bn_compat: building the fused batch norm op for TensorFlow %s "
           "(one time, ~%d s)..." % (entry.tf_version,
                                     entry.estimate_seconds(jobs, bool(nvcc))))
  work = tempfile.mkdtemp(prefix="tmp-", dir=entry.dir)
  start = time.time()
  try:
    with open(entry.log, "w") as log:
      def sink(cmd, output):
        log.write("$ %s\n%s\n" % (" ".join(cmd), output))
        log.flush()
      output = os.path.join(work, LIBRARY_NAME)
      try:
        result = library.build_library(
            entry.root, entry.spec, work, library.Outputs(output), tf_flags,
            cxx, nvcc=nvcc, jobs=jobs, builder="cache",
            sources_hash=entry.sources_hash, progress=progress, sink=sink)
      except library.BuildFailed as e:
        with open(entry.failed, "w") as f:
          f.write("compiler=%s\n%s\n" % (compiler, str(e).splitlines()[0]))
        raise Unavailable("building it failed: %s (log: %s)" % (
            str(e).splitlines()[0], entry.log)) from None
      log.write("built in %.1f s: %s\n" % (time.time() - start, result.info))
    if result.cuda_error:
      announce("tf_bn_compat: %s; the op is built without CUDA kernels (log: "
               "%s)" % (result.cuda_error.splitlines()[0], entry.log))
    os.replace(output, entry.library)
    if os.path.exists(entry.failed):
      os.remove(entry.failed)
    return entry.library
  finally:
    shutil.rmtree(work, ignore_errors=True)
