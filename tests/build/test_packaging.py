"""A wheel or sdist of the repository gives users the compiled op.

From a copy of the repository (holding a stale `_tf_bn_compat_ops.so` that
must not be shipped), builds a wheel with `pip wheel` and an sdist with
setuptools' PEP 517 backend in an environment holding only the build
requirements (what `python -m build --sdist` does), installs each with
`pip install --no-deps --target`, and runs the fused layer from outside the
source tree with this Python, the target on PYTHONPATH and a fresh cache:
two concurrent first uses build the op once (one builds, the other waits),
both run on our op without a warning; the sdist's copy is the same package and
finds the same cache entry; without a compiler there is one warning naming it.

CUDA is left out of these first-use builds (TF_BN_COMPAT_CUDA=0) to keep them
short: custom_ops/build.py and the installed leg of scripts/test.sh compile it.
Skipped on the installed leg, whose own `pip install` of the repository is the
same test at full size.
"""

import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import tomllib
import zipfile

import pytest

import package_env
from tf_bn_compat.build import spec as spec_lib

ROOT = package_env.ROOT
pytestmark = pytest.mark.skipif(
    not package_env.FROM_SOURCE_TREE,
    reason="runs on a source tree (the installed leg installs it for real)")

SCRIPT = textwrap.dedent("""
    import warnings
    import numpy as np
    import tensorflow as tf
    import tf_bn_compat
    from tf_bn_compat.ops import _library
    with warnings.catch_warnings(record=True) as caught:
      warnings.simplefilter("always")
      with tf.Graph().as_default() as graph:
        x = tf.compat.v1.placeholder(tf.float32, [None, 4, 4, 3])
        y = tf_bn_compat.layers.batch_normalization(x, training=True)
        with tf.compat.v1.Session() as sess:
          sess.run(tf.compat.v1.global_variables_initializer())
          out = sess.run(y, {x: np.random.RandomState(0).rand(2, 4, 4, 3)})
      types = {op.type for op in graph.get_operations()}
    print("PACKAGE", tf_bn_compat.__file__)
    # OURS: our kernel ran TensorFlow's op; OWN: the graph holds our op.
    print("OURS", _library.stock_kernel_runs()[0] > 0,
          "TF", "FusedBatchNormV3" in types,
          "OWN", any(t.startswith("TfBnCompat") for t in types))
    print("LIBRARY", _library.library_source(), _library.library_path())
    ours = [str(w.message) for w in caught if "tf_bn_compat" in str(w.message)]
    print("WARNINGS", len(ours))
    for message in ours:
      print("WARNING", message)
    print("MAX_MEAN", float(np.abs(out.mean(axis=(0, 1, 2))).max()))
""")
BUILDING = "tf_bn_compat: building the fused batch norm op for TensorFlow"
WAITING = "tf_bn_compat: waiting for another process to finish building"
UNAVAILABLE = "tf_bn_compat: compiled op unavailable"


def _pip(*args, cwd):
  result = subprocess.run([sys.executable, "-m", "pip", "--quiet"] +
                          list(args), capture_output=True, text=True,
                          cwd=cwd, timeout=600, check=False)
  assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]


def _copy_tree(target):
  anywhere = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.so", "*.o")
  top = shutil.ignore_patterns(".git", ".venv*", "build", "bazel-*",
                               ".pytest_cache", ".hypothesis")

  def ignore(folder, names):
    return set(anywhere(folder, names)) | (
        set(top(folder, names)) if folder == ROOT else set())
  shutil.copytree(ROOT, target, ignore=ignore)
  with open(os.path.join(target, "tf_bn_compat", "ops",
                         "_tf_bn_compat_ops.so"), "wb") as f:
    f.write(b"a stale library that must not be shipped")


