"""The build definition, the build's commands and the cache, with fake tools.

The spec (custom_ops/build_spec.bzl) must name every source file; the kernels
compile once per CPU ISA level; a failing nvcc leaves a CPU-only library; the
cache builds once, records a failed build instead of retrying it at every
import, and says what is missing without a compiler. The fake compiler writes
objects that carry the -D build information and "links" by concatenating them,
so a cached "library" has real build information and no compile takes time.
The real compiles are tested by test_packaging.py and the installed leg.
"""

import glob
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf

import package_env
from tf_bn_compat.build import build_info
from tf_bn_compat.build import cache
from tf_bn_compat.build import library
from tf_bn_compat.build import spec as spec_lib
from tf_bn_compat.build import toolchain

ROOT = package_env.ROOT
ABI = int(tf.sysconfig.CXX11_ABI_FLAG)

FAKE_TOOL = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_TOOL_LOG"], "a") as f:
  f.write(json.dumps([os.path.basename(sys.argv[0])] + args) + "\\n")
if args and args[0].startswith("-dump"):
  print("1.0")
  sys.exit(0)
if os.environ.get("FAKE_TOOL_FAIL") == os.path.basename(sys.argv[0]):
  print("fake error: cannot compile " + args[-3])
  sys.exit(1)
data = b""
for a in args:
  if a.startswith("-DTF_BN_COMPAT_BUILD_INFO="):
    abi = [x.split("=")[1] for x in args if x.startswith("-D_GLIBCXX_USE")]
    data += (b"TF_BN_COMPAT_BUILD_INFO " + a.split("=", 1)[1].strip('"')
             .encode() + b" abi=" + abi[0].encode() + b"\\0")
  if a.endswith(".o") and "-shared" in args:
    data += open(a, "rb").read()
with open(args[args.index("-o") + 1], "wb") as f:
  f.write(data)
