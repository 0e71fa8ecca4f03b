"""From which size the CPU kernels stream their outputs (bn_stream_policy.cc).

The size is chosen once per process, so each case runs in a subprocess that
reads it through the kernels' C ABI: twice the last-level cache that sysfs
lists (at least 8 MiB; 64 MiB where sysfs lists none), unless
TF_BN_COMPAT_STREAM_MIN_BYTES gives a positive integer.
"""

import glob
import os
import subprocess
import sys

import pytest

import kernels_ctypes as kc

ENV = "TF_BN_COMPAT_STREAM_MIN_BYTES"
MIB = 1 << 20

_CHILD = """
import ctypes
lib = ctypes.CDLL(%r)
lib.bn_cpu_stream_min_bytes.restype = ctypes.c_int64
print(lib.bn_cpu_stream_min_bytes())
""" % kc.LIB_PATH


def _child(value):
  env = dict(os.environ)
  env.pop(ENV, None)
  if value is not None:
    env[ENV] = value
  result = subprocess.run([sys.executable, "-c", _CHILD], env=env,
                          capture_output=True, text=True, timeout=60)
  assert result.returncode == 0, result.stderr[-2000:]
  return int(result.stdout.strip())


def _cache_bytes(text):
  units = {"K": 1024, "M": MIB}
  text = text.strip()
  return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


def _expected_default():
  sizes = []
  for path in glob.glob("/sys/devices/system/cpu/cpu0/cache/index*/size"):
    with open(path) as f:
      sizes.append(_cache_bytes(f.read()))
  if not sizes:
    return 64 * MIB
  return max(2 * max(sizes), 8 * MIB)


@pytest.fixture(scope="module", autouse=True)
def _library(kernels_lib):
  del kernels_lib  # Only its presence (it skips or fails where missing).


def test_default_is_twice_the_last_level_cache():
  assert _child(None) == _expected_default()


@pytest.mark.parametrize("value", ["1", "8388608", "1099511627776"])
def test_environment_sets_it(value):
  assert _child(value) == int(value)


@pytest.mark.parametrize("value", ["", "0", "-5", "8M", "lots"])
def test_other_values_keep_the_default(value):
  assert _child(value) == _expected_default()