def _build_sdist(tree, out_dir, scratch):
  """The sdist, built as `python -m build --sdist` does (isolated backend)."""
  with open(os.path.join(tree, "pyproject.toml"), "rb") as f:
    requires = tomllib.load(f)["build-system"]["requires"]
  backend = os.path.join(scratch, "backend")
  _pip("install", "--no-deps", "--target", backend, *requires, cwd=scratch)
  result = subprocess.run(
      [sys.executable, "-c", "import sys, setuptools.build_meta as b; "
       "print(b.build_sdist(sys.argv[1]))", out_dir], capture_output=True,
      text=True, cwd=tree, timeout=300, check=False,
      env=dict(os.environ, PYTHONPATH=backend))
  assert result.returncode == 0, result.stderr[-3000:]
  return os.path.join(out_dir, result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
  """{"wheel", "sdist": (archive, install target)}, and a place outside."""
  base = str(tmp_path_factory.mktemp("packaging"))
  tree, out = os.path.join(base, "tree"), os.path.join(base, "dist")
  _copy_tree(tree)
  os.makedirs(out)
  _pip("wheel", "--no-deps", "--wheel-dir", out, "./tree", cwd=base)
  wheels = [f for f in os.listdir(out) if f.endswith(".whl")]
  assert len(wheels) == 1, wheels
  sdist = _build_sdist(tree, out, base)
  result = {"outside": os.path.join(base, "outside")}
  os.makedirs(result["outside"])
  for kind, archive in (("wheel", os.path.join(out, wheels[0])),
                        ("sdist", sdist)):
    target = os.path.join(base, "site-" + kind)
    _pip("install", "--no-deps", "--target", target, archive, cwd=base)
    result[kind] = (archive, target)
  return result


def _spec_files():
  return spec_lib.source_files(spec_lib.load(ROOT))


def test_wheel_ships_the_sources_and_no_library(dists):
  names = zipfile.ZipFile(dists["wheel"][0]).namelist()
  for rel in _spec_files():
    assert "tf_bn_compat/_src/" + rel in names
  assert not [n for n in names if n.endswith(".so")], names


def test_sdist_ships_the_sources_and_no_library(dists):
  names = tarfile.open(dists["sdist"][0]).getnames()
  top = names[0].split("/")[0]
  for rel in _spec_files() + ["setup.py", "pyproject.toml"]:
    assert top + "/" + rel in names
  assert not [n for n in names if n.endswith(".so")], names


def _package_files(target):
  files = {}
  package = os.path.join(target, "tf_bn_compat")
  for folder, dirs, names in os.walk(package):
    dirs[:] = [d for d in dirs if d != "__pycache__"]
    for name in names:
      path = os.path.join(folder, name)
      with open(path, "rb") as f:
        files[os.path.relpath(path, package)] = f.read()
  return files


def test_sdist_and_wheel_install_the_same_package(dists):
  wheel_files = _package_files(dists["wheel"][1])
  assert wheel_files == _package_files(dists["sdist"][1])
  for rel in _spec_files():
    with open(os.path.join(ROOT, rel), "rb") as f:
      assert wheel_files[os.path.join("_src", rel)] == f.read(), rel


def _tf_version():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.version.VERSION


def _env(target, cache_dir, **overrides):
  env = {k: v for k, v in os.environ.items()
         if not k.startswith("TF_BN_COMPAT_") and k != "PYTHONPATH"}
  env.update(PYTHONPATH=target, TF_BN_COMPAT_CACHE_DIR=cache_dir,
             TF_BN_COMPAT_CUDA="0", TF_CPP_MIN_LOG_LEVEL="3")
  env.update(overrides)
  return env


def _start(dists, kind, cache_dir, **overrides):
  return subprocess.Popen(
      [sys.executable, "-c", SCRIPT], cwd=dists["outside"],
      env=_env(dists[kind][1], cache_dir, **overrides), text=True,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(process):
  stdout, stderr = process.communicate(timeout=900)
  assert process.returncode == 0, stdout[-2000:] + stderr[-3000:]
  return stdout, stderr


def _runs_on_our_op(stdout, target, cache_dir):
  assert "PACKAGE " + os.path.join(target, "tf_bn_compat") in stdout
  assert "OURS True TF True OWN False" in stdout
  assert "LIBRARY cache " + cache_dir + os.sep in stdout
  assert "WARNINGS 0" in stdout
  max_mean = float(stdout.split("MAX_MEAN ")[1].split()[0])
  assert max_mean < 1e-5  # Normalized: the batch mean of y is 0.


@pytest.fixture(scope="module")
def first_use(dists):
  """Two concurrent first uses of the wheel's package, fresh cache."""
  cache_dir = os.path.join(os.path.dirname(dists["outside"]), "cache")
  processes = [_start(dists, "wheel", cache_dir) for _ in range(2)]
  return cache_dir, [_finish(p) for p in processes]


def test_concurrent_first_uses_build_once(dists, first_use):
  cache_dir, outputs = first_use
  for stdout, stderr in outputs:
    _runs_on_our_op(stdout, dists["wheel"][1], cache_dir)
    assert UNAVAILABLE not in stderr
  stderrs = [stderr for _, stderr in outputs]
  assert sum(s.count(BUILDING) for s in stderrs) == 1, stderrs
  assert sum(s.count(WAITING) for s in stderrs) == 1, stderrs
  entries = os.listdir(cache_dir)
  assert len(entries) == 1, entries
  assert sorted(os.listdir(os.path.join(cache_dir, entries[0]))) == [
      "_tf_bn_compat_ops.so", "build.log", "lock"]


def test_sdist_install_finds_the_same_cache_entry(dists, first_use):
  cache_dir, _ = first_use
  stdout, stderr = _finish(_start(dists, "sdist", cache_dir))
  _runs_on_our_op(stdout, dists["sdist"][1], cache_dir)
  assert BUILDING not in stderr and UNAVAILABLE not in stderr


def test_without_compiler_one_warning_then_tensorflows_op(dists, tmp_path):
  stdout, stderr = _finish(_start(dists, "wheel", str(tmp_path),
                                  CXX="/nonexistent/g++"))
  assert "OURS False TF True OWN False" in stdout and "WARNINGS 1" in stdout
  warning = stdout.split("WARNING ")[1].splitlines()[0]
  assert warning.startswith(UNAVAILABLE)
  assert warning.endswith("cannot build it for TensorFlow %s: no C++ compiler: "
                          "CXX=/nonexistent/g++ is not an executable" %
                          _tf_version())
  assert BUILDING not in stderr


def test_forced_custom_backend_without_compiler_is_an_error(dists, tmp_path):
  process = _start(dists, "wheel", str(tmp_path), PATH="/nonexistent",
                   TF_BN_COMPAT_BACKEND="custom")
  _, stderr = process.communicate(timeout=600)
  assert process.returncode != 0
  assert "TF_BN_COMPAT_BACKEND=custom" in stderr
  assert "g++ is not on PATH" in stderr
