"""Compiles and links the op library from the build spec.

`build_library` turns custom_ops/build_spec.bzl into compiler commands (the
kernels once per CPU ISA level), runs the compiles `jobs` at a time, then the
links: the TensorFlow op library and, on request, the framework-free kernel
libraries that the ctypes tests and benchmarks load. A failing CUDA compile
drops the CUDA kernels (the library is then CPU-only, and says so in its build
information); any other failure raises `BuildFailed`.
"""

import collections
import concurrent.futures
import dataclasses
import os
import subprocess
import time

from . import build_info
from . import toolchain


@dataclasses.dataclass(eq=False)  # Hashed by identity.
class Step:
  what: str
  cmd: list
  output: str
  inputs: list


Outputs = collections.namedtuple(
    "Outputs", ["ops_library", "kernels_library", "cuda_kernels_library"])
Outputs.__new__.__defaults__ = (None, None)

BuildResult = collections.namedtuple("BuildResult",
                                     ["info", "cuda", "cuda_error"])


class BuildFailed(Exception):
  """A compile or link failed; the message names the step and the output."""


def _mtime(path):
  return os.path.getmtime(path) if os.path.exists(path) else -1.0


class _Runner:
  """Runs steps, skipping (when incremental) those whose output is current."""

  def __init__(self, root, work_dir, jobs, incremental, progress, sink):
    self.root, self.jobs, self.incremental = root, max(1, jobs), incremental
    self.records = os.path.join(work_dir, "cmd")
    self.progress = progress or (lambda msg: None)
    self.sink = sink or (lambda cmd, output: None)

  def _record(self, step):
    name = os.path.abspath(step.output).strip(os.sep).replace(os.sep, "_")
    return os.path.join(self.records, name + ".cmd")

  def _current(self, step):
    record = self._record(step)
    if not (os.path.exists(step.output) and os.path.exists(record)):
      return False
    with open(record) as f:
      same_command = f.read() == "\n".join(step.cmd)
    return same_command and _mtime(step.output) >= max(
        map(_mtime, step.inputs))

  def run(self, step):
    """Runs one step; returns None, or the compiler's output on failure."""
    if self.incremental and self._current(step):
      self.progress("up to date: " + step.what)
      return None
    os.makedirs(os.path.dirname(step.output), exist_ok=True)
    start = time.time()
    try:
      result = subprocess.run(step.cmd, cwd=self.root, capture_output=True,
                              text=True, check=False)
      output, failed = result.stdout + result.stderr, result.returncode != 0
    except OSError as e:
      output, failed = str(e), True
    self.sink(step.cmd, output)
    if failed:
      return output or "(no output)"
    os.makedirs(self.records, exist_ok=True)
    with open(self._record(step), "w") as f:
      f.write("\n".join(step.cmd))
    self.progress("%s (%.1f s)" % (step.what, time.time() - start))
    return None

  def run_all(self, steps):
    """Runs steps concurrently; returns {step: failure output} of failures."""
    with concurrent.futures.ThreadPoolExecutor(self.jobs) as pool:
      futures = {step: pool.submit(self.run, step) for step in steps}
    return {step: f.result() for step, f in futures.items() if f.result()}


def _failure(step, output):
  """BuildFailed: "<step> failed: <first error line>", then the output's end."""
  lines = output.strip().splitlines() or ["(no output)"]
  first = next((l for l in lines if "error" in l.lower()), lines[0])
  return BuildFailed("%s failed: %s\n%s" % (step.what, first.strip(),
                                             "\n".join(lines[-15:])))


