// bn_status_string (see bn_kernels.h); compiled once, for the baseline.
#include "bn_kernels.h"

extern "C" const char* bn_status_string(int status) {
  switch (status) {
    case BN_OK: return "ok";
    case BN_ERR_NULL_POINTER: return "a required pointer is NULL";
    case BN_ERR_BAD_SIZE: return "negative or overflowing size";
    case BN_ERR_BAD_LAYOUT: return "unknown layout";
    case BN_ERR_BAD_DTYPE: return "unknown dtype";
    case BN_ERR_BAD_EPSILON: return "epsilon must be finite and >= 0";
    case BN_ERR_BAD_FACTOR: return "exponential_avg_factor must be finite";
    case BN_ERR_OUT_OF_MEMORY: return "out of host memory";
    case BN_ERR_CUDA: return "CUDA launch failed";
    case BN_ERR_ISA_UNKNOWN:
      return "TF_BN_COMPAT_ISA is not one of auto, baseline, avx2, avx512";
    case BN_ERR_ISA_UNSUPPORTED:
      return "TF_BN_COMPAT_ISA names an instruction-set level this CPU does "
             "not support";
    default: return "unknown status";
  }
}