"""


def test_spec_names_every_source_file():
  # The wheel, the first-use build and Bazel see only what the spec lists.
  spec = spec_lib.load(ROOT)
  on_disk = {os.path.relpath(p, ROOT) for ext in ("cc", "h", "cu")
             for p in glob.glob(os.path.join(ROOT, "custom_ops", "**",
                                             "*." + ext), recursive=True)}
  assert on_disk == set(spec_lib.source_files(spec)) - {spec_lib.SPEC_NAME}


def test_spec_is_data_only(tmp_path):
  (tmp_path / "custom_ops").mkdir()
  (tmp_path / spec_lib.SPEC_NAME).write_text('A = ["x"]\nB = glob(["*.cc"])\n')
  with pytest.raises(ValueError, match="build_spec.bzl:2"):
    spec_lib.load(str(tmp_path))


def _level(name, host_only, features=(), defines=()):
  return {"name": name, "copts": ["-m" + name], "defines": list(defines),
          "cpu_features": list(features), "host_only": host_only}


@pytest.mark.parametrize("features,want", [
    ({"avx2", "fma", "f16c"}, ["avx2", "any"]),
    ({"avx2", "fma"}, ["any"]),
    (set(), ["any"]),
], ids=["host_has_all", "host_lacks_one", "no_cpuinfo"])
def test_host_only_isa_levels_follow_the_building_cpu(features, want):
  spec = {"CPU_ISA_LEVELS": [_level("avx2", True, ["avx2", "fma", "f16c"]),
                             _level("any", False)]}
  names = [l["name"] for l in toolchain.isa_levels(spec, frozenset(features))]
  assert names == want


def test_no_isa_level_left_means_one_baseline_compile():
  spec = {"CPU_ISA_LEVELS": [_level("avx512", True, ["avx512f"])]}
  assert toolchain.isa_levels(spec, frozenset()) == [
      {"name": "baseline", "copts": [], "defines": []}]


@pytest.fixture
def fake_tools(tmp_path, monkeypatch):
  """Paths of a fake g++ and a fake nvcc; their calls go to a log."""
  bin_dir = tmp_path / "bin"
  bin_dir.mkdir()
  for name in ("fake_cxx", "fake_nvcc"):
    path = bin_dir / name
    path.write_text(FAKE_TOOL.format(python=sys.executable))
    path.chmod(0o755)
  log = tmp_path / "tool_log.jsonl"
  monkeypatch.setenv("FAKE_TOOL_LOG", str(log))

  def calls():
    if not log.exists():
      return []
    return [json.loads(line) for line in log.read_text().splitlines()]
  return str(bin_dir / "fake_cxx"), str(bin_dir / "fake_nvcc"), calls


def _fake_tf_flags():
  return toolchain.TensorFlowFlags(
      version=tf.version.VERSION, abi=ABI,
      cflags=["-I/tf/include", "-D_GLIBCXX_USE_CXX11_ABI=%d" % ABI],
      lflags=["-L/tf", "-l:libtensorflow_framework.so.2"],
      include="/tf/include", framework_library="/tf/lib")


def _two_level_spec():
  spec = spec_lib.load(ROOT)
  spec["CPU_ISA_LEVELS"] = [_level("lva", False, defines=["BN_ISA=1"]),
                            _level("lvb", False, defines=["BN_ISA=2"])]
  return spec


def test_kernels_compile_once_per_isa_level(tmp_path, fake_tools):
  cxx, _, calls = fake_tools
  spec = _two_level_spec()
  out = library.Outputs(str(tmp_path / "ops.so"), str(tmp_path / "k.so"))
  result = library.build_library(ROOT, spec, str(tmp_path / "work"), out,
                                 _fake_tf_flags(), [cxx], jobs=2)
  compiles = [c for c in calls() if "-c" in c]
  for src in spec["KERNEL_SRCS"]:
    mine = [c for c in compiles if c[c.index("-c") + 1] == src]
    levels = sorted(("-mlva" in c and "-DBN_ISA=1" in c,
                     "-mlvb" in c and "-DBN_ISA=2" in c) for c in mine)
    assert levels == [(False, True), (True, False)], mine
    assert len({c[c.index("-o") + 1] for c in mine}) == 2  # An object each.
  kernel_link = [c for c in calls() if "-shared" in c and
                 str(tmp_path / "k.so") in c][0]
  assert sum(o.endswith(".o") for o in kernel_link) == 2 * len(
      spec["KERNEL_SRCS"]) + len(spec["KERNEL_BASELINE_SRCS"])
  fields = build_info.read(str(tmp_path / "ops.so"))
  assert fields["isa"] == "lva,lvb" and fields["tf"] == tf.version.VERSION
  assert fields["cuda"] == "0" and result.info.startswith("tf=")


def test_failing_nvcc_leaves_a_cpu_only_library(tmp_path, fake_tools,
                                                monkeypatch):
  cxx, nvcc, calls = fake_tools
  monkeypatch.setenv("FAKE_TOOL_FAIL", "fake_nvcc")
  spec = spec_lib.load(ROOT)
  out = library.Outputs(str(tmp_path / "ops.so"), None,
                        str(tmp_path / "cuda_kernels.so"))
  result = library.build_library(ROOT, spec, str(tmp_path / "work"), out,
                                 _fake_tf_flags(), [cxx], nvcc=nvcc)
  assert not result.cuda
  assert "bn_cuda.cu" in result.cuda_error and "fake error" in result.cuda_error
  ops_link = [c for c in calls() if "-shared" in c][-1]
  assert not [a for a in ops_link if "cuda" in a], ops_link
  assert not os.path.exists(out.cuda_kernels_library)
  assert build_info.read(out.ops_library)["cuda"] == "0"


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
  monkeypatch.delenv(cache.CACHE_ENV, raising=False)
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
  assert cache.cache_dir() == str(tmp_path / "xdg" / "tf_bn_compat")
  monkeypatch.delenv("XDG_CACHE_HOME")
  monkeypatch.setenv("HOME", str(tmp_path / "home"))
  assert cache.cache_dir() == str(tmp_path / "home" / ".cache" /
                                  "tf_bn_compat")
  monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "mine"))
  assert cache.cache_dir() == str(tmp_path / "mine")


def test_cache_key_names_what_the_library_depends_on(monkeypatch, tmp_path):
  monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path))
  a = cache.Entry("2.21.0", 1)
  assert a.name.startswith("tf2.21.0-abi1-")
  assert "+".join(a.isa) in a.name and a.sources_hash[:12] in a.name
  assert cache.Entry("2.15.1", 1).dir != a.dir
  assert cache.Entry("2.21.0", 0).dir != a.dir


@pytest.fixture
def fake_cache(tmp_path, monkeypatch, fake_tools):
  monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
  monkeypatch.setenv("CXX", fake_tools[0])
  return fake_tools


def _ensure(lines, **kwargs):
  return cache.ensure_library(tf.version.VERSION, ABI, cuda=False,
                              announce=lines.append, **kwargs)


def test_cache_builds_once_and_announces_it(fake_cache):
  _, _, calls = fake_cache
  lines = []
  path = _ensure(lines)
  assert path.startswith(cache.cache_dir() + os.sep)
  assert len(lines) == 1 and lines[0].startswith(
      "tf_bn_compat: building the fused batch norm op for TensorFlow %s "
      "(one time, ~" % tf.version.VERSION)
  built = len(calls())
  assert _ensure(lines) == path and len(lines) == 1
  assert len(calls()) == built  # Not even the compiler's version was asked.
  assert not [d for d in os.listdir(os.path.dirname(path))
              if d.startswith("tmp-")]  # The build's scratch is gone.
  _ensure(lines, force=True)
  assert len(lines) == 2 and len(calls()) > built


def test_failed_build_is_not_retried_at_every_use(fake_cache, monkeypatch):
  _, _, calls = fake_cache
  monkeypatch.setenv("FAKE_TOOL_FAIL", "fake_cxx")
  with pytest.raises(cache.Unavailable, match=r"building it failed: compile "
                     r"custom_ops/.* failed: fake error: .*"
                     r"\(log: .*build.log\)"):
    _ensure([])
  compiles = len([c for c in calls() if "-c" in c])
  with pytest.raises(cache.Unavailable, match="failed before .* retry with "
                     "`python -m tf_bn_compat.build`"):
    _ensure([])
  assert len([c for c in calls() if "-c" in c]) == compiles
  monkeypatch.delenv("FAKE_TOOL_FAIL")
  assert os.path.exists(_ensure([], force=True))


@pytest.mark.parametrize("cxx,path,want", [
    ("/nonexistent/g++", None, "CXX=/nonexistent/g++ is not an executable"),
    (None, "/nonexistent", "g++ is not on PATH"),
], ids=["cxx_env", "no_gxx_on_path"])
def test_no_compiler_is_named(monkeypatch, tmp_path, cxx, path, want):
  monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path))
  if cxx:
    monkeypatch.setenv("CXX", cxx)
  else:
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setenv("PATH", path)
  with pytest.raises(cache.Unavailable,
                     match=re.escape("no C++ compiler: " + want)):
    _ensure([])


def _info_file(tmp_path, text):
  path = tmp_path / "lib.so"
  path.write_bytes(b"\x7fELF\0junk\0" + build_info.MARKER + text.encode() +
                   b"\0more junk")
  return str(path)


def test_build_info_is_read_from_the_bytes(tmp_path):
  fields = build_info.read(_info_file(tmp_path, "tf=2.21.0 isa=avx2 abi=1"))
  assert fields == {"tf": "2.21.0", "isa": "avx2", "abi": "1"}
  (tmp_path / "plain.so").write_bytes(b"\x7fELF no information")
  assert build_info.read(str(tmp_path / "plain.so")) is None


@pytest.mark.parametrize("fields,want", [
    ({"tf": "2.21.0", "abi": "1"}, None),
    ({"tf": "2.15.1", "abi": "1"}, "built for TensorFlow 2.15.1, this is "
     "TensorFlow 2.21.0"),
    ({"tf": "2.21.0", "abi": "0"}, "C++ ABI flag 0, TensorFlow uses 1"),
    (None, "no build information"),
], ids=["fits", "other_tf", "other_abi", "none"])
def test_build_info_mismatch(fields, want):
  got = build_info.mismatch(fields, "2.21.0", 1)
  assert got == want if want is None else want in got


def test_spec_module_loads_without_the_package(tmp_path):
  # setup.py and custom_ops/build.py load spec.py by path.
  script = textwrap.dedent("""
      import importlib.util, sys
      s = importlib.util.spec_from_file_location("s", sys.argv[1])
      m = importlib.util.module_from_spec(s)
      s.loader.exec_module(m)
      print(len(m.source_files(m.load(sys.argv[2]))))
      print("tensorflow" in sys.modules, "tf_bn_compat" in sys.modules)
  """)
  result = subprocess.run(
      [sys.executable, "-I", "-c", script, spec_lib.__file__, ROOT],
      capture_output=True, text=True, timeout=60, check=True,
      cwd=str(tmp_path))
  count, imported = result.stdout.splitlines()
  assert int(count) > 10 and imported == "False False"


UNWRITABLE_CACHE_SCRIPT = textwrap.dedent("""
    import warnings
    import tensorflow as tf
    import tf_bn_compat
    with warnings.catch_warnings(record=True) as caught:
      warnings.simplefilter("always")
      with tf.Graph().as_default():
        tf_bn_compat.layers.batch_normalization(tf.zeros([2, 3, 3, 4]),
                                                training=True)
    print([str(w.message) for w in caught if "tf_bn_compat" in str(w.message)])
""")


def test_unwritable_cache_is_a_fallback_reason_not_a_crash(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("not a directory")
  # A copy of the package without a prebuilt library, so the cache is used.
  package_env.copy_package(tmp_path / "site")
  env = package_env.child_env(TF_BN_COMPAT_CACHE_DIR=str(blocker / "cache"),
                              TF_BN_COMPAT_OPS_LIBRARY="",
                              TF_BN_COMPAT_BACKEND="",
                              PYTHONPATH=str(tmp_path / "site"))
  result = subprocess.run([sys.executable, "-c", UNWRITABLE_CACHE_SCRIPT],
                          capture_output=True, text=True, cwd=str(tmp_path),
                          env=env, timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "cannot build it for TensorFlow" in result.stdout
  assert "Not a directory" in result.stdout
