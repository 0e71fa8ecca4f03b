"""Builds the custom-op library without Bazel.

Usage: .venv/bin/python custom_ops/build.py [--force] [--no-cuda] [--verbose]

Produces
  tf_bn_compat/ops/_tf_bn_compat_ops.so  the TensorFlow op library (CPU
                                         kernels, plus CUDA kernels when nvcc
                                         is found);
  build/libbn_kernels.so                 the framework-free CPU kernels (C ABI
                                         of custom_ops/kernels/bn_kernels.h).
The CPU kernels are compiled once per instruction-set level of
custom_ops/isa_levels.bzl and pick one at run time. Objects go to build/obj/. Work is skipped when outputs are newer than their
inputs and were built with the same command, so a repeated run costs well under
a second (TensorFlow is only imported when something must be rebuilt).
Compiles run one at a time. Compile flags come from tf.sysconfig.
"""

import argparse
import ast
import glob
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "custom_ops")
BUILD = os.path.join(ROOT, "build")
DEFAULT_OPS_LIBRARY = os.path.join(ROOT, "tf_bn_compat", "ops",
                                   "_tf_bn_compat_ops.so")
# TF_BN_COMPAT_OPS_LIBRARY (also read by the loader) moves the op library, and
# this build's objects beside it: one build per TensorFlow version.
OPS_LIBRARY = os.path.abspath(
    os.environ.get("TF_BN_COMPAT_OPS_LIBRARY") or DEFAULT_OPS_LIBRARY)
WORK = (BUILD if OPS_LIBRARY == DEFAULT_OPS_LIBRARY
        else os.path.dirname(OPS_LIBRARY))
OBJ = os.path.join(WORK, "obj")
KERNELS_LIBRARY = os.path.join(BUILD, "libbn_kernels.so")
# The same C ABI with the CUDA launchers, still framework-free (nvcc only).
CUDA_KERNELS_LIBRARY = os.path.join(BUILD, "libbn_kernels_cuda.so")
STAMP = os.path.join(WORK, "build_config.txt")

CUDA_HOME = os.environ.get("CUDA_HOME", "/usr/local/cuda")
# sm_80 (A100) and sm_90 (H100/H200) machine code plus compute_90 PTX for
# newer GPUs; more targets multiply the nvcc time.
CUDA_ARCH_FLAGS = [
    "-gencode=arch=compute_80,code=sm_80",
    "-gencode=arch=compute_90,code=[sm_90,compute_90]",
]

KERNEL_SOURCES = sorted(glob.glob(os.path.join(SRC, "kernels", "*.cc")))
# Compiled once per instruction-set level; the other kernel sources once.
ISA_SOURCES = sorted(glob.glob(os.path.join(SRC, "kernels", "bn_cpu_*.cc")))
COMMON_KERNEL_SOURCES = [p for p in KERNEL_SOURCES if p not in ISA_SOURCES]
ISA_LEVELS_FILE = os.path.join(SRC, "isa_levels.bzl")
CUDA_SOURCES = sorted(glob.glob(os.path.join(SRC, "kernels", "*.cu")))
TF_SOURCES = [os.path.join(SRC, "ops", "bn_ops.cc"),
              os.path.join(SRC, "tf_adapters", "fused_batch_norm_kernels.cc")]
TF_GPU_SOURCES = [
    os.path.join(SRC, "tf_adapters", "fused_batch_norm_kernels_gpu.cc")]
HEADERS = sorted(glob.glob(os.path.join(SRC, "**", "*.h"), recursive=True))


def log(msg):
  print("[build] " + msg, flush=True)


def find_nvcc():
  nvcc = shutil.which("nvcc") or os.path.join(CUDA_HOME, "bin", "nvcc")
  return nvcc if os.path.exists(nvcc) else None


def tf_framework_library():
  """Path of libtensorflow_framework.so.2 without importing TensorFlow."""
  spec = importlib.util.find_spec("tensorflow")
  if spec is None or not spec.submodule_search_locations:
    sys.exit("[build] TensorFlow is not installed in " + sys.executable)
  return os.path.join(list(spec.submodule_search_locations)[0],
                      "libtensorflow_framework.so.2")


