"""Fixtures for the compiled-op tests.

A missing or unloadable op library FAILS these tests, unless
TF_BN_COMPAT_BACKEND=tf says the compiled op is not wanted (then they skip).
Build it first with `python custom_ops/build.py` (an installed package builds
it at first use).
"""

import importlib.util
import os
import sys

import pytest

import kernels_ctypes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
# The source tree, unless a tf_bn_compat is importable already (the tree via
# pytest's pythonpath, or an installed copy that the tests must use).
if importlib.util.find_spec("tf_bn_compat") is None:
  sys.path.insert(0, ROOT)

from tf_bn_compat.ops import _library  # pylint: disable=g-import-not-at-top


@pytest.fixture(scope="session")
def bn_ops():
  """The loaded op module (tf.load_op_library)."""
  module = _library.load_library()
  if module is None:
    if os.environ.get(_library.BACKEND_ENV, "").lower() == "tf":
      pytest.skip("compiled op not available and %s=tf" % _library.BACKEND_ENV)
    pytest.fail("compiled op library unavailable: %s" % _library.load_error())
  return module


@pytest.fixture(scope="session")
def kernels_lib():
  """build/libbn_kernels.so through ctypes (kernels_ctypes.load)."""
  if not os.path.exists(kernels_ctypes.LIB_PATH):
    if os.environ.get(_library.BACKEND_ENV, "").lower() == "tf":
      pytest.skip("build/libbn_kernels.so missing and %s=tf" %
                  _library.BACKEND_ENV)
    pytest.fail("%s missing: run python custom_ops/build.py" %
                kernels_ctypes.LIB_PATH)
  return kernels_ctypes.load()


@pytest.fixture
def tensorflows_kernels():
  """For comparisons with TensorFlow's kernels in this process.

  Once the package registered our kernels for TensorFlow's FusedBatchNormV3 /
  FusedBatchNormGradV3 (the layers' fused path does), TensorFlow's no longer
  run in this process and such a comparison would be ours against ours: it
  fails instead. Run these modules before tests that use the layers.
  """
  if _library.stock_kernels_registered():
    pytest.fail("our kernels are registered for TensorFlow's fused batch norm "
                "in this process, so TensorFlow's cannot be compared with")
