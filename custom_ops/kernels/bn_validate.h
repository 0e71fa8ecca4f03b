// Argument checks shared by the CPU and CUDA entry points (host code only).
#ifndef TF_BN_COMPAT_KERNELS_BN_VALIDATE_H_
#define TF_BN_COMPAT_KERNELS_BN_VALIDATE_H_

#include <stdint.h>

#include "bn_kernels.h"

namespace bn {

// Checks sizes, layout and dtype; *elements receives n * c * s.
inline int CheckShape(int dtype, int layout, int64_t n, int64_t c, int64_t s,
                      int64_t* elements) {
  if (layout != BN_LAYOUT_CHANNELS_LAST && layout != BN_LAYOUT_CHANNELS_FIRST) {
    return BN_ERR_BAD_LAYOUT;
  }
  if (dtype != BN_DTYPE_F32 && dtype != BN_DTYPE_F16 && dtype != BN_DTYPE_BF16) {
    return BN_ERR_BAD_DTYPE;
  }
  if (n < 0 || c < 0 || s < 0) return BN_ERR_BAD_SIZE;
  int64_t ns = 0, total = 0;
  if (__builtin_mul_overflow(n, s, &ns) || __builtin_mul_overflow(ns, c, &total)) {
    return BN_ERR_BAD_SIZE;
  }
  // Byte offsets must fit too (4 bytes per element at most).
  if (total > INT64_MAX / 4) return BN_ERR_BAD_SIZE;
  *elements = total;
  return BN_OK;
}

// epsilon and exponential_avg_factor are not checked: as TensorFlow's
// FusedBatchNormV3, the kernels take any float and IEEE arithmetic carries a
// NaN or Inf into the results.

inline int DtypeBytes(int dtype) { return dtype == BN_DTYPE_F32 ? 4 : 2; }

}  // namespace bn

#endif  // TF_BN_COMPAT_KERNELS_BN_VALIDATE_H_
