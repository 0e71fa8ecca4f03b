"""The Bazel-built library (custom_ops/bazel_build.sh) loads and runs.

Skipped unless TF_BN_COMPAT_BAZEL_LIB names the built _tf_bn_compat_ops.so.
Runs in a subprocess so that it loads the Bazel file through
TF_BN_COMPAT_OPS_LIBRARY, not the build.py library this process loaded.
"""

import os
import subprocess
import sys

import pytest

import package_env

BAZEL_LIB = os.environ.get("TF_BN_COMPAT_BAZEL_LIB")

_SCRIPT = """
import numpy as np, tensorflow as tf
from tf_bn_compat.ops import _library, _custom_op
assert _library.backend() == "custom"
x = np.random.default_rng(0).standard_normal((2, 3, 3, 4)).astype(np.float32)
c = np.ones(4, np.float32)
y, m, v = _custom_op.custom_fused_batch_norm(x, c, c)
want = x.astype(np.float64).mean(axis=(0, 1, 2))
np.testing.assert_allclose(m.numpy(), want, rtol=1e-5, atol=1e-6)
print("OK", _library.library_path())
"""


@pytest.mark.skipif(not BAZEL_LIB, reason="TF_BN_COMPAT_BAZEL_LIB not set")
def test_bazel_library_loads_and_runs():
  assert os.path.exists(BAZEL_LIB), BAZEL_LIB
  env = package_env.child_env(
      TF_BN_COMPAT_OPS_LIBRARY=os.path.abspath(BAZEL_LIB),
      TF_BN_COMPAT_BACKEND="custom")
  result = subprocess.run([sys.executable, "-c", _SCRIPT], env=env,
                          cwd=package_env.TESTS,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "OK " + os.path.abspath(BAZEL_LIB) in result.stdout
