// The CPU entry points of each instruction-set level (see bn_isa.h):
// bn_cpu_stats_avx2 has the signature of bn_cpu_stats, and so on. They work
// as the unsuffixed functions of bn_kernels.h, but must only be called on a
// CPU with the level (bn_cpu_isa_supported() lists those); the unsuffixed
// ones (bn_dispatch.cc) pick the level.
#ifndef TF_BN_COMPAT_KERNELS_BN_CPU_LEVELS_H_
#define TF_BN_COMPAT_KERNELS_BN_CPU_LEVELS_H_

#include "bn_kernels.h"

#define BN_DECLARE_CPU_LEVEL(level)                     \
  extern "C" {                                          \
  decltype(bn_cpu_stats) bn_cpu_stats_##level;          \
  decltype(bn_cpu_inv_std) bn_cpu_inv_std_##level;      \
  decltype(bn_cpu_transform) bn_cpu_transform_##level;  \
  decltype(bn_cpu_forward) bn_cpu_forward_##level;      \
  decltype(bn_cpu_backward) bn_cpu_backward_##level;    \
  }

BN_DECLARE_CPU_LEVEL(baseline)
BN_DECLARE_CPU_LEVEL(avx2)
BN_DECLARE_CPU_LEVEL(avx512)

#undef BN_DECLARE_CPU_LEVEL

#endif  // TF_BN_COMPAT_KERNELS_BN_CPU_LEVELS_H_
