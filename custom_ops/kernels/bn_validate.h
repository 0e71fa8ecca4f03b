// Argument checks shared by the CPU and CUDA entry points (host code only).
#ifndef TF_BN_COMPAT_KERNELS_BN_VALIDATE_H_
#define TF_BN_COMPAT_KERNELS_BN_VALIDATE_H_

#include <math.h>
#include <stdint.h>

#include "bn_isa.h"
#include "bn_kernels.h"

BN_ISA_BEGIN

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

inline int CheckEpsilon(float epsilon) {
  return (isfinite(epsilon) && epsilon >= 0.0f) ? BN_OK : BN_ERR_BAD_EPSILON;
}

// The checks every kernel entry point taking epsilon starts with, in order:
// shape (layout, dtype, sizes), then epsilon. *elements as CheckShape.
inline int CheckCall(int dtype, int layout, int64_t n, int64_t c, int64_t s,
                     float epsilon, int64_t* elements) {
  const int status = CheckShape(dtype, layout, n, c, s, elements);
  return status != BN_OK ? status : CheckEpsilon(epsilon);
}

// CheckCall plus the forward's exponential_avg_factor, which must be finite.
inline int CheckForwardCall(int dtype, int layout, int64_t n, int64_t c,
                            int64_t s, float epsilon, float factor,
                            int64_t* elements) {
  const int status = CheckCall(dtype, layout, n, c, s, epsilon, elements);
  if (status != BN_OK) return status;
  return isfinite(factor) ? BN_OK : BN_ERR_BAD_FACTOR;
}

inline int DtypeBytes(int dtype) { return dtype == BN_DTYPE_F32 ? 4 : 2; }

BN_ISA_END

#endif  // TF_BN_COMPAT_KERNELS_BN_VALIDATE_H_
