"""Builds the custom-op library of this source tree without Bazel.

Usage: .venv/bin/python custom_ops/build.py [--force] [--no-cuda]
                                            [--kernels-only] [--verbose]

Produces
  tf_bn_compat/ops/_tf_bn_compat_ops.so  the TensorFlow op library (CPU
                                         kernels, plus CUDA kernels when nvcc
                                         is found);
  build/libbn_kernels.so                 the framework-free CPU kernels (C ABI
                                         of custom_ops/kernels/bn_kernels.h);
  build/libbn_kernels_cuda.so            the same with the CUDA launchers
                                         (when nvcc is found).
--kernels-only builds the last two only. Objects go to build/obj/. Work is
skipped when outputs are newer than their inputs and were built with the same
command, so a repeated run costs well under a second (TensorFlow is only
imported when something must be rebuilt).

A thin front end: the sources and flags are in custom_ops/build_spec.bzl, the
build in tf_bn_compat/build/ (which also builds an installed package's op at
first use).
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# pylint: disable=g-import-not-at-top,wrong-import-position
from tf_bn_compat.build import cache
from tf_bn_compat.build import library
from tf_bn_compat.build import spec as spec_lib
from tf_bn_compat.build import toolchain

BUILD = os.path.join(ROOT, "build")
DEFAULT_OPS_LIBRARY = os.path.join(ROOT, "tf_bn_compat", "ops",
                                   "_tf_bn_compat_ops.so")
# TF_BN_COMPAT_OPS_LIBRARY (also read by the loader) moves the op library, and
# this build's objects beside it: one build per TensorFlow version.
OPS_LIBRARY = os.path.abspath(
    os.environ.get("TF_BN_COMPAT_OPS_LIBRARY") or DEFAULT_OPS_LIBRARY)
WORK = (BUILD if OPS_LIBRARY == DEFAULT_OPS_LIBRARY
        else os.path.dirname(OPS_LIBRARY))
KERNELS_LIBRARY = os.path.join(BUILD, "libbn_kernels.so")
CUDA_KERNELS_LIBRARY = os.path.join(BUILD, "libbn_kernels_cuda.so")
STAMP = os.path.join(WORK, "build_config.txt")


def log(msg):
  print("[build] " + msg, flush=True)


def config_text(spec, nvcc, kernels_only):
  """What the outputs depend on, for the fast up-to-date check."""
  framework = os.path.join(toolchain.tensorflow_location(),
                           "libtensorflow_framework.so.2")
  levels = [level["name"] for level in toolchain.isa_levels(spec)]
  return "cuda=%d\nkernels_only=%d\ntf=%s %s\nisa=%s\nsources=%s\n" % (
      nvcc is not None, kernels_only, framework, os.path.getmtime(framework),
      ",".join(levels), cache.sources_hash(ROOT, spec))


def _sink(verbose):
  def sink(cmd, output):
    if verbose:
      log(" ".join(cmd))
    if output.strip():
      print(output.rstrip(), flush=True)
  return sink


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--force", action="store_true", help="rebuild everything")
  parser.add_argument("--no-cuda", action="store_true", help="skip nvcc")
  parser.add_argument("--kernels-only", action="store_true",
                      help="only the framework-free kernel libraries")
  parser.add_argument("--verbose", action="store_true", help="print commands")
  args = parser.parse_args()

  spec = spec_lib.load(ROOT)
  nvcc = None if args.no_cuda else toolchain.find_nvcc()
  try:
    config = config_text(spec, nvcc, args.kernels_only)
  except toolchain.Missing as e:
    sys.exit("[build] %s (%s)" % (e, sys.executable))
  ops_library = None if args.kernels_only else OPS_LIBRARY
  outputs = library.Outputs(ops_library, KERNELS_LIBRARY,
                            CUDA_KERNELS_LIBRARY)
  wanted = [p for p in outputs if p and (nvcc or p != CUDA_KERNELS_LIBRARY)]
  shown = ", ".join(os.path.relpath(p, ROOT) for p in wanted[:2])
  if (not args.force and os.path.exists(STAMP) and open(STAMP).read() == config
      and all(os.path.exists(path) for path in wanted)):
    log("up to date: " + shown)
    return

  log("reading compile flags from tf.sysconfig")
  try:
    tf_flags = toolchain.tensorflow_flags()
    cxx = toolchain.cxx_command()
  except toolchain.Missing as e:
    sys.exit("[build] " + str(e))
  levels = toolchain.isa_levels(spec)
  log("CPU ISA levels: %s; CUDA: %s" % (
      ", ".join("%s (%s)" % (l["name"], " ".join(l["copts"]) or "no flags")
                for l in levels), nvcc or "not found, CPU only"))
  try:
    result = library.build_library(
        ROOT, spec, WORK, outputs, tf_flags, cxx, nvcc=nvcc,
        jobs=cache.default_jobs(), incremental=not args.force,
        builder="custom_ops/build.py", sources_hash=cache.sources_hash(
            ROOT, spec), progress=log, sink=_sink(args.verbose))
  except library.BuildFailed as e:
    sys.exit("[build] FAILED: %s" % e)
  if result.cuda_error:
    log("%s; built without CUDA kernels" % result.cuda_error.splitlines()[0])
  with open(STAMP, "w") as f:
    f.write(config)
  log("done: " + shown)


if __name__ == "__main__":
  main()