def kernel_flags():
  """(KERNEL_FLAGS, ISA_LEVELS) of custom_ops/isa_levels.bzl.

  KERNEL_FLAGS go to every kernel source; ISA_LEVELS, [(name, flags)] lowest
  first, are the instruction-set levels. Bazel reads the same file.
  """
  with open(ISA_LEVELS_FILE) as f:
    tree = ast.parse(f.read(), ISA_LEVELS_FILE)
  values = {node.targets[0].id: ast.literal_eval(node.value)
            for node in tree.body if isinstance(node, ast.Assign)}
  return (list(values["KERNEL_FLAGS"]),
          [(name, list(flags)) for name, flags in values["ISA_LEVELS"]])


def mtime(path):
  return os.path.getmtime(path) if os.path.exists(path) else -1.0


def run_step(what, cmd, output, inputs, verbose):
  """Runs cmd unless output is newer than inputs and was made by cmd."""
  # Command records live under build/, never next to the package's .so.
  cmd_file = os.path.join(WORK, "cmd", os.path.relpath(output, ROOT).replace(
      os.sep, "_") + ".cmd")
  cmd_text = "\n".join(cmd)
  if (os.path.exists(output) and mtime(output) >= max(map(mtime, inputs))
      and os.path.exists(cmd_file) and open(cmd_file).read() == cmd_text):
    log("up to date: " + what)
    return False
  os.makedirs(os.path.dirname(output), exist_ok=True)
  start = time.time()
  if verbose:
    log(" ".join(cmd))
  result = subprocess.run(cmd, cwd=ROOT)
  if result.returncode != 0:
    sys.exit("[build] FAILED: %s\n%s" % (what, " ".join(cmd)))
  os.makedirs(os.path.dirname(cmd_file), exist_ok=True)
  with open(cmd_file, "w") as f:
    f.write(cmd_text)
  log("%s (%.1f s)" % (what, time.time() - start))
  return True


def obj_path(src, variant):
  rel = os.path.relpath(src, SRC).replace(os.sep, "_")
  return os.path.join(OBJ, variant, rel + ".o")


