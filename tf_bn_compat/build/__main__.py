"""Builds the op library ahead of time: `python -m tf_bn_compat.build`.

By default into the per-user cache, exactly as the first use would (so the
first use then costs nothing); with --output, into a file of your choice, to
be named by TF_BN_COMPAT_OPS_LIBRARY. Prints the library's path.
"""

import argparse
import os
import shutil
import sys
import tempfile

from tf_bn_compat.build import build_info
from tf_bn_compat.build import cache
from tf_bn_compat.build import library
from tf_bn_compat.build import spec as spec_lib
from tf_bn_compat.build import toolchain


def _progress(message):
  print("[build] " + message, flush=True)


def _build_to(path, args):
  """Builds the op library at path; returns its build information."""
  root = spec_lib.source_root()
  if root is None:
    raise cache.Unavailable("this copy of tf_bn_compat has no op sources")
  spec = spec_lib.load(root)
  tf_flags = toolchain.tensorflow_flags()
  cxx = toolchain.cxx_command()
  work = tempfile.mkdtemp(prefix="tf_bn_compat_build_")
  try:
    output = os.path.join(work, os.path.basename(path))
    result = library.build_library(
        root, spec, work, library.Outputs(output), tf_flags, cxx,
        nvcc=None if args.no_cuda else toolchain.find_nvcc(),
        jobs=args.jobs or cache.default_jobs(), builder="tf_bn_compat.build",
        sources_hash=cache.sources_hash(root, spec),
        progress=_progress,
        sink=(lambda cmd, out: print(" ".join(cmd) + "\n" + out)
              if args.verbose else None))
    if result.cuda_error:
      _progress(result.cuda_error.splitlines()[0] +
                "; built without CUDA kernels")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    shutil.move(output, path + ".tmp")
    os.replace(path + ".tmp", path)
  finally:
    shutil.rmtree(work, ignore_errors=True)


def main(argv=None):
  parser = argparse.ArgumentParser(
      prog="python -m tf_bn_compat.build", description=__doc__.splitlines()[0])
  parser.add_argument("--output", help="build the library at this path "
                      "instead of the cache")
  parser.add_argument("--force", action="store_true",
                      help="rebuild a cached library (and retry a failed "
                      "build)")
  parser.add_argument("--no-cuda", action="store_true", help="skip nvcc")
  parser.add_argument("--jobs", type=int, help="compiles at once")
  parser.add_argument("--verbose", action="store_true",
                      help="print every command and its output")
  args = parser.parse_args(argv)
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  try:
    if args.output:
      path = os.path.abspath(args.output)
      _build_to(path, args)
    else:
      tf_flags = toolchain.tensorflow_flags()
      path = cache.ensure_library(
          tf_flags.version, tf_flags.abi, force=args.force,
          cuda=not args.no_cuda, jobs=args.jobs, announce=_progress,
          progress=_progress)
  except (cache.Unavailable, toolchain.Missing, library.BuildFailed,
          OSError) as e:
    sys.exit("python -m tf_bn_compat.build: cannot build the op: %s" % e)
  info = build_info.read(path)
  print("build info: " + " ".join("%s=%s" % kv for kv in sorted(info.items())))
  print(path)


if __name__ == "__main__":
  main()
