"""Repository rule exposing the installed TensorFlow (and CUDA, if found).

Runs $PYTHON_BIN_PATH (default python3) to read tf.sysconfig, symlinks the
header directory and libtensorflow_framework.so.2 into the repository and
defines
  :tf_header_lib               headers + TF's compile defines (incl. the ABI)
  :libtensorflow_framework     the shared framework library
  :cudart_static, :cuda_headers  CUDA's static runtime and headers (only when
                               nvcc is found)
and a build_defs.bzl with TF_COPTS, TF_VERSION, CUDA_ENABLED and NVCC.
"""

_SCRIPT = """
import tensorflow as tf
print(tf.sysconfig.get_include())
print(tf.sysconfig.get_lib())
print(' '.join(tf.sysconfig.get_compile_flags()))
print(tf.version.VERSION)
"""

def _tf_configure_impl(rctx):
    python = rctx.os.environ.get("PYTHON_BIN_PATH") or str(rctx.which("python3"))
    result = rctx.execute([python, "-c", _SCRIPT], environment = {"TF_CPP_MIN_LOG_LEVEL": "3"})
    if result.return_code != 0:
        fail("tf_configure: %s could not import tensorflow:\n%s" % (python, result.stderr))
    lines = result.stdout.strip().split("\n")
    include, lib, cflags, version = lines[-4], lines[-3], lines[-2].split(" "), lines[-1]
    rctx.symlink(include, "include")
    rctx.symlink(lib + "/libtensorflow_framework.so.2", "libtensorflow_framework.so.2")

    defines = [f[2:] for f in cflags if f.startswith("-D")]
    copts = [f for f in cflags if not f.startswith("-D") and not f.startswith("-I")]

    cuda_home = rctx.os.environ.get("CUDA_HOME", "/usr/local/cuda")
    nvcc = rctx.which("nvcc")
    if nvcc == None and rctx.path(cuda_home + "/bin/nvcc").exists:
        nvcc = rctx.path(cuda_home + "/bin/nvcc")
    cudart = rctx.path(cuda_home + "/lib64/libcudart_static.a")
    cuda_enabled = nvcc != None and cudart.exists
    build = """
package(default_visibility = ["//visibility:public"])

cc_library(
    name = "tf_header_lib",
    hdrs = glob(["include/**"]),
    includes = ["include"],
    defines = %s,
)

cc_library(
    name = "libtensorflow_framework",
    srcs = ["libtensorflow_framework.so.2"],
)
""" % repr(defines)
    if cuda_enabled:
        rctx.symlink(cudart, "cuda/libcudart_static.a")
        rctx.symlink(cuda_home + "/include", "cuda/include")
        build += """
cc_library(
    name = "cuda_headers",
    hdrs = glob(["cuda/include/**"]),
    includes = ["cuda/include"],
)

cc_import(
    name = "cudart_static",
    static_library = "cuda/libcudart_static.a",
)
"""
    rctx.file("BUILD", build)
    rctx.file("build_defs.bzl", "\n".join([
        "TF_COPTS = %s" % repr(copts),
        "TF_VERSION = %s" % repr(version),
        "CUDA_ENABLED = %s" % cuda_enabled,
        "NVCC = %s" % repr(str(nvcc) if nvcc else ""),
        "",
    ]))

tf_configure = repository_rule(
    implementation = _tf_configure_impl,
    environ = ["PYTHON_BIN_PATH", "CUDA_HOME", "PATH"],
    local = True,
)