def config_text(use_cuda, tf_lib):
  h = hashlib.sha1()
  for path in [os.path.abspath(__file__), ISA_LEVELS_FILE] + \
      KERNEL_SOURCES + CUDA_SOURCES + TF_SOURCES + TF_GPU_SOURCES + HEADERS:
    h.update(path.encode())
    h.update(str(mtime(path)).encode())
  return "cuda=%d\ntf=%s %s\nsources=%s\n" % (
      use_cuda, tf_lib, mtime(tf_lib), h.hexdigest())


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--force", action="store_true", help="rebuild everything")
  parser.add_argument("--no-cuda", action="store_true", help="skip nvcc")
  parser.add_argument("--verbose", action="store_true", help="print commands")
  args = parser.parse_args()

  nvcc = None if args.no_cuda else find_nvcc()
  tf_lib = tf_framework_library()
  config = config_text(nvcc is not None, tf_lib)
  outputs = [OPS_LIBRARY, KERNELS_LIBRARY] + (
      [CUDA_KERNELS_LIBRARY] if nvcc else [])
  if (not args.force and os.path.exists(STAMP) and open(STAMP).read() == config
      and all(os.path.exists(path) for path in outputs)):
    log("up to date: %s, %s" % (os.path.relpath(OPS_LIBRARY, ROOT),
                                os.path.relpath(KERNELS_LIBRARY, ROOT)))
    return
  if args.force and os.path.isdir(OBJ):
    shutil.rmtree(OBJ)

  log("reading compile flags from tf.sysconfig")
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf_cflags = list(tf.sysconfig.get_compile_flags())
  tf_lflags = list(tf.sysconfig.get_link_flags())
  # The C++ ABI define must match TensorFlow's build; take it from TF.
  abi = [f for f in tf_cflags if f.startswith("-D_GLIBCXX_USE_CXX11_ABI")]
  common_flags, levels = kernel_flags()
  log("CPU levels: %s; CUDA: %s" % (", ".join(name for name, _ in levels),
                                    nvcc or "not found, CPU only"))

  # Everything but the kernels of the higher levels is baseline x86-64 code.
  base = ["g++", "-O3", "-fPIC", "-std=c++17", "-I" + ROOT]
  kernel_base = base + common_flags
  kernel_objs = []
  for src in COMMON_KERNEL_SOURCES:
    obj = obj_path(src, "cpu")
    run_step("compile " + os.path.relpath(src, ROOT),
             kernel_base + abi + ["-Wall", "-c", src, "-o", obj], obj,
             [src] + HEADERS, args.verbose)
    kernel_objs.append(obj)
  for name, flags in levels:
    for src in ISA_SOURCES:
      obj = obj_path(src, "cpu_" + name)
      cmd = kernel_base + flags + ["-DBN_ISA=" + name] + abi + [
          "-Wall", "-c", src, "-o", obj]
      run_step("compile %s [%s]" % (os.path.relpath(src, ROOT), name), cmd,
               obj, [src] + HEADERS, args.verbose)
      kernel_objs.append(obj)

  run_step("link build/libbn_kernels.so",
           ["g++", "-shared", "-o", KERNELS_LIBRARY] + kernel_objs +
           ["-Wl,--no-undefined", "-lm"],
           KERNELS_LIBRARY, kernel_objs, args.verbose)

  tf_base = base + tf_cflags + ["-Wno-deprecated-declarations",
                                 "-Wno-interference-size"]
  tf_objs = []
  for src in TF_SOURCES:
    obj = obj_path(src, "tf")
    run_step("compile " + os.path.relpath(src, ROOT),
             tf_base + ["-c", src, "-o", obj], obj, [src] + HEADERS,
             args.verbose)
    tf_objs.append(obj)

  cuda_objs, cuda_link = [], []
  if nvcc:
    for src in CUDA_SOURCES:
      obj = obj_path(src, "cuda")
      cmd = ([nvcc, "-O3", "-std=c++17", "-Xcompiler", "-fPIC", "-I" + ROOT]
             + CUDA_ARCH_FLAGS + ["-c", src, "-o", obj])
      run_step("nvcc " + os.path.relpath(src, ROOT), cmd, obj,
               [src] + HEADERS, args.verbose)
      cuda_objs.append(obj)
    cuda_kernel_objs = list(cuda_objs)
    for src in TF_GPU_SOURCES:
      obj = obj_path(src, "tf_gpu")
      cmd = tf_base + ["-DGOOGLE_CUDA=1", "-DEIGEN_USE_GPU",
                       "-I" + os.path.join(CUDA_HOME, "include"),
                       "-c", src, "-o", obj]
      run_step("compile " + os.path.relpath(src, ROOT), cmd, obj,
               [src] + HEADERS, args.verbose)
      cuda_objs.append(obj)
    # Static cudart BEFORE the TF library: libtensorflow_framework exports
    # cuda* forwarding symbols that would otherwise capture our calls.
    cuda_link = ["-L" + os.path.join(CUDA_HOME, "lib64"), "-lcudart_static",
                 "-Wl,--exclude-libs,libcudart_static.a"]
    standalone = kernel_objs + cuda_kernel_objs
    run_step("link build/libbn_kernels_cuda.so",
             ["g++", "-shared", "-o", CUDA_KERNELS_LIBRARY] + standalone +
             cuda_link + ["-ldl", "-lrt", "-lpthread", "-Wl,--no-undefined"],
             CUDA_KERNELS_LIBRARY, standalone, args.verbose)

  objs = kernel_objs + tf_objs + cuda_objs
  run_step("link " + os.path.relpath(OPS_LIBRARY, ROOT),
           ["g++", "-shared", "-o", OPS_LIBRARY] + objs + cuda_link +
           tf_lflags + ["-ldl", "-lrt", "-lpthread", "-Wl,--no-undefined"],
           OPS_LIBRARY, objs, args.verbose)
  with open(STAMP, "w") as f:
    f.write(config)
  log("done: %s, %s" % (os.path.relpath(OPS_LIBRARY, ROOT),
                        os.path.relpath(KERNELS_LIBRARY, ROOT)))


if __name__ == "__main__":
  main()
