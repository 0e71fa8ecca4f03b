"""The environment of child Pythons: they import the tf_bn_compat under test.

On a source tree that is the repository (put on PYTHONPATH); on an installed
copy (scripts/test.sh's installed leg) it is the child's own site-packages, so
nothing is added and the repository must stay off the child's sys.path.
"""

import os
import shutil

import tf_bn_compat

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "tests")
PACKAGE_DIR = os.path.dirname(os.path.abspath(tf_bn_compat.__file__))
FROM_SOURCE_TREE = os.path.dirname(PACKAGE_DIR) == ROOT


def pythonpath(*extra, env=None):
  """PYTHONPATH for a child: the package under test, extra, then env's."""
  env = os.environ if env is None else env
  parts = ([ROOT] if FROM_SOURCE_TREE else []) + list(extra)
  return os.pathsep.join(p for p in parts + [env.get("PYTHONPATH")] if p)


def child_env(**overrides):
  """os.environ with the package under test importable, plus overrides."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  env["PYTHONPATH"] = pythonpath(env=env)
  env.update(overrides)
  return env


def copy_package(site):
  """Copies the package under test into site/ as an installed package is laid
  out (its op's sources in tf_bn_compat/_src/), without any compiled library.

  Returns:
    The copy's package directory.
  """
  package = os.path.join(str(site), "tf_bn_compat")
  shutil.copytree(PACKAGE_DIR, package,
                  ignore=shutil.ignore_patterns("__pycache__", "*.so"))
  sources = os.path.join(package, "_src", "custom_ops")
  if not os.path.exists(sources):
    shutil.copytree(os.path.join(ROOT, "custom_ops"), sources,
                    ignore=shutil.ignore_patterns("*.py", "*.sh"))
  return package
