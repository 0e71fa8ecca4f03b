"""Reads the op's build definition, custom_ops/build_spec.bzl.

The file holds only literal assignments (Bazel's BUILD loads it too); each is
evaluated with `ast.literal_eval`, never executed. Standard library only: the
module is also loaded by path from setup.py and custom_ops/build.py, before
TensorFlow or the package can be imported.
"""

import ast
import hashlib
import os

SPEC_NAME = "custom_ops/build_spec.bzl"
# Where an installed package keeps the sources (setup.py copies them there).
PACKAGED_SOURCES = "_src"

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SOURCE_LISTS = ("KERNEL_SRCS", "KERNEL_BASELINE_SRCS", "KERNEL_HDRS",
                 "CUDA_SRCS", "TF_SRCS", "TF_HDRS", "TF_GPU_SRCS",
                 "BUILD_INFO_SRCS")


def source_root(package_dir=_PACKAGE_DIR):
  """The directory holding custom_ops/ for this copy of the package.

  Args:
    package_dir: The tf_bn_compat package directory.

  Returns:
    tf_bn_compat/_src in an installed package, else the source tree's root
    (the parent of the package), or None when neither has the sources.
  """
  for root in (os.path.join(package_dir, PACKAGED_SOURCES),
               os.path.dirname(package_dir)):
    if os.path.isfile(os.path.join(root, SPEC_NAME)):
      return root
  return None


def load(root):
  """The spec's assignments as a dict.

  Args:
    root: The directory holding custom_ops/.

  Returns:
    {name: value} of every top-level assignment of build_spec.bzl.

  Raises:
    ValueError: if the file has anything but literal assignments.
  """
  path = os.path.join(root, SPEC_NAME)
  with open(path) as f:
    tree = ast.parse(f.read(), path)
  values = {}
  for node in tree.body:
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
      continue  # The docstring.
    if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and
            isinstance(node.targets[0], ast.Name)):
      raise ValueError("%s:%d: only NAME = literal assignments are allowed" %
                       (path, node.lineno))
    try:
      values[node.targets[0].id] = ast.literal_eval(node.value)
    except ValueError as e:
      raise ValueError("%s:%d: %s" % (path, node.lineno, e)) from e
  return values


def source_files(spec):
  """Every source and header the spec names, relative to its root, sorted."""
  files = {SPEC_NAME}
  for name in _SOURCE_LISTS:
    files.update(spec.get(name, []))
  return sorted(files)


def sources_hash(root, spec, extra_files=()):
  """SHA-256 (hex) of the spec's files and extra_files, by content.

  Args:
    root: The directory holding custom_ops/.
    spec: The loaded spec.
    extra_files: Absolute paths hashed too (the build code itself).

  Returns:
    A hex digest that changes whenever any of the files does.
  """
  digest = hashlib.sha256()
  named = [(rel, os.path.join(root, rel)) for rel in source_files(spec)]
  named += [(os.path.basename(p), p) for p in sorted(extra_files)]
  for rel, path in named:
    digest.update(rel.encode() + b"\0")
    with open(path, "rb") as f:
      digest.update(f.read())
    digest.update(b"\0")
  return digest.hexdigest()
