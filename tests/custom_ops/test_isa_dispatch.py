"""The choice of instruction-set level (custom_ops/kernels/bn_dispatch.cc).

The level is chosen once per process, so TF_BN_COMPAT_ISA is tried in
subprocesses: each supported level can be forced (and its own code runs),
an unknown or unsupported level is a status code with a clear message (and a
FailedPreconditionError from the TF op), never a crash. The machine code of
the libraries is read to check that nothing outside the avx2 / avx512
levels uses their instructions: a template compiled at a higher level and
kept by the linker for a lower level's calls would crash older CPUs.
"""

import collections
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import kernels_ctypes as kc

HERE = os.path.dirname(os.path.abspath(__file__))
# As tf_bn_compat/ops/_library.py finds it (no TensorFlow import here: the
# subprocesses import this file).
OPS_LIBRARY = os.environ.get("TF_BN_COMPAT_OPS_LIBRARY") or os.path.join(
    kc.ROOT, "tf_bn_compat", "ops", "_tf_bn_compat_ops.so")
ENV = "TF_BN_COMPAT_ISA"

# cpuinfo flags each level needs (Linux hides those the OS does not enable).
LEVEL_FLAGS = {
    "baseline": set(),
    "avx2": {"avx2", "fma", "f16c"},
    "avx512": {"avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512dq",
               "avx512vl"},
}


@pytest.fixture(scope="module")
def lib(kernels_lib):
  return kernels_lib


def _cpuinfo_flags():
  with open("/proc/cpuinfo") as f:
    for line in f:
      if line.startswith("flags"):
        return set(line.split(":", 1)[1].split())
  return set()


def test_supported_levels_match_cpuinfo(lib):
  flags = _cpuinfo_flags()
  want = [l for l in kc.LEVELS if LEVEL_FLAGS[l] <= flags]
  assert kc.supported_levels(lib) == want
  forced = os.environ.get(ENV, "").lower()
  assert lib.bn_cpu_isa().decode() == (forced if forced not in ("", "auto")
                                       else want[-1])
  assert lib.bn_cpu_isa_status() == 0 and lib.bn_cpu_isa_error() == b""


def _transform_input():
  """A transform whose float32 result differs with and without FMA."""
  rng = np.random.default_rng(7)
  x = (rng.standard_normal((2, 5, 7, 37)) * 2 + 1e3).astype(np.float32)
  c = x.shape[-1]
  scale = rng.uniform(0.5, 1.5, c).astype(np.float32)
  offset = rng.standard_normal(c).astype(np.float32)
  mean = (rng.standard_normal(c) + 1e3).astype(np.float32)
  inv_std = rng.uniform(0.5, 1.5, c).astype(np.float32)
  return x, "NHWC", scale, offset, mean, inv_std


def _digest(k):
  return hashlib.sha256(k.transform(*_transform_input()).tobytes()).hexdigest()


# Runs in a subprocess with TF_BN_COMPAT_ISA set: what the library chose, and
# the digest of the dispatched transform (or the status it returned).
_CHILD = """
import json, sys
sys.path.insert(0, %r)
import kernels_ctypes as kc
import test_isa_dispatch as t
lib = kc.load()
out = {"isa": lib.bn_cpu_isa() and lib.bn_cpu_isa().decode(),
       "status": lib.bn_cpu_isa_status(),
       "error": lib.bn_cpu_isa_error().decode()}
try:
  out["digest"] = t._digest(kc.Kernels(lib))
except kc.KernelError as e:
  out["call_status"] = e.status
print(json.dumps(out))
""" % HERE


def _child(value):
  env = dict(os.environ)
  env[ENV] = value
  result = subprocess.run([sys.executable, "-c", _CHILD], env=env, cwd=HERE,
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("level", kc.LEVELS)
def test_env_forces_a_supported_level(lib, level):
  supported = kc.supported_levels(lib)
  if level not in supported:
    pytest.skip("this CPU lacks %s (it supports %s)" %
                (level, ",".join(supported)))
  got = _child(level.upper() if level == "avx2" else level)
  assert got["isa"] == level and got["status"] == 0 and got["error"] == ""
  digests = {l: _digest(kc.Kernels(lib, l)) for l in supported}
  assert got["digest"] == digests[level]
  # The baseline rounds twice where the FMA levels fuse: a distinct result
  # shows which code ran.
  if level == "baseline" and len(supported) > 1:
    assert digests["baseline"] != digests[supported[1]]


def test_env_auto_picks_the_best_level(lib):
  assert _child("auto")["isa"] == kc.supported_levels(lib)[-1]


def test_env_unknown_level_is_an_error(lib):
  got = _child("avx1024")
  assert got["isa"] is None
  assert got["status"] == got["call_status"] == kc.BN_ERR_ISA_UNKNOWN
  assert "TF_BN_COMPAT_ISA=avx1024" in got["error"]
  assert lib.bn_cpu_isa_supported().decode() in got["error"]
  assert lib.bn_status_string(kc.BN_ERR_ISA_UNKNOWN).startswith(
      b"TF_BN_COMPAT_ISA is not one of")


@pytest.mark.parametrize("level", kc.LEVELS[1:])
def test_env_unsupported_level_is_an_error(lib, level):
  supported = kc.supported_levels(lib)
  if level in supported:
    pytest.skip("this CPU supports %s: forcing it cannot fail here" % level)
  got = _child(level)
  assert got["isa"] is None
  assert got["status"] == got["call_status"] == kc.BN_ERR_ISA_UNSUPPORTED
  assert ("TF_BN_COMPAT_ISA=%s" % level) in got["error"]
  assert "supports %s" % ",".join(supported) in got["error"]


# The TF op under TF_BN_COMPAT_ISA: its output, or the error it raises.
_TF_CHILD = """
import hashlib, json, sys
import numpy as np
import tensorflow as tf
sys.path.insert(0, %r)
import test_isa_dispatch as t
from tf_bn_compat.ops import _custom_op
x, fmt, scale, offset, mean, inv_std = t._transform_input()
var = (1.0 / inv_std.astype(np.float64) ** 2 - 1e-3).astype(np.float32)
out = {}
try:
  y = _custom_op.custom_fused_batch_norm(
      x, scale, offset, mean, var, epsilon=1e-3, data_format=fmt,
      is_training=False)[0]
  out["digest"] = hashlib.sha256(y.numpy().tobytes()).hexdigest()
except tf.errors.OpError as e:
  out["error"] = type(e).__name__
  out["message"] = e.message
print(json.dumps(out))
""" % HERE


def _tf_child(value):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
             TF_BN_COMPAT_BACKEND="custom", PYTHONPATH=kc.ROOT)
  env[ENV] = value
  result = subprocess.run([sys.executable, "-c", _TF_CHILD], env=env,
                          cwd=kc.ROOT, capture_output=True, text=True,
                          timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout.strip().splitlines()[-1])


