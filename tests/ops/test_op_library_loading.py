"""The loader takes only a library built for the running TensorFlow.

A copy of the library in use whose build information names another
TensorFlow version (patched in its bytes) is refused, with a message saying how
to rebuild; `python -m tf_bn_compat.info` reports the choice.
"""

import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf

import package_env
from tf_bn_compat.build import build_info
from tf_bn_compat.build import cache
from tf_bn_compat.ops import _library

SCRIPT = textwrap.dedent("""
    import warnings
    import tensorflow as tf
    import tf_bn_compat
    from tf_bn_compat.ops import _library
    with warnings.catch_warnings(record=True) as caught:
      warnings.simplefilter("always")
      with tf.Graph().as_default() as graph:
        x = tf.compat.v1.placeholder(tf.float32, [2, 3, 3, 4])
        y = tf_bn_compat.layers.batch_normalization(x, training=True)
        with tf.compat.v1.Session() as sess:
          sess.run(tf.compat.v1.global_variables_initializer())
          sess.run(y, {x: [[[[1.0, 2.0, 3.0, 4.0]] * 3] * 3] * 2})
      types = {op.type for op in graph.get_operations()}
    for w in caught:
      if "tf_bn_compat" in str(w.message):
        print("WARNING", w.message)
    # OURS: our kernel ran TensorFlow's op; OWN: the graph holds our op.
    print("OURS", _library.stock_kernel_runs()[0] > 0,
          "TF", "FusedBatchNormV3" in types,
          "OWN", any(t.startswith("TfBnCompat") for t in types))
    print("LIBRARY", _library.library_source(), _library.library_path())
    print("NOTES", _library.load_notes())
""")


@pytest.fixture(scope="module")
def loaded_library():
  if _library.load_library() is None:
    pytest.skip("no op library: %s" % _library.load_error())
  return _library.library_path()


def test_library_in_use_was_built_for_this_tensorflow(loaded_library):
  fields = build_info.read(loaded_library)
  assert fields["tf"] == tf.version.VERSION
  assert fields["abi"] == str(tf.sysconfig.CXX11_ABI_FLAG)
  assert fields["isa"] and fields["cuda"] in ("0", "1")


@pytest.fixture
def other_tf_library(loaded_library, tmp_path):
  """A copy of the library whose build information names another TF."""
  data = open(loaded_library, "rb").read()
  version = tf.version.VERSION
  other = re.sub(r"\d", "9", version)
  old = build_info.MARKER + b"tf=" + version.encode() + b" "
  assert data.count(old) == 1
  path = str(tmp_path / "other_tf" / "_tf_bn_compat_ops.so")
  os.makedirs(os.path.dirname(path))
  with open(path, "wb") as f:
    f.write(data.replace(old, build_info.MARKER + b"tf=" + other.encode() +
                         b" "))
  return path, other


def _run(cwd, **env):
  return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True,
                        text=True, cwd=str(cwd), timeout=300, check=False,
                        env=package_env.child_env(**env))


def test_library_for_another_tensorflow_is_not_loaded(other_tf_library,
                                                      tmp_path):
  path, other = other_tf_library
  result = _run(tmp_path, TF_BN_COMPAT_OPS_LIBRARY=path)
  assert result.returncode == 0, result.stderr[-3000:]
  warnings_ = [l for l in result.stdout.splitlines() if l.startswith("WARN")]
  assert len(warnings_) == 1, result.stdout
  assert ("it was built for TensorFlow %s, this is TensorFlow %s" %
          (other, tf.version.VERSION)) in warnings_[0]
  assert "python -m tf_bn_compat.build --output " + path in warnings_[0]
  assert "OURS False TF True OWN False" in result.stdout


def test_forced_custom_backend_refuses_it_too(other_tf_library, tmp_path):
  path, other = other_tf_library
  result = _run(tmp_path, TF_BN_COMPAT_OPS_LIBRARY=path,
                TF_BN_COMPAT_BACKEND="custom")
  assert result.returncode != 0
  assert "TF_BN_COMPAT_BACKEND=custom" in result.stderr
  assert "built for TensorFlow " + other in result.stderr


def test_packaged_library_for_another_tensorflow_is_passed_over(
    other_tf_library, tmp_path):
  # An installed-looking copy of the package whose prebuilt library is for
  # another TF: the loader goes on to the cache (here: a copy of the right
  # library in the entry the loader computes), and notes why.
  path, _ = other_tf_library
  package = package_env.copy_package(tmp_path / "site")
  shutil.copy(path, os.path.join(package, "ops", "_tf_bn_compat_ops.so"))
  cache_dir = tmp_path / "cache"
  env = dict(TF_BN_COMPAT_CACHE_DIR=str(cache_dir), TF_BN_COMPAT_BACKEND="",
             TF_BN_COMPAT_OPS_LIBRARY="", PYTHONPATH=str(tmp_path / "site"))
  entry = subprocess.run(
      [sys.executable, "-c", "import tensorflow as tf; from tf_bn_compat."
       "build import cache; print(cache.Entry(tf.version.VERSION, int("
       "tf.sysconfig.CXX11_ABI_FLAG)).library)"], capture_output=True,
      text=True, cwd=str(tmp_path), timeout=300, check=True,
      env=package_env.child_env(**env))
  target = entry.stdout.strip().splitlines()[-1]
  assert target.startswith(str(cache_dir))
  os.makedirs(os.path.dirname(target))
  shutil.copy(_library.library_path(), target)
  result = _run(tmp_path, **env)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "OURS True TF True OWN False" in result.stdout
  assert "LIBRARY cache " + target in result.stdout
  assert "built for TensorFlow" in result.stdout.split("NOTES")[1]
  assert "WARNING" not in result.stdout
  assert "building" not in result.stderr


def test_info_reports_backend_library_and_build(loaded_library, tmp_path):
  result = subprocess.run([sys.executable, "-m", "tf_bn_compat.info"],
                          capture_output=True, text=True, cwd=str(tmp_path),
                          timeout=300, check=False,
                          env=package_env.child_env())
  assert result.returncode == 0, result.stderr[-3000:]
  info = dict(line.split(": ", 1) for line in result.stdout.splitlines())
  assert info["TensorFlow"].startswith(tf.version.VERSION + " at ")
  assert info["tf_bn_compat"].endswith(package_env.PACKAGE_DIR)
  assert info["backend"].startswith("custom (")
  assert info["library"].startswith(loaded_library + " (")
  assert "tf=" + tf.version.VERSION in info["build info"]
  # The level in use is one of those the library was built with.
  assert info["CPU ISA"].split()[0] in build_info.read(
      loaded_library)["isa"].split(",")
  assert info["C++ ABI flag"] == str(tf.sysconfig.CXX11_ABI_FLAG)
  assert info["cache dir"] == cache.cache_dir()
  for key in ("op sources", "C++ compiler", "nvcc"):
    assert info[key]


def test_info_reports_the_fallback_reason(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "tf_bn_compat.info"], capture_output=True,
      text=True, cwd=str(tmp_path), timeout=300, check=False,
      env=package_env.child_env(TF_BN_COMPAT_OPS_LIBRARY="/nonexistent.so"))
  assert result.returncode == 0, result.stderr[-3000:]
  assert ("backend: tf (fallback: /nonexistent.so not found" in
          result.stdout)