class _Plan:
  """The compile and link commands of one build."""

  def __init__(self, root, spec, work_dir, cxx, tf_flags, nvcc, isa_levels):
    self.root, self.spec, self.cxx, self.tf, self.nvcc = (root, spec, cxx,
                                                          tf_flags, nvcc)
    self.obj_dir = os.path.join(work_dir, "obj")
    self.isa_levels = isa_levels
    self.headers = [os.path.join(root, h) for h in
                    spec["KERNEL_HDRS"] + spec["TF_HDRS"]]
    self.abi = [f for f in tf_flags.cflags
                if f.startswith("-D_GLIBCXX_USE_CXX11_ABI")]
    self.base = cxx + spec["COPTS"] + ["-I" + root]

  def _compile(self, src, variant, cmd_head):
    obj = os.path.join(self.obj_dir, variant, src.replace("/", "_") + ".o")
    return Step("compile %s%s" % (src, "" if variant in ("tf", "cpu") else
                                  " [%s]" % variant),
                cmd_head + ["-c", src, "-o", obj], obj,
                [os.path.join(self.root, src)] + self.headers)

  def kernel_compiles(self):
    """One compile per kernel source and ISA level, plus the baseline ones."""
    steps = []
    for level in self.isa_levels:
      head = (self.base + list(level["copts"]) +
              ["-D" + d for d in level["defines"]] + self.abi +
              self.spec["KERNEL_COPTS"])
      steps += [self._compile(src, "cpu-" + level["name"], head)
                for src in self.spec["KERNEL_SRCS"]]
    head = self.base + self.abi + self.spec["KERNEL_COPTS"]
    steps += [self._compile(src, "cpu", head)
              for src in self.spec["KERNEL_BASELINE_SRCS"]]
    return steps

  def _tf_head(self):
    return self.base + self.tf.cflags + self.spec["TF_SRC_COPTS"]

  def tf_compiles(self):
    return [self._compile(src, "tf", self._tf_head())
            for src in self.spec["TF_SRCS"]]

  def cuda_compiles(self):
    """(framework-free nvcc compiles, TF GPU adapter compiles)."""
    host = ["-ccbin", self.cxx[0]] if os.environ.get(toolchain.CXX_ENV) else []
    nvcc = ([self.nvcc] + self.spec["NVCC_COPTS"] + host + ["-I" + self.root] +
            self.spec["CUDA_ARCH_FLAGS"])
    gpu = (self._tf_head() + ["-D" + d for d in self.spec["TF_GPU_DEFINES"]] +
           ["-I" + os.path.join(toolchain.cuda_home(), "include")])
    return ([self._compile(s, "cuda", nvcc) for s in self.spec["CUDA_SRCS"]],
            [self._compile(s, "tf_gpu", gpu) for s in self.spec["TF_GPU_SRCS"]])

  def info_compile(self, info):
    head = self.base + self.abi + ['-DTF_BN_COMPAT_BUILD_INFO="%s"' % info]
    return [self._compile(src, "info", head)
            for src in self.spec["BUILD_INFO_SRCS"]]

  def link(self, output, objs, libs):
    what = "link " + (os.path.relpath(output, self.root)
                      if output.startswith(self.root + os.sep) else output)
    return Step(what, self.cxx + ["-shared", "-o", output] + objs + libs +
                self.spec["LINKOPTS"], output, objs)

  def cuda_libs(self):
    return (["-L" + os.path.join(toolchain.cuda_home(), "lib64")] +
            self.spec["CUDA_LINKOPTS"])


def _outputs(steps):
  return [s.output for s in steps]


def build_library(root, spec, work_dir, outputs, tf_flags, cxx, nvcc=None,
                  jobs=2, incremental=False, builder="tf_bn_compat.build",
                  sources_hash="", progress=None, sink=None):
  """Builds the op library (and optionally the kernel libraries).

  Args:
    root: The directory holding custom_ops/ (compiles run there).
    spec: The loaded build spec.
    work_dir: Directory for objects and command records.
    outputs: An `Outputs`: the paths of the op library and of the kernel
      libraries (None: not built).
    tf_flags: A `toolchain.TensorFlowFlags`.
    cxx: The C++ compiler command (list).
    nvcc: nvcc's path, or None for a CPU-only build.
    jobs: Compiles run at once.
    incremental: Skip steps whose output is newer than its inputs and was
      made by the same command.
    builder: Recorded in the build information.
    sources_hash: Recorded in the build information.
    progress: Called with one line per step (or None).
    sink: Called with each command (list) and its compiler output (or None).

  Returns:
    A `BuildResult`: the build information string, whether CUDA kernels are
    in, and why not when nvcc failed.

  Raises:
    BuildFailed: if a compile (other than CUDA) or a link fails.
  """
  levels = toolchain.isa_levels(spec)
  plan = _Plan(root, spec, work_dir, cxx, tf_flags, nvcc, levels)
  runner = _Runner(root, work_dir, jobs, incremental, progress, sink)
  with_ops = outputs.ops_library is not None
  kernels = plan.kernel_compiles()
  tf_side = plan.tf_compiles() if with_ops else []
  cuda, tf_gpu = plan.cuda_compiles() if nvcc else ([], [])
  tf_gpu = tf_gpu if with_ops else []
  failures = runner.run_all(kernels + tf_side + cuda + tf_gpu)
  for step in kernels + tf_side:
    if step in failures:
      raise _failure(step, failures[step])
  cuda_error = next((_failure(s, failures[s]) for s in cuda + tf_gpu
                     if s in failures), None)
  with_cuda = bool(nvcc) and cuda_error is None
  info = build_info.format_fields(
      tf=tf_flags.version, isa=",".join(l["name"] for l in levels),
      cuda=int(with_cuda), sources=sources_hash[:16] or "unknown",
      cxx=toolchain.compiler_id(cxx), builder=builder)
  info_objs = plan.info_compile(info) if with_ops else []
  links = []
  if outputs.kernels_library:
    links.append(plan.link(outputs.kernels_library, _outputs(kernels),
                           spec["KERNEL_LINKOPTS"]))
  cuda_libs = plan.cuda_libs() if with_cuda else []
  if with_cuda and outputs.cuda_kernels_library:
    links.append(plan.link(outputs.cuda_kernels_library,
                           _outputs(kernels + cuda),
                           cuda_libs + spec["SYSTEM_LIBS"]))
  if with_ops:
    objs = _outputs(kernels + tf_side + info_objs +
                    (cuda + tf_gpu if with_cuda else []))
    links.append(plan.link(outputs.ops_library, objs, cuda_libs +
                           tf_flags.lflags + spec["SYSTEM_LIBS"]))
  for step in info_objs + links:  # In order: a link needs the objects.
    failure = runner.run(step)
    if failure:
      raise _failure(step, failure)
  return BuildResult(info=info, cuda=with_cuda,
                     cuda_error=str(cuda_error) if cuda_error else None)