def test_tf_op_reports_a_bad_level_as_failed_precondition(lib, bn_ops):
  del bn_ops  # Only for its skip / fail when the op library is missing.
  supported = kc.supported_levels(lib)
  missing = [l for l in kc.LEVELS if l not in supported]
  # An unsupported level where this CPU lacks one; an unknown one otherwise
  # (the same path through the op: no level can be chosen).
  value = missing[0] if missing else "avx1024"
  got = _tf_child(value)
  assert got.get("error") == "FailedPreconditionError", got
  assert ("TF_BN_COMPAT_ISA=%s" % value) in got["message"]
  assert ",".join(supported) in got["message"]


def test_tf_op_runs_the_forced_level(lib, bn_ops):
  """The op's inference forward is the transform with inv_std from var; its
  bits must be the baseline level's (thread counts do not change them)."""
  del bn_ops
  x, fmt, scale, offset, mean, inv_std = _transform_input()
  var = (1.0 / inv_std.astype(np.float64) ** 2 - 1e-3).astype(np.float32)
  k = kc.Kernels(lib, "baseline")
  y = k.forward(x, fmt, scale, offset, mean, var, 1e-3, 1.0, False)[0]
  got = _tf_child("baseline")
  assert got.get("digest") == hashlib.sha256(y.tobytes()).hexdigest(), got


# ---- The machine code -------------------------------------------------------

_FUNCTION = re.compile(r"^[0-9a-f]+ <(.+)>:$")
# Registers only AVX-512 has: zmm, the opmasks, and xmm/ymm 16-31.
_AVX512_OPERAND = re.compile(r"zmm|%k[0-7]|[xy]mm(1[6-9]|2[0-9]|3[01])\b")


def _level_of(symbol):
  """The level a (mangled) function belongs to: its namespace bn::isa_<level>
  or its suffix; anything else (dispatch, adapters, libstdc++ templates) must
  be baseline code."""
  for level in ("avx512", "avx2"):
    if level in symbol:
      return level
  return "baseline"


def _scan(path):
  """{level: instructions}, and the instructions beyond each function's level.

  Baseline code has no VEX/EVEX instruction (AT&T mnemonics starting with
  'v'); avx2 code no AVX-512 register."""
  text = subprocess.run(["objdump", "-d", "--no-show-raw-insn", path],
                        capture_output=True, text=True, check=True).stdout
  counts = collections.Counter()
  beyond = collections.Counter()
  function = None
  for line in text.splitlines():
    m = _FUNCTION.match(line)
    if m:
      function = m.group(1)
      continue
    parts = line.split("\t")
    if function is None or len(parts) < 2 or not parts[-1].strip():
      continue
    insn = parts[-1].strip()
    level = _level_of(function)
    counts[level] += 1
    if ((level == "baseline" and insn.startswith("v")) or
        (level == "avx2" and _AVX512_OPERAND.search(insn))):
      beyond[(function, insn.split()[0])] += 1
  return counts, beyond


@pytest.mark.skipif(shutil.which("objdump") is None, reason="no objdump")
@pytest.mark.parametrize("path", [kc.LIB_PATH, OPS_LIBRARY],
                         ids=["libbn_kernels", "op_library"])
def test_only_level_code_uses_level_instructions(kernels_lib, bn_ops, path):
  del kernels_lib, bn_ops  # Only for their skip / fail when missing.
  counts, beyond = _scan(path)
  # Every level is in the library (the scan sees them).
  assert all(counts[level] > 1000 for level in kc.LEVELS), counts
  assert not beyond, sorted(beyond.items())[:20]
