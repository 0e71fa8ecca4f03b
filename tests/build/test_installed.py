"""The suite runs on an installed copy: `pip install <repository>`.

Active when TF_BN_COMPAT_EXPECT_INSTALLED=1 (scripts/test.sh's installed leg,
which runs pytest from outside the source tree with tests/installed.ini, so
that only tests/ is put on sys.path): the package comes from site-packages,
carries the sources of its op, and the fused layer runs on our op, built at
first use into TF_BN_COMPAT_CACHE_DIR, without a warning.
"""

import os
import site
import subprocess
import sys
import textwrap

import pytest

import package_env
import tf_bn_compat
from tf_bn_compat.build import cache
from tf_bn_compat.build import spec as spec_lib

pytestmark = pytest.mark.skipif(
    os.environ.get("TF_BN_COMPAT_EXPECT_INSTALLED") != "1",
    reason="TF_BN_COMPAT_EXPECT_INSTALLED=1 is not set")

SCRIPT = textwrap.dedent("""
    import warnings
    import tensorflow as tf
    import tf_bn_compat
    from tf_bn_compat.ops import _library
    with warnings.catch_warnings(record=True) as caught:
      warnings.simplefilter("always")
      with tf.Graph().as_default() as graph:
        x = tf.compat.v1.placeholder(tf.float32, [None, 4, 4, 3])
        y = tf_bn_compat.layers.batch_normalization(x, training=True)
        grad = tf.gradients(y, x)
        with tf.compat.v1.Session() as sess:
          sess.run(tf.compat.v1.global_variables_initializer())
          sess.run(grad, {x: [[[[1.0, 2.0, 3.0]] * 4] * 4] * 2})
      types = {op.type for op in graph.get_operations()}
    print("PACKAGE", tf_bn_compat.__file__)
    print("TYPES", sorted(t for t in types if "BatchNorm" in t))
    print("RUNS", _library.stock_kernel_runs())
    print("LIBRARY", _library.library_source(), _library.library_path())
    print("WARNINGS", [str(w.message) for w in caught
                       if "tf_bn_compat" in str(w.message)])
""")


def test_package_is_imported_from_site_packages():
  # Not the repository's tf_bn_compat/ (CI's venv may live in the repository).
  assert not package_env.FROM_SOURCE_TREE, tf_bn_compat.__file__
  assert os.path.dirname(package_env.PACKAGE_DIR) in site.getsitepackages()


def test_installed_package_carries_the_op_sources():
  root = spec_lib.source_root()
  assert root == os.path.join(package_env.PACKAGE_DIR,
                              spec_lib.PACKAGED_SOURCES)
  for rel in spec_lib.source_files(spec_lib.load(package_env.ROOT)):
    with open(os.path.join(root, rel), "rb") as mine, open(
        os.path.join(package_env.ROOT, rel), "rb") as repo:
      assert mine.read() == repo.read(), rel


def test_fused_layer_runs_on_our_op_without_warning(tmp_path):
  result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True,
                          text=True, cwd=str(tmp_path), timeout=900,
                          check=False, env=package_env.child_env())
  assert result.returncode == 0, result.stderr[-3000:]
  out = result.stdout
  assert ("PACKAGE " + os.path.join(package_env.PACKAGE_DIR, "__init__.py")
          in out)
  assert "TYPES ['FusedBatchNormGradV3', 'FusedBatchNormV3']" in out, out
  assert "RUNS (1, 1)" in out, out
  assert "LIBRARY cache " + cache.cache_dir() + os.sep in out
  assert "WARNINGS []" in out
  assert "compiled op unavailable" not in result.stderr
