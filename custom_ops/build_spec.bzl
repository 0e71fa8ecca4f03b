"""The op library's one build definition: its sources and flags.

Data only (literal lists and dicts, no calls), so that both front ends read
the same file: Bazel's BUILD loads it, and the Python build
(tf_bn_compat/build: custom_ops/build.py, `python -m tf_bn_compat.build` and
the first-use build of an installed package) reads its assignments with
ast.literal_eval. Paths are relative to the directory holding custom_ops/: the
repository root, or tf_bn_compat/_src/ inside an installed package (setup.py
ships exactly the files listed here). Flags that depend on the installed
TensorFlow (include path, C++ ABI, framework library) come from tf.sysconfig.
"""

# Framework-free CPU kernels (C ABI in bn_kernels.h), compiled once per CPU
# ISA level of CPU_ISA_LEVELS.
KERNEL_SRCS = [
    "custom_ops/kernels/bn_cpu_backward.cc",
    "custom_ops/kernels/bn_cpu_forward.cc",
    "custom_ops/kernels/bn_cpu_stats.cc",
    "custom_ops/kernels/bn_cpu_transform.cc",
]

# Framework-free CPU sources compiled once, with baseline flags only: the
# dispatch over the ISA levels (custom_ops/kernels/bn_isa.h), the status texts
# and the streaming-store policy.
KERNEL_BASELINE_SRCS = [
    "custom_ops/kernels/bn_dispatch.cc",
    "custom_ops/kernels/bn_isa_detect.cc",
    "custom_ops/kernels/bn_status.cc",
    "custom_ops/kernels/bn_stream_policy.cc",
]

KERNEL_HDRS = [
    "custom_ops/kernels/bn_affine.h",
    "custom_ops/kernels/bn_cpu_blocks.h",
    "custom_ops/kernels/bn_cpu_levels.h",
    "custom_ops/kernels/bn_cpu_scratch.h",
    "custom_ops/kernels/bn_cpu_stream.h",
    "custom_ops/kernels/bn_dtype.h",
    "custom_ops/kernels/bn_fma.h",
    "custom_ops/kernels/bn_host_device.h",
    "custom_ops/kernels/bn_intrinsics.h",
    "custom_ops/kernels/bn_isa.h",
    "custom_ops/kernels/bn_isa_detect.h",
    "custom_ops/kernels/bn_kernels.h",
    "custom_ops/kernels/bn_merge.h",
    "custom_ops/kernels/bn_validate.h",
    "custom_ops/kernels/bn_vec.h",
    "custom_ops/kernels/bn_vec8.h",
]

# How KERNEL_SRCS are compiled: once per level, with the level's copts and
# defines (-D), each level in its own C++ namespace (bn_isa.h); the baseline
# sources pick a level at run time by CPUID, or as TF_BN_COMPAT_ISA says. A
# level with host_only=True would be built only where the building machine's
# CPU has its cpu_features; all three are built everywhere, so one library
# runs on any x86-64 CPU.
CPU_ISA_LEVELS = [
    {
        "name": "baseline",
        # GCC notes that a 32-byte vector passed by value without AVX differs
        # from AVX code; no call crosses levels, so it does not apply.
        "copts": ["-Wno-psabi"],
        "defines": ["BN_ISA=baseline"],
        "cpu_features": [],
        "host_only": False,
    },
    {
        "name": "avx2",
        "copts": ["-mavx2", "-mfma", "-mf16c"],
        "defines": ["BN_ISA=avx2"],
        "cpu_features": ["avx2", "fma", "f16c"],
        "host_only": False,
    },
    {
        "name": "avx512",
        "copts": ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl",
                  "-mavx2", "-mfma", "-mf16c"],
        "defines": ["BN_ISA=avx512"],
        "cpu_features": ["avx512f", "avx512bw", "avx512dq", "avx512vl"],
        "host_only": False,
    },
]

# CUDA kernels (nvcc; built only when nvcc is found).
CUDA_SRCS = ["custom_ops/kernels/bn_cuda.cu"]

# The TensorFlow side: op registrations and OpKernel adapters.
TF_SRCS = [
    "custom_ops/ops/bn_ops.cc",
    "custom_ops/tf_adapters/fused_batch_norm_kernels.cc",
    "custom_ops/tf_adapters/stock_kernels.cc",
]

TF_HDRS = [
    "custom_ops/tf_adapters/attr_checks.h",
    "custom_ops/tf_adapters/fused_batch_norm_common.h",
]

TF_GPU_SRCS = ["custom_ops/tf_adapters/fused_batch_norm_kernels_gpu.cc"]

# The library's build information (TensorFlow version, ABI, ...), compiled
# from the define TF_BN_COMPAT_BUILD_INFO; the Python side reads it from the
# file's bytes without loading the library.
BUILD_INFO_SRCS = ["custom_ops/ops/build_info.cc"]

# Every C++ compile.
COPTS = ["-O3", "-fPIC", "-std=c++17"]

# The framework-free kernels.
# Only MulAdd fuses a product and a sum (custom_ops/kernels/bn_fma.h).
KERNEL_COPTS = ["-Wall", "-ffp-contract=off"]

# Sources that include TensorFlow's headers (which print hundreds of
# deprecation warnings otherwise).
TF_SRC_COPTS = ["-Wno-deprecated-declarations", "-Wno-interference-size"]

TF_GPU_DEFINES = ["GOOGLE_CUDA=1", "EIGEN_USE_GPU"]

NVCC_COPTS = ["-O3", "-std=c++17", "-Xcompiler", "-fPIC"]

# sm_80 (A100) and sm_90 (H100/H200) machine code plus compute_90 PTX for
# newer GPUs; more targets multiply the nvcc time.
CUDA_ARCH_FLAGS = [
    "-gencode=arch=compute_80,code=sm_80",
    "-gencode=arch=compute_90,code=[sm_90,compute_90]",
]

# Static CUDA runtime, linked BEFORE the TensorFlow framework library, whose
# own cuda* forwarding symbols would otherwise capture our calls.
CUDA_LINKOPTS = ["-lcudart_static", "-Wl,--exclude-libs,libcudart_static.a"]

LINKOPTS = ["-Wl,--no-undefined"]

KERNEL_LINKOPTS = ["-lm"]

SYSTEM_LIBS = ["-ldl", "-lrt", "-lpthread"]
