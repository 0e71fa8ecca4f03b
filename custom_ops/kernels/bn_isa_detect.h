// What the CPU and its OS support, for the choice of instruction-set level
// (bn_dispatch.cc). Compiled once, for the baseline.
#ifndef TF_BN_COMPAT_KERNELS_BN_ISA_DETECT_H_
#define TF_BN_COMPAT_KERNELS_BN_ISA_DETECT_H_

namespace bn {
namespace detect {

// AVX2, FMA and F16C, with the OS saving the YMM registers.
bool CpuHasAvx2();

// CpuHasAvx2() plus AVX-512 F, BW, DQ and VL, with the OS saving the opmask
// and ZMM registers.
bool CpuHasAvx512();

}  // namespace detect
}  // namespace bn

#endif  // TF_BN_COMPAT_KERNELS_BN_ISA_DETECT_H_
