"""setuptools glue: ships the op's C++/CUDA sources inside the package.

Everything else is in pyproject.toml. The files that custom_ops/build_spec.bzl
lists (and the spec itself) are copied to tf_bn_compat/_src/custom_ops/ of the
wheel, from which an installed package compiles its op at first use against
the TensorFlow it finds then (tf_bn_compat/build/cache.py). No library is
compiled here: under PEP 517 build isolation this environment has no (or
another) TensorFlow.
"""

import importlib.util
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def _spec_module():
  """tf_bn_compat/build/spec.py, loaded by path (standard library only)."""
  path = os.path.join(HERE, "tf_bn_compat", "build", "spec.py")
  module_spec = importlib.util.spec_from_file_location("_tf_bn_compat_spec",
                                                       path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module


class BuildPyWithOpSources(build_py):
  """build_py that also copies the op's sources into the package."""

  def run(self):
    editable = getattr(self, "editable_mode", False)
    if not editable:
      # setuptools never deletes what an earlier build left in build_lib;
      # start afresh so that the wheel holds exactly this tree's files.
      shutil.rmtree(os.path.join(self.build_lib, "tf_bn_compat"),
                    ignore_errors=True)
    super().run()
    if editable:
      return  # An editable install builds from the tree's own custom_ops/.
    spec = _spec_module()
    target = os.path.join(self.build_lib, "tf_bn_compat", spec.PACKAGED_SOURCES)
    for rel in spec.source_files(spec.load(HERE)):
      destination = os.path.join(target, rel)
      self.mkpath(os.path.dirname(destination))
      self.copy_file(os.path.join(HERE, rel), destination, preserve_mode=False)


# Away from build/'s own objects (custom_ops/build.py).
setup(cmdclass={"build_py": BuildPyWithOpSources},
      options={"build": {"build_base": "build/setuptools"}})
