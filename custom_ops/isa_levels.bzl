# Compile flags of the framework-free CPU kernels, read by BUILD and by
# custom_ops/build.py (as Python literals: keep both plain lists of strings).
#
# Every custom_ops/kernels/bn_cpu_*.cc is compiled once per level of
# ISA_LEVELS, (name, flags), with KERNEL_FLAGS, the level's flags and
# -DBN_ISA=<name>; the other kernel sources (the dispatch, compiled once,
# with KERNEL_FLAGS only: the baseline) pick a level at run time (see
# custom_ops/kernels/bn_isa.h).

# Only MulAdd fuses a product and a sum (custom_ops/kernels/bn_fma.h).
KERNEL_FLAGS = ["-ffp-contract=off"]

ISA_LEVELS = [
    # -Wno-psabi: GCC notes that a 32-byte vector passed by value without AVX
    # differs from AVX code; no call crosses levels, so it does not apply.
    ("baseline", ["-Wno-psabi"]),
    ("avx2", ["-mavx2", "-mfma", "-mf16c"]),
    ("avx512", [
        "-mavx512f",
        "-mavx512bw",
        "-mavx512dq",
        "-mavx512vl",
        "-mavx2",
        "-mfma",
        "-mf16c",
    ]),
]
