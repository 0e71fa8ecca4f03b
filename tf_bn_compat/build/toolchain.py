"""What a build needs from the machine: compilers, CPU, TensorFlow's flags.

Each finder returns None (or raises `Missing`) with a message that names what
is missing and how to provide it; nothing here compiles.
"""

import collections
import importlib.util
import os
import shlex
import shutil
import subprocess

CXX_ENV = "CXX"
CUDA_ENV = "TF_BN_COMPAT_CUDA"
DEFAULT_CXX = "g++"

TensorFlowFlags = collections.namedtuple(
    "TensorFlowFlags", ["version", "abi", "cflags", "lflags", "include",
                        "framework_library"])


class Missing(Exception):
  """Something the build needs is not on this machine (message says what)."""


def cxx_command():
  """The C++ compiler command: $CXX (may carry arguments) or g++.

  Returns:
    The command as a list, its program resolved to a path.

  Raises:
    Missing: if the program is not found.
  """
  value = os.environ.get(CXX_ENV, "").strip()
  words = shlex.split(value) if value else [DEFAULT_CXX]
  program = shutil.which(words[0])
  if program is None:
    if value:
      raise Missing("no C++ compiler: %s=%s is not an executable" %
                    (CXX_ENV, value))
    raise Missing("no C++ compiler: %s is not on PATH (install it, or set %s)"
                  % (DEFAULT_CXX, CXX_ENV))
  return [program] + words[1:]


def compiler_id(cxx):
  """A short name of the compiler, e.g. "g++-12.2.0" (no spaces)."""
  for flag in ("-dumpfullversion", "-dumpversion"):
    try:
      result = subprocess.run(cxx + [flag], capture_output=True, text=True,
                              timeout=30, check=False)
    except OSError:
      break
    version = result.stdout.strip()
    if result.returncode == 0 and version and " " not in version:
      return "%s-%s" % (os.path.basename(cxx[0]), version)
  return os.path.basename(cxx[0])


def cuda_home():
  return os.environ.get("CUDA_HOME", "/usr/local/cuda")


def find_nvcc():
  """nvcc's path, or None (also when TF_BN_COMPAT_CUDA=0 turns CUDA off)."""
  if os.environ.get(CUDA_ENV, "").strip() == "0":
    return None
  nvcc = shutil.which("nvcc") or os.path.join(cuda_home(), "bin", "nvcc")
  return nvcc if os.path.exists(nvcc) else None


def host_cpu_features():
  """The CPU flags of /proc/cpuinfo (empty where it cannot be read)."""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("flags"):
          return frozenset(line.split(":", 1)[1].split())
  except OSError:
    pass
  return frozenset()


def isa_levels(spec, features=None):
  """The CPU ISA levels to compile the kernels for, from the spec's table.

  Args:
    spec: The loaded build spec.
    features: The CPU flags of the building machine (default: this one's).

  Returns:
    A list of dicts with "name", "copts", "defines"; never empty (a
    "baseline" level with no flags when no level of the table applies).
  """
  features = host_cpu_features() if features is None else features
  levels = [level for level in spec["CPU_ISA_LEVELS"]
            if not level.get("host_only") or
            set(level.get("cpu_features", [])) <= features]
  return levels or [{"name": "baseline", "copts": [], "defines": []}]


def tensorflow_location():
  """The installed tensorflow package's directory, without importing it."""
  spec = importlib.util.find_spec("tensorflow")
  if spec is None or not spec.submodule_search_locations:
    raise Missing("TensorFlow is not installed in this Python environment")
  return list(spec.submodule_search_locations)[0]


def tensorflow_flags():
  """Compile and link flags of the installed TensorFlow (imports it).

  Returns:
    A `TensorFlowFlags`.

  Raises:
    Missing: if TensorFlow's C++ headers or framework library are missing.
  """
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  include = tf.sysconfig.get_include()
  header = os.path.join(include, "tensorflow", "core", "framework", "op.h")
  if not os.path.exists(header):
    raise Missing("TensorFlow %s has no C++ headers (%s is missing)" %
                  (tf.version.VERSION, header))
  framework = os.path.join(tf.sysconfig.get_lib(),
                           "libtensorflow_framework.so.2")
  if not os.path.exists(framework):
    raise Missing("TensorFlow %s has no %s" % (tf.version.VERSION, framework))
  return TensorFlowFlags(
      version=tf.version.VERSION, abi=int(tf.sysconfig.CXX11_ABI_FLAG),
      cflags=list(tf.sysconfig.get_compile_flags()),
      lflags=list(tf.sysconfig.get_link_flags()), include=include,
      framework_library=framework)
