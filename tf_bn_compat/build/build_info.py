"""The build information compiled into the op library, read without loading it.

custom_ops/ops/build_info.cc puts "TF_BN_COMPAT_BUILD_INFO key=value ..." in
the library's read-only data: the TensorFlow version and C++ ABI it was built
against, the CPU ISA levels of its kernels, whether it has CUDA kernels, the
hash of its sources, the compiler and the build front end. The loader scans the
file's bytes for it, because loading a library built for another TensorFlow
can crash the process or fail with unreadable symbol errors.
"""

import mmap

MARKER = b"TF_BN_COMPAT_BUILD_INFO "
_MAX_LENGTH = 1024
REBUILD_HINT = "rebuild it with `python -m tf_bn_compat.build`"


def format_fields(**fields):
  """"key=value key=value" (values must not contain spaces)."""
  for key, value in fields.items():
    if " " in str(value) or '"' in str(value) or not str(value):
      raise ValueError("bad build info field %s=%r" % (key, value))
  return " ".join("%s=%s" % item for item in fields.items())


def parse(text):
  """{key: value} of a build information string."""
  return dict(item.split("=", 1) for item in text.split() if "=" in item)


def read(path):
  """The build information of a library file.

  Args:
    path: The library file.

  Returns:
    The {key: value} dict, or None when the file has no build information
    (a library built before it existed, or not by this package).

  Raises:
    OSError: if the file cannot be read.
  """
  with open(path, "rb") as f:
    try:
      data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except ValueError:  # An empty file.
      return None
    with data:
      start = data.find(MARKER)
      if start < 0:
        return None
      start += len(MARKER)
      end = data.find(b"\0", start, start + _MAX_LENGTH)
      if end < 0:
        return None
      return parse(data[start:end].decode("ascii", "replace"))


def mismatch(fields, tf_version, abi):
  """Why a library with these fields cannot be loaded here, or None.

  Args:
    fields: The library's build information (None: it has none).
    tf_version: The running TensorFlow's version (`tf.version.VERSION`).
    abi: The running TensorFlow's C++ ABI flag (0 or 1).

  Returns:
    A message naming the difference, or None when the library fits.
  """
  if fields is None:
    return "it has no build information (built by an older tf_bn_compat?)"
  if fields.get("tf") != tf_version:
    return "it was built for TensorFlow %s, this is TensorFlow %s" % (
        fields.get("tf", "(unknown)"), tf_version)
  if fields.get("abi") != str(abi):
    return ("it was built with the C++ ABI flag %s, TensorFlow uses %s" %
            (fields.get("abi", "(unknown)"), abi))
  return None
